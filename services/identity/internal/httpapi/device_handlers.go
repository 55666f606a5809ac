package httpapi

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

type verifyDeviceRequest struct {
	DeviceVerificationToken string `json:"deviceVerificationToken"`
	OTP                     string `json:"otp"`
	DeviceID                string `json:"deviceId"`
	DeviceName              string `json:"deviceName"`
	Platform                string `json:"platform"`
	Timezone                string `json:"timezone"`
}

type onboardingBody struct {
	IsPrimaryComplete bool `json:"isPrimaryComplete"`
	HasUsername       bool `json:"hasUsername"`
}

type deviceUserBody struct {
	ID        string  `json:"id"`
	UserName  *string `json:"userName"`
	FirstName *string `json:"firstName"`
}

type verifyDeviceBody struct {
	AccessToken  string         `json:"accessToken"`
	RefreshToken string         `json:"refreshToken"`
	TokenType    string         `json:"tokenType"`
	ExpiresIn    int            `json:"expiresIn"`
	SessionID    string         `json:"sessionId"`
	Onboarding   onboardingBody `json:"onboarding"`
	User         deviceUserBody `json:"user"`
}

// POST /api/v1/account/device/verify — account-api.txt item 20. Verification failures are 403, as
// that document prescribes for a wrong OTP.
func (h *Handler) verifyDevice(c *fiber.Ctx) error {
	var req verifyDeviceRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("deviceVerificationToken", req.DeviceVerificationToken) {
		v.MaxLen("deviceVerificationToken", req.DeviceVerificationToken, maxToken)
	}
	if v.Required("otp", req.OTP) {
		v.Check(otp.ValidCodeFormat(req.OTP), "otp", "OTP must be exactly 6 digits", "string_pattern_mismatch")
	}
	v.Required("deviceId", req.DeviceID)
	dev := checkDevice(v, "deviceId", "deviceName", "platform", device.Info{DeviceID: req.DeviceID, DeviceName: req.DeviceName, Platform: req.Platform, Timezone: req.Timezone})
	if err := v.Err(); err != nil {
		return err
	}
	signed, err := h.auth.VerifyDevice(c.UserContext(), auth.DeviceVerification{
		Token: strings.TrimSpace(req.DeviceVerificationToken), Code: req.OTP, Device: dev, Client: client(c),
	})
	if err != nil {
		return failure(err, "password", wire.Forbidden(msgInvalidCode))
	}
	a := signed.Account
	return wire.OK(c, http.StatusOK, "Device verified. Login successful.", verifyDeviceBody{
		AccessToken: signed.Tokens.AccessToken, RefreshToken: signed.Tokens.RefreshToken, TokenType: "Bearer",
		ExpiresIn: signed.Tokens.ExpiresIn, SessionID: signed.Tokens.SessionID,
		Onboarding: onboardingBody{IsPrimaryComplete: a.PrimaryComplete(), HasUsername: a.Username != ""},
		User:       deviceUserBody{ID: a.ID, UserName: optional(a.Username), FirstName: optional(a.FirstName)},
	})
}

func trim(s string) string { return strings.TrimSpace(s) }
