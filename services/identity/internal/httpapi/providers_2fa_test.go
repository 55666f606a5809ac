package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// A provider sign-in is one factor: an account with 2FA on gets the password login's two_factor
// challenge, and only the code (verify-2fa) starts a session and trusts the device.
func TestOAuthSignInWithTwoFactor(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := newHarness(t, withGoogle(iss), noCooldown)
	ada := h.signUp(t, "ada@example.com")
	h.callAs(t, "POST", "/api/v1/auth/account-providers", ada.token, map[string]any{"provider": "google", "id_token": idToken(t, iss, "g-ada", "")}).wantStatus(t, http.StatusCreated, "link")
	h.authed(t, "POST", "/api/v1/account/2fa/enable", ada.token, map[string]any{"password": goodPassword}).wantStatus(t, http.StatusOK, "enable 2FA")

	tests := []struct {
		name       string
		deviceID   string
		wantTrust  bool // the device is trusted after verify-2fa
		wantNewDev bool // and the owner gets a new-device alert
	}{
		{"new device", "tablet", true, true},
		{"trusted device still needs the code", "laptop", true, false},
		{"no device id", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alertsBefore := countAlerts(h.securityAlerts(t, ada.id), events.AlertNewDeviceSignIn)
			sessionsBefore := len(h.sessions.requests())
			body := map[string]any{"id_token": idToken(t, iss, "g-ada", "")}
			if tc.deviceID != "" {
				body["device_id"], body["device_name"], body["platform"] = tc.deviceID, "Galaxy Tab", "android"
			}
			r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", body)
			if r.status != http.StatusOK || r.str("challenge") != "two_factor" || r.str("masked_value") != "ad***@example.com" ||
				r.at("expires_in") != float64(600) || !strings.HasPrefix(r.str("two_factor_token"), "tfa_") || r.at("access_token") != nil {
				t.Fatalf("oauth sign-in = %d %s, want a two_factor challenge", r.status, r.raw)
			}
			if n := len(h.sessions.requests()); n != sessionsBefore {
				t.Errorf("%d sessions started before the second factor, want none", n-sessionsBefore)
			}
			if d := h.dispatches(t, ada.email); d[len(d)-1].Purpose != events.PurposeTwoFactor {
				t.Errorf("last dispatch purpose = %s, want two_factor", d[len(d)-1].Purpose)
			}
			if tc.deviceID == "tablet" {
				if _, err := store.NewDevices(h.db).Find(context.Background(), ada.id, "tablet"); !errors.Is(err, device.ErrNotFound) {
					t.Errorf("tablet trusted before the second factor (err %v)", err)
				}
			}
			token, code := r.str("two_factor_token"), h.lastCode(t, ada.email)
			wantPlainError(t, h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": otherCode(code)}), http.StatusBadRequest, "Invalid or expired code")

			ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": token, "otp_code": code})
			if ok.status != http.StatusOK || ok.str("access_token") == "" || ok.str("user.id") != ada.id {
				t.Fatalf("verify-2fa = %d %s, want tokens", ok.status, ok.raw)
			}
			if tc.deviceID != "" {
				_, err := store.NewDevices(h.db).Find(context.Background(), ada.id, tc.deviceID)
				if got := err == nil; got != tc.wantTrust {
					t.Errorf("device %s trusted = %v (err %v), want %v", tc.deviceID, got, err, tc.wantTrust)
				}
			}
			gotAlert := countAlerts(h.securityAlerts(t, ada.id), events.AlertNewDeviceSignIn) > alertsBefore
			if gotAlert != tc.wantNewDev {
				t.Errorf("new-device alert = %v, want %v", gotAlert, tc.wantNewDev)
			}
		})
	}

	t.Run("without 2FA the provider signs in directly", func(t *testing.T) {
		code := h.reauthCode(t, ada.token, ada.email)
		h.authed(t, "POST", "/api/v1/account/2fa/disable", ada.token, map[string]any{"otp": code, "revokeOtherSessions": false}).wantStatus(t, http.StatusOK, "disable 2FA")
		r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"id_token": idToken(t, iss, "g-ada", ""), "device_id": "laptop"})
		if r.status != http.StatusOK || r.str("access_token") == "" || r.at("challenge") != nil {
			t.Errorf("oauth sign-in = %d %s, want tokens", r.status, r.raw)
		}
	})
}

func countAlerts(all []events.SecurityAlert, kind string) int {
	n := 0
	for _, a := range all {
		if a.Kind == kind {
			n++
		}
	}
	return n
}
