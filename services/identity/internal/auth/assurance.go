package auth

import (
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Authentication method references (RFC 8176) carried in access tokens as amr, with the acr they add
// up to and auth_time. The session service signs them; services read them from authn.Principal and
// may require a recent strong factor for an operation.
const (
	AMRPassword    = "pwd"  // a password
	AMROTP         = "otp"  // a one-time code: e-mail, WhatsApp, authenticator app, recovery code
	AMRSMS         = "sms"  // a code sent by SMS (PSTN: restricted by NIST 800-63B)
	AMRHardwareKey = "hwk"  // a device-bound passkey (proof of possession of a hardware key)
	AMRSoftwareKey = "swk"  // a synced passkey (proof of possession of a software key)
	AMRUser        = "user" // user verification on the authenticator (PIN or biometric)
	AMRFederated   = "fed"  // a linked provider's ID or access token (not in RFC 8176's registry)
	AMRMFA         = "mfa"  // two or more independent factors
)

// Assurance levels (acr), after NIST 800-63B's AALs: one factor; two factors; two factors one of which
// is a device-bound, phishing-resistant key.
const (
	ACRSingleFactor = "aal1"
	ACRMultiFactor  = "aal2"
	ACRHardwareKey  = "aal3"
)

// Assurance is how a session was authenticated: amr (RFC 8176), acr and when.
type Assurance struct {
	AMR      []string
	ACR      string
	AuthTime time.Time
}

// factorClass groups amr values by the kind of factor they prove, for counting independent factors.
func factorClass(amr string) string {
	switch amr {
	case AMRPassword:
		return "know"
	case AMROTP, AMRSMS, AMRHardwareKey, AMRSoftwareKey:
		return "have"
	case AMRUser:
		return "are"
	case AMRFederated:
		return "fed"
	}
	return ""
}

// assure turns the methods a sign-in used into its Assurance at `at`: duplicates dropped, mfa added
// when two independent kinds of factor were proven, acr from the result.
func assure(at time.Time, methods ...string) Assurance {
	var amr []string
	classes := map[string]bool{}
	for _, m := range methods {
		if m == "" || slices.Contains(amr, m) {
			continue
		}
		amr = append(amr, m)
		if c := factorClass(m); c != "" {
			classes[c] = true
		}
	}
	acr := ACRSingleFactor
	if len(classes) >= 2 {
		amr = append(amr, AMRMFA)
		acr = ACRMultiFactor
		if slices.Contains(amr, AMRHardwareKey) && slices.Contains(amr, AMRUser) {
			acr = ACRHardwareKey
		}
	}
	return Assurance{AMR: amr, ACR: acr, AuthTime: at.UTC().Truncate(time.Second)}
}

// codeAMR is the amr value of a code sent over channel (events.Channel* or a Factor* method name, in
// any case): sms for SMS, otp for the others.
func codeAMR(channel string) string {
	if strings.EqualFold(channel, events.ChannelSMS) || strings.EqualFold(channel, events.ChannelSMSAndWhatsApp) {
		return AMRSMS
	}
	return AMROTP
}
