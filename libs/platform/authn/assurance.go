package authn

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// Assurance levels an access token's acr claim names, weakest first (NIST 800-63B's authenticator
// assurance levels): one factor; two independent factors; two factors one of which is a device-bound,
// phishing-resistant key with user verification.
const (
	ACRSingleFactor = "aal1"
	ACRMultiFactor  = "aal2"
	ACRHardwareKey  = "aal3"
)

// acrLevels are the known acr values, weakest first.
var acrLevels = []string{ACRSingleFactor, ACRMultiFactor, ACRHardwareKey}

// acrRank is the position of acr in acrLevels plus one; 0 for an absent or unknown acr, which is below
// every level.
func acrRank(acr string) int { return slices.Index(acrLevels, acr) + 1 }

// Assurance is what an operation requires of the sign-in behind a request: at least MinACR, proven no
// longer than MaxAge ago. The zero Assurance accepts any access token (never an API key).
//
//	app.Delete("/api/v1/things/:id", requireAuth, authn.RequireAssurance(authn.Assurance{
//		MinACR: authn.ACRMultiFactor, MaxAge: 15 * time.Minute,
//	}), h.deleteThing)
type Assurance struct {
	// MinACR is the least acr accepted (ACRSingleFactor < ACRMultiFactor < ACRHardwareKey); empty
	// accepts any, even a token without acr.
	MinACR string
	// MaxAge is how long before the request the account may have authenticated at most (auth_time);
	// 0 accepts any age. Refreshing a token does not make its sign-in younger.
	MaxAge time.Duration
}

// SatisfiedBy reports whether p meets a at now: an access token whose acr is at least MinACR and
// whose auth_time is no older than MaxAge. An API key never does: it proves no sign-in.
func (a Assurance) SatisfiedBy(p Principal, now time.Time) bool {
	if p.IsAPIKey() || p.SessionID == "" {
		return false
	}
	if a.MinACR != "" && acrRank(p.ACR) < acrRank(a.MinACR) {
		return false
	}
	if a.MaxAge > 0 && (p.AuthTime.IsZero() || now.Sub(p.AuthTime) > a.MaxAge) {
		return false
	}
	return true
}

// acrValues are the acr values that satisfy a, in order of preference (the weakest that will do
// first), for the challenge's acr_values.
func (a Assurance) acrValues() []string {
	if a.MinACR == "" {
		return nil
	}
	return acrLevels[acrRank(a.MinACR)-1:]
}

// ErrorInsufficientUserAuthentication is the error code of RFC 9470 (OAuth 2.0 Step-Up Authentication
// Challenge) in the WWW-Authenticate header of a token that does not meet an Assurance.
const ErrorInsufficientUserAuthentication = "insufficient_user_authentication"

// msgInsufficientAuthentication is the body of that 401.
const msgInsufficientAuthentication = "A more recent or stronger sign-in is required for this operation"

// CheckAssurance returns nil when the request's principal meets a, and otherwise the error to return
// from the handler: for an API key a 403 (keys cannot sign in again), for an access token a 401 with
// the step-up challenge of RFC 9470 set on the response,
//
//	WWW-Authenticate: Bearer error="insufficient_user_authentication",
//	  error_description="...", acr_values="aal2 aal3", max_age="900"
//
// (acr_values when a has MinACR, max_age in seconds when it has MaxAge). The client signs in again
// meeting them (identity's step-up, or a sign-in with a second factor) and retries with the new
// token. The errors are *wire.Error values, rendered in the path's wire style. The request must be
// behind Middleware (it panics otherwise, a wiring bug). Handlers whose requirement depends on the
// request call it themselves; RequireAssurance is the same check in front of a whole route.
func CheckAssurance(c *fiber.Ctx, a Assurance) error {
	p := MustPrincipal(c)
	if p.IsAPIKey() {
		return wire.Forbidden(msgAPIKeyForbidden)
	}
	if a.SatisfiedBy(p, time.Now()) {
		return nil
	}
	c.Set(fiber.HeaderWWWAuthenticate, a.challenge())
	return wire.Unauthorized(msgInsufficientAuthentication)
}

// challenge is the WWW-Authenticate value of a token that does not meet a.
func (a Assurance) challenge() string {
	var b strings.Builder
	b.WriteString(`Bearer error="` + ErrorInsufficientUserAuthentication + `", error_description="` + msgInsufficientAuthentication + `"`)
	if v := a.acrValues(); len(v) > 0 {
		b.WriteString(`, acr_values="` + strings.Join(v, " ") + `"`)
	}
	if a.MaxAge > 0 {
		// Whole seconds, rounded down: a client that re-authenticates meets the requirement either way.
		b.WriteString(`, max_age="` + strconv.FormatInt(int64(a.MaxAge/time.Second), 10) + `"`)
	}
	return b.String()
}

// RequireAssurance returns a handler, placed after Middleware where a route is registered, that lets
// the request through only when its access token meets a (see CheckAssurance for the refusals). It
// panics at registration when a.MinACR is not a known level or a.MaxAge is negative.
func RequireAssurance(a Assurance) fiber.Handler {
	if a.MinACR != "" && acrRank(a.MinACR) == 0 {
		panic(fmt.Sprintf("authn: RequireAssurance: unknown MinACR %q", a.MinACR))
	}
	if a.MaxAge < 0 {
		panic("authn: RequireAssurance: negative MaxAge")
	}
	return func(c *fiber.Ctx) error {
		if err := CheckAssurance(c, a); err != nil {
			return err
		}
		return c.Next()
	}
}
