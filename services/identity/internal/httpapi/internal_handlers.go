package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// RegisterReauthentication mounts identity's internal re-authentication gate (docs/architecture.md,
// "Internal APIs") on the internal-port app; requireService is httpx.RequireToken with the shared
// internal token.
func RegisterReauthentication(app *fiber.App, requireService fiber.Handler, svc *auth.Service) {
	h := &Handler{auth: svc}
	app.Post("/internal/v1/accounts/:accountId/reauthenticate", requireService, h.reauthenticate)
}

type reauthenticateRequest struct {
	Password *string `json:"password"`
	OTP      *string `json:"otp"`
	// ReauthToken is a step-up token (X-Reauth-Token) the caller's client presented; SessionID the
	// session of its access token (a token issued to another session is refused).
	ReauthToken *string `json:"reauthToken"`
	SessionID   string  `json:"sessionId"`
}

func internalError(c *fiber.Ctx, status int, code string) error {
	return c.Status(status).JSON(fiber.Map{"error": code})
}

// POST /internal/v1/accounts/{accountId}/reauthenticate — the re-authentication gate for paths
// another service serves, with {password}, {otp} or {reauthToken, sessionId} (a step-up token of the
// account, issued to that session): 204 verified; 403 invalid_credentials; 429 too_many_attempts (with
// retryAfter and Retry-After); 404 unknown or deactivated account; 400 invalid_request when the
// body is not exactly one of password, otp and reauthToken.
func (h *Handler) reauthenticate(c *fiber.Ctx) error {
	var req reauthenticateRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return internalError(c, http.StatusBadRequest, "invalid_request")
	}
	if req.ReauthToken != nil {
		if req.Password != nil || req.OTP != nil {
			return internalError(c, http.StatusBadRequest, "invalid_request")
		}
		return h.checkStepUpInternal(c, *req.ReauthToken, req.SessionID)
	}
	if (req.Password == nil) == (req.OTP == nil) {
		return internalError(c, http.StatusBadRequest, "invalid_request")
	}
	var proof auth.Proof
	switch {
	case req.Password != nil:
		if *req.Password == "" || len(*req.Password) > maxProof {
			return internalError(c, http.StatusForbidden, "invalid_credentials")
		}
		proof.Password = *req.Password
	default:
		if !otp.ValidCodeFormat(*req.OTP) {
			return internalError(c, http.StatusForbidden, "invalid_credentials")
		}
		proof.OTP = *req.OTP
	}
	err := h.auth.Reauthenticate(c.UserContext(), c.Params("accountId"), proof, "")
	var limited *throttle.ExceededError
	switch {
	case err == nil:
		return c.SendStatus(http.StatusNoContent)
	case errors.Is(err, auth.ErrWrongPassword), errors.Is(err, auth.ErrInvalidCode):
		return internalError(c, http.StatusForbidden, "invalid_credentials")
	case errors.Is(err, auth.ErrAccountGone):
		return internalError(c, http.StatusNotFound, "account_not_found")
	case errors.As(err, &limited):
		secs := int((limited.RetryAfter + time.Second - 1) / time.Second)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		wire.SetRateLimit(c, wire.RateLimit{Limit: limited.Limit, Reset: limited.Reset})
		return c.Status(http.StatusTooManyRequests).JSON(fiber.Map{"error": "too_many_attempts", "retryAfter": secs})
	}
	return err
}
