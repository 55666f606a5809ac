package session

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
)

// Assurance is how a session was authenticated, as identity reported it when the session started:
// the authentication method references (RFC 8176 amr values), the assurance level (acr) and when the
// account proved them (auth_time). Access tokens carry them as the amr, acr and auth_time claims.
type Assurance struct {
	AMR      []string
	ACR      string
	AuthTime time.Time
}

// KnownAMR are the amr values a session may carry (RFC 8176, plus "fed" for a linked provider's token).
var KnownAMR = []string{"pwd", "otp", "sms", "hwk", "swk", "user", "fed", "mfa"}

// KnownACR are the acr values a session may carry, weakest first (NIST 800-63B's authenticator
// assurance levels).
var KnownACR = []string{ACRSingleFactor, ACRMultiFactor, ACRHardwareKey}

// Assurance levels, as every service's authn reads them.
const (
	ACRSingleFactor = authn.ACRSingleFactor
	ACRMultiFactor  = authn.ACRMultiFactor
	ACRHardwareKey  = authn.ACRHardwareKey
)

// MaxAMR bounds the amr values of one session: every known value at most once.
const MaxAMR = 8

// AuthTimeSkew is how far in the future a reported auth_time may lie (clock skew between identity and
// this service); it is then read as now.
const AuthTimeSkew = 30 * time.Second

// Errors of NormalizeAssurance; each names the field at fault.
var (
	ErrUnknownAMR     = errors.New("unknown amr value")
	ErrTooManyAMR     = fmt.Errorf("more than %d amr values", MaxAMR)
	ErrUnknownACR     = errors.New("unknown acr value")
	ErrACRWithoutMFA  = errors.New("acr above aal1 without mfa in amr")
	ErrFutureAuthTime = errors.New("authTime is in the future")
)

// NormalizeAssurance checks a reported Assurance and returns it in the form sessions keep: duplicate
// amr values dropped (first occurrence kept), an empty acr read as aal1, a zero auth_time read as now
// and one slightly ahead of now (within AuthTimeSkew) clamped to now, in UTC to the second. A level
// above aal1 must come with "mfa": identity adds it whenever two independent factors were proven, so
// anything else is a bug that must not mint a token claiming more than was proven.
func NormalizeAssurance(a Assurance, now time.Time) (Assurance, error) {
	if len(a.AMR) > MaxAMR {
		return Assurance{}, ErrTooManyAMR
	}
	var amr []string
	for _, m := range a.AMR {
		if !slices.Contains(KnownAMR, m) {
			return Assurance{}, fmt.Errorf("%w: %q", ErrUnknownAMR, m)
		}
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	acr := a.ACR
	if acr == "" {
		acr = ACRSingleFactor
	}
	if !slices.Contains(KnownACR, acr) {
		return Assurance{}, fmt.Errorf("%w: %q", ErrUnknownACR, acr)
	}
	if acr != ACRSingleFactor && !slices.Contains(amr, "mfa") {
		return Assurance{}, ErrACRWithoutMFA
	}
	now = now.UTC().Truncate(time.Second)
	at := a.AuthTime.UTC().Truncate(time.Second)
	switch {
	case a.AuthTime.IsZero():
		at = now
	case at.After(now.Add(AuthTimeSkew)):
		return Assurance{}, ErrFutureAuthTime
	case at.After(now):
		at = now
	}
	return Assurance{AMR: amr, ACR: acr, AuthTime: at}, nil
}
