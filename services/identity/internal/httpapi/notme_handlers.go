package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// Messages of "this wasn't me".
const (
	msgNotMeEntryNotFound   = "Activity entry not found"
	msgNotMeNotReportable   = "Only a successful sign-in or a change made in one of your sessions can be reported as not you"
	msgPasswordResetNeeded  = "A password reset is required for this account; use forgot password"
	msgNotMeLinkInvalid     = "Invalid or expired link"
	msgNotMeReported        = "Reported as not you"
	maxActivityEntryIDChars = 128
)

// registerNotMe mounts "this wasn't me": the owner's report of an activity entry (envelope style,
// signed in; API keys never: a key must not be able to sign its owner out or demand a reset), and
// the one-time link of the security alerts (plain style, no sign-in; the token is the proof).
func registerNotMe(app *fiber.App, requireAuth fiber.Handler, h *Handler) {
	// A step-up token too: ending a session, forgetting a device and demanding a password reset must
	// not be in the power of a stolen access token alone (it would sign the owner out at will).
	app.Post("/api/v1/account/activity/:id/not-me", authn.SignedInOnly(requireAuth), h.requireStepUp, h.reportNotMe)
	app.Post("/api/v1/auth/not-me", h.reportNotMeByLink)
}

// notMeBody is the envelope path's answer (camelCase, as the account API).
type notMeBody struct {
	SessionEnded          bool `json:"sessionEnded"`
	DeviceForgotten       bool `json:"deviceForgotten"`
	APIKeysRevoked        int  `json:"apiKeysRevoked"`
	PasswordResetRequired bool `json:"passwordResetRequired"`
}

func notMeBodyOf(r auth.NotMeResult) notMeBody {
	return notMeBody{SessionEnded: r.SessionEnded, DeviceForgotten: r.DeviceForgotten, APIKeysRevoked: r.APIKeysRevoked,
		PasswordResetRequired: r.PasswordResetRequired}
}

// reportNotMe is POST /api/v1/account/activity/{id}/not-me.
func (h *Handler) reportNotMe(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	id := strings.TrimSpace(c.Params("id"))
	if id == "" || len(id) > maxActivityEntryIDChars || strings.ContainsFunc(id, wire.UnsafeTextRune) {
		return wire.NotFound(msgNotMeEntryNotFound)
	}
	res, err := h.auth.ReportNotMe(c.UserContext(), p.AccountID, p.SessionID, id)
	switch {
	case errors.Is(err, auth.ErrNotMeEntryNotFound):
		return wire.NotFound(msgNotMeEntryNotFound)
	case errors.Is(err, auth.ErrNotMeNotReportable):
		return wire.New(http.StatusUnprocessableEntity, msgNotMeNotReportable)
	case errors.Is(err, auth.ErrAccountGone):
		return wire.Unauthorized("Invalid session")
	case err != nil:
		return failure(err, "password", wire.BadRequest(msgNotMeLinkInvalid))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusOK, msgNotMeReported, notMeBodyOf(res))
}

// notMeLinkBody is the plain path's answer (snake_case, as the auth API).
type notMeLinkBody struct {
	Message               string `json:"message"`
	SessionEnded          bool   `json:"session_ended"`
	DeviceForgotten       bool   `json:"device_forgotten"`
	APIKeysRevoked        int    `json:"api_keys_revoked"`
	PasswordResetRequired bool   `json:"password_reset_required"`
}

type notMeLinkRequest struct {
	Token string `json:"token"`
}

// reportNotMeByLink is POST /api/v1/auth/not-me {"token": "nmt_..."}.
func (h *Handler) reportNotMeByLink(c *fiber.Ctx) error {
	var req notMeLinkRequest
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
	res, err := h.auth.ReportNotMeByLink(c.UserContext(), req.Token, client(c).IP)
	switch {
	case errors.Is(err, auth.ErrNotMeLinkInvalid), errors.Is(err, auth.ErrAccountGone):
		return wire.BadRequest(msgNotMeLinkInvalid)
	case err != nil:
		return failure(err, passwordFieldPlain, wire.BadRequest(msgNotMeLinkInvalid))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(http.StatusOK).JSON(notMeLinkBody{Message: msgNotMeReported, SessionEnded: res.SessionEnded,
		DeviceForgotten: res.DeviceForgotten, APIKeysRevoked: res.APIKeysRevoked, PasswordResetRequired: res.PasswordResetRequired})
}
