package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// headerReauthToken carries a step-up token from identity's POST /api/v1/auth/reauth: proof enough
// for sign-out-others, sign-out-all and revoke_all_others instead of a password or code.
const headerReauthToken = "X-Reauth-Token"

// maxReauthToken bounds the header before it is sent on to identity.
const maxReauthToken = 128

// stepUpToken returns the request's step-up token, or "" (also for one too long to be real).
func stepUpToken(c *fiber.Ctx) string {
	t := strings.TrimSpace(c.Get(headerReauthToken))
	if len(t) > maxReauthToken {
		return ""
	}
	return t
}

// revokeAllProof is the proof of POST /api/v1/auth/sessions/revoke {revoke_all_others: true}: the
// body's password or otp, else X-Reauth-Token. With none the answer is a 401 saying re-authentication
// is required (`WWW-Authenticate: ReauthToken`, as identity's step-up routes answer), and nothing ends.
func revokeAllProof(c *fiber.Ctx, req revokeRequest) (session.Proof, error) {
	chk := wire.NewChecker()
	switch {
	case req.Password != "" && req.OTP != "":
		chk.Fail("otp", "Provide either password or otp, not both", "value_error")
	case req.OTP != "":
		chk.Check(otpPattern.MatchString(req.OTP), "otp", "OTP must be exactly 6 digits", "string_pattern_mismatch")
	case req.Password != "":
		chk.MaxLen("password", req.Password, maxPassword)
	}
	if err := chk.Err(); err != nil {
		return session.Proof{}, err
	}
	if req.Password != "" || req.OTP != "" {
		return session.Proof{Password: req.Password, OTP: req.OTP}, nil
	}
	if t := stepUpToken(c); t != "" {
		return session.Proof{ReauthToken: t}, nil
	}
	c.Set(fiber.HeaderWWWAuthenticate, "ReauthToken")
	return session.Proof{}, wire.Unauthorized("Re-authentication required")
}
