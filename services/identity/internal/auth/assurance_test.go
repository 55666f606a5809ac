package auth

import (
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

func TestAssure(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 0, 500, time.UTC)
	for _, tc := range []struct {
		methods []string
		amr     []string
		acr     string
	}{
		{[]string{AMRPassword}, []string{"pwd"}, ACRSingleFactor},
		{[]string{AMRPassword, AMRPassword}, []string{"pwd"}, ACRSingleFactor},
		{[]string{AMRPassword, AMRSMS}, []string{"pwd", "sms", "mfa"}, ACRMultiFactor},
		{[]string{AMRPassword, AMROTP}, []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		{[]string{AMROTP, AMRSMS}, []string{"otp", "sms"}, ACRSingleFactor}, // two codes: one kind of factor
		{[]string{AMRFederated}, []string{"fed"}, ACRSingleFactor},
		{[]string{AMRSoftwareKey, AMRUser}, []string{"swk", "user", "mfa"}, ACRMultiFactor},
		{[]string{AMRHardwareKey, AMRUser}, []string{"hwk", "user", "mfa"}, ACRHardwareKey},
		{[]string{AMRHardwareKey}, []string{"hwk"}, ACRSingleFactor},
	} {
		got := assure(at, tc.methods...)
		if !slices.Equal(got.AMR, tc.amr) || got.ACR != tc.acr {
			t.Errorf("assure(%v) = %v %s, want %v %s", tc.methods, got.AMR, got.ACR, tc.amr, tc.acr)
		}
		if !got.AuthTime.Equal(at.Truncate(time.Second)) {
			t.Errorf("auth_time %v", got.AuthTime)
		}
	}
	if codeAMR("sms") != AMRSMS || codeAMR(events.ChannelSMS) != AMRSMS || codeAMR(events.ChannelSMSAndWhatsApp) != AMRSMS ||
		codeAMR("email") != AMROTP || codeAMR(events.ChannelEmail) != AMROTP || codeAMR("whatsapp") != AMROTP {
		t.Error("codeAMR")
	}
}
