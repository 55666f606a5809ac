package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// HeaderReauthToken carries a step-up token (POST /api/v1/auth/reauth) on the routes that change an
// e-mail, a phone, a sign-in provider or 2FA, or create an API key.
const HeaderReauthToken = "X-Reauth-Token"

// A missing step-up is a 401 in the path's style with one of these messages and
// `WWW-Authenticate: ReauthToken` (with method="otp" when only a code will do), so a client knows to
// ask the owner for the password or a code, call POST /api/v1/auth/reauth and repeat the request.
const (
	msgReauthRequired     = "Re-authentication required"
	msgReauthCodeRequired = "Re-authentication with a one-time code required"
	reauthChallenge       = "ReauthToken"
	reauthCodeChallenge   = `ReauthToken method="otp"`
	msgAPIKeyNotAllowed   = "API keys cannot be used for this operation; sign in instead"
	msgRevertInvalid      = "Invalid or expired link"
)

// stepUpFailure renders the step-up gate's refusals; other errors come back unchanged (handled is
// false).
func stepUpFailure(c *fiber.Ctx, err error) (error, bool) {
	switch {
	case errors.Is(err, auth.ErrReauthCodeRequired):
		c.Set(fiber.HeaderWWWAuthenticate, reauthCodeChallenge)
		return wire.Unauthorized(msgReauthCodeRequired), true
	case errors.Is(err, auth.ErrReauthRequired):
		c.Set(fiber.HeaderWWWAuthenticate, reauthChallenge)
		return wire.Unauthorized(msgReauthRequired), true
	}
	return err, false
}

// requireStepUp guards a route whose documented body has no proof field: the request must carry a
// live step-up token of the caller's account and session in X-Reauth-Token. It runs after
// authn.Middleware and before the handler, so a refused request changes nothing and sends nothing.
func (h *Handler) requireStepUp(c *fiber.Ctx) error {
	if authn.MustPrincipal(c).IsAPIKey() {
		return wire.Forbidden(msgAPIKeyNotAllowed)
	}
	who := caller(c)
	err := h.auth.RequireFreshAuth(c.UserContext(), who, auth.StepUpProof{Token: who.StepUpToken}, false)
	if err == nil {
		return c.Next()
	}
	if werr, ok := stepUpFailure(c, err); ok {
		return werr
	}
	return credentialFailure(c, err, passwordFieldPlain)
}

// checkProofOrStepUp reads the re-authentication fields of a body that documents them (2FA): they may
// be left out when X-Reauth-Token is sent; with neither, the answer is the step-up 401.
func checkProofOrStepUp(c *fiber.Ctx, v *wire.Checker, passwordField, pw, code string) (auth.Proof, error) {
	if pw == "" && strings.TrimSpace(code) == "" {
		if strings.TrimSpace(c.Get(HeaderReauthToken)) == "" {
			err, _ := stepUpFailure(c, auth.ErrReauthRequired)
			return auth.Proof{}, err
		}
		return auth.Proof{}, nil
	}
	return checkProof(v, passwordField, pw, code), nil
}

type reauthRequest struct {
	Password string `json:"password"`
	OTP      string `json:"otp"`
	// TOTP (an authenticator code) or Assertion (a passkey, after POST /api/v1/auth/reauth/passkey/begin).
	TOTP      string          `json:"totp"`
	Assertion json.RawMessage `json:"assertion"`
}

type reauthBody struct {
	ReauthToken string `json:"reauth_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Method      string `json:"method"` // how it was obtained: pwd or otp
}

// POST /api/v1/auth/reauth {password} or {otp} — a step-up token for X-Reauth-Token, bound to the
// caller's account and session, valid for several changes until it expires. The code comes from
// POST /api/v1/auth/reauth/send-otp. API keys are refused: a key is no proof of the owner's presence.
func (h *Handler) issueStepUp(c *fiber.Ctx) error {
	if authn.MustPrincipal(c).IsAPIKey() {
		return wire.Forbidden(msgAPIKeyNotAllowed)
	}
	var req reauthRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	var proof auth.Proof
	if req.Password == "" && strings.TrimSpace(req.OTP) == "" && (req.TOTP != "" || hasJSONObject(req.Assertion)) {
		proof = checkFactorProof(v, req.TOTP, req.Assertion)
	} else {
		proof = checkProof(v, "password", req.Password, req.OTP)
	}
	if err := v.Err(); err != nil {
		return err
	}
	issued, err := h.auth.IssueStepUp(c.UserContext(), caller(c), proof)
	if err != nil {
		return credentialFailure(c, err, passwordFieldPlain)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusOK, "", reauthBody{
		ReauthToken: issued.Token, TokenType: reauthChallenge, ExpiresIn: int(issued.ExpiresIn.Seconds()), Method: issued.Method,
	})
}

type revertEmailRequest struct {
	Token string `json:"token"`
}

type revertEmailBody struct {
	Message       string `json:"message"`
	Email         string `json:"email"`
	PasswordReset bool   `json:"password_reset"`
}

// POST /api/v1/auth/email-change/revert {token} — no sign-in: the token, from the link sent to the
// previous address, is the proof. Restores that address, ends every session and API key, and resets
// a password changed since (then the owner uses forgot-password).
func (h *Handler) revertEmailChange(c *fiber.Ctx) error {
	var req revertEmailRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("token", strings.TrimSpace(req.Token)) {
		v.MaxLen("token", req.Token, maxToken)
	}
	if err := v.Err(); err != nil {
		return err
	}
	res, err := h.auth.RevertEmailChange(c.UserContext(), req.Token, client(c).IP)
	switch {
	case errors.Is(err, auth.ErrEmailRevertInvalid):
		return wire.BadRequest(msgRevertInvalid)
	case errors.Is(err, auth.ErrEmailTaken):
		return wire.Conflict("The previous email address now belongs to another account; contact support")
	case err != nil:
		return failure(err, passwordFieldPlain, wire.BadRequest(msgRevertInvalid))
	}
	msg := "Your email address was restored and every session was signed out."
	if res.PasswordReset {
		msg += " Your password was reset: set a new one with forgot-password."
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusOK, "", revertEmailBody{Message: msg, Email: res.Email, PasswordReset: res.PasswordReset})
}

// checkStepUpInternal answers the internal re-authentication gate for a step-up token: 204 when it
// is a live token of the account (and of sessionID when it was issued to a session), else 403.
func (h *Handler) checkStepUpInternal(c *fiber.Ctx, token, sessionID string) error {
	_, err := h.auth.CheckStepUp(c.UserContext(), c.Params("accountId"), sessionID, token)
	switch {
	case err == nil:
		return c.SendStatus(http.StatusNoContent)
	case errors.Is(err, auth.ErrReauthRequired):
		return internalError(c, http.StatusForbidden, "invalid_credentials")
	}
	return err
}
