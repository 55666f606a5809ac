package httpapi

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

const (
	msgRecoveryCodesGenerated = "Recovery codes generated: store them somewhere safe, they are shown only this once"
	msgRecoveryCodesOff       = "Recovery codes are not available"
	msgRecoveryNeedsFactor    = "Turn on two-factor authentication before generating recovery codes"
)

// registerRecoveryCodes mounts the recovery code routes (envelope style). Generating needs a step-up
// (X-Reauth-Token) and is closed to API keys (requireStepUp refuses them).
func registerRecoveryCodes(app *fiber.App, requireAuth fiber.Handler, h *Handler) {
	app.Post("/api/v1/account/2fa/recovery-codes", requireAuth, h.requireStepUp, h.generateRecoveryCodes)
}

type recoveryCodesBody struct {
	Codes       []string `json:"codes"`
	GeneratedAt string   `json:"generatedAt"`
}

// POST /api/v1/account/2fa/recovery-codes — a fresh set of recovery codes, replacing the previous
// one, shown this once; the body is ignored. How many are left is in security-info.
func (h *Handler) generateRecoveryCodes(c *fiber.Ctx) error {
	set, err := h.auth.GenerateRecoveryCodes(c.UserContext(), caller(c))
	if werr, ok := stepUpFailure(c, err); ok {
		return werr
	}
	switch {
	case errors.Is(err, auth.ErrRecoveryCodesOff):
		return wire.NotFound(msgRecoveryCodesOff)
	case errors.Is(err, auth.ErrSecondFactorRequired):
		return wire.BadRequest(msgRecoveryNeedsFactor)
	case err != nil:
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusOK, msgRecoveryCodesGenerated, recoveryCodesBody{
		Codes: set.Codes, GeneratedAt: wire.ActionTime(set.GeneratedAt),
	})
}
