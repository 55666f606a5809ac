package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// plainInvalidCode is the plain-style answer to any code problem (400, as the auth namespace uses).
func plainInvalidCode() *wire.Error { return wire.BadRequest(msgInvalidCode) }

type initiateRegistrationRequest struct {
	Email        string `json:"email"`
	CaptchaToken string `json:"captcha_token"` // or the X-Captcha-Token header; asked for after a few sends from one address
}

// POST /api/v1/auth/initiate-registration — 202 whether or not the address is taken.
func (h *Handler) initiateRegistration(c *fiber.Ctx) error {
	var req initiateRegistrationRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	email := checkEmail(v, "email", req.Email)
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.GuardRegistration(c.UserContext(), email, client(c).IP, captchaToken(c, req.CaptchaToken)); err != nil {
		return failure(err, "password", plainInvalidCode())
	}
	ttl, err := h.auth.StartRegistration(c.UserContext(), email)
	if err != nil {
		return failure(err, "password", plainInvalidCode())
	}
	if err := h.auth.RegistrationSent(c.UserContext(), email, client(c).IP); err != nil {
		h.log.WarnContext(c.UserContext(), "count registration send", "err", err)
	}
	return wire.OK(c, http.StatusAccepted, "", codeOnItsWayBody{
		Message:   "If this address can be registered, a verification code is on its way. Check your email.",
		ExpiresIn: int(ttl.Seconds()),
	})
}

type verifyRegistrationRequest struct {
	Email      string `json:"email"`
	OTPCode    string `json:"otp_code"`
	Password   string `json:"password"`
	Username   string `json:"username"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
	Platform   string `json:"platform"`
	Timezone   string `json:"timezone"`
}

type userBody struct {
	ID       string  `json:"id"`
	Email    string  `json:"email"`
	Username *string `json:"username"`
}

type tokensBody struct {
	User         userBody `json:"user"`
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int      `json:"expires_in"`
	SessionID    string   `json:"session_id"`

	// Onboarding are account-api item 20's onboarding flags, in the plain style's snake_case.
	Onboarding onboardingPlain `json:"onboarding"`
}

type onboardingPlain struct {
	IsPrimaryComplete bool `json:"is_primary_complete"`
	HasUsername       bool `json:"has_username"`
}

func tokensOf(s auth.SignedIn) tokensBody {
	return tokensBody{
		User:        userBody{ID: s.Account.ID, Email: s.Account.Email, Username: optional(s.Account.Username)},
		AccessToken: s.Tokens.AccessToken, RefreshToken: s.Tokens.RefreshToken, TokenType: "Bearer",
		ExpiresIn: s.Tokens.ExpiresIn, SessionID: s.Tokens.SessionID,
		Onboarding: onboardingPlain{IsPrimaryComplete: s.Account.PrimaryComplete(), HasUsername: s.Account.Username != ""},
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// POST /api/v1/auth/verify-registration — 201 with the new account and its first session.
func (h *Handler) verifyRegistration(c *fiber.Ctx) error {
	var req verifyRegistrationRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	email := checkEmail(v, "email", req.Email)
	if v.Required("otp_code", req.OTPCode) {
		v.Check(otp.ValidCodeFormat(req.OTPCode), "otp_code", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
	}
	v.Required("password", req.Password)
	v.MaxLen("username", req.Username, maxUsernameText)
	v.MaxLen("first_name", req.FirstName, maxName)
	v.MaxLen("last_name", req.LastName, maxName)
	v.PlainText("first_name", req.FirstName)
	v.PlainText("last_name", req.LastName)
	dev := checkDevice(v, "device_id", "device_name", "platform", device.Info{DeviceID: req.DeviceID, DeviceName: req.DeviceName, Platform: req.Platform, Timezone: req.Timezone})
	if err := v.Err(); err != nil {
		return err
	}
	signed, err := h.auth.CompleteRegistration(c.UserContext(), auth.Registration{
		Email: email, Code: req.OTPCode, Password: req.Password, Username: req.Username,
		FirstName: trim(req.FirstName), LastName: trim(req.LastName), Device: dev, Client: client(c),
	})
	if err != nil {
		return failure(err, "password", plainInvalidCode())
	}
	return wire.OK(c, http.StatusCreated, "", tokensOf(signed))
}

type loginRequest struct {
	Identifier string `json:"identifier"`
	Password   string `json:"password"`
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
	Platform   string `json:"platform"`
	Timezone   string `json:"timezone"`
	// CaptchaToken (or the X-Captcha-Token header) is asked for after many failures from one address.
	CaptchaToken string `json:"captcha_token"`
}

type deviceChallengeBody struct {
	Challenge               string `json:"challenge"`
	DeviceVerificationToken string `json:"device_verification_token"`
	MaskedValue             string `json:"masked_value"`
	ExpiresIn               int    `json:"expires_in"`
}

type twoFactorChallengeBody struct {
	Challenge      string `json:"challenge"`
	TwoFactorToken string `json:"two_factor_token"`
	MaskedValue    string `json:"masked_value"` // "" when no code was sent (a stronger method is offered)
	ExpiresIn      int    `json:"expires_in"`
	// Methods the account can answer with, strongest first; WebAuthn the passkey request options
	// (navigator.credentials.get) when webauthn is listed.
	Methods  []string        `json:"methods"`
	WebAuthn json.RawMessage `json:"webauthn,omitempty"`
}

// twoFactorChallenge is the answer of a sign-in (password or provider) that needs the second factor.
func twoFactorChallenge(ch *auth.DeviceChallenge) twoFactorChallengeBody {
	return twoFactorChallengeBody{
		Challenge: "two_factor", TwoFactorToken: ch.Token,
		MaskedValue: ch.MaskedValue, ExpiresIn: int(ch.ExpiresIn.Seconds()),
		Methods: ch.Methods, WebAuthn: ch.WebAuthn,
	}
}

// POST /api/v1/auth/login — 200 with tokens, or 200 with a device-verification or two-factor
// challenge (2FA on: the two-factor code also verifies a new device).
func (h *Handler) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("identifier", req.Identifier) {
		v.MaxLen("identifier", trim(req.Identifier), maxIdentifier)
	}
	if req.Password == "" {
		v.Fail("password", "Field required", "missing")
	}
	v.MaxLen("password", req.Password, maxLoginPass)
	v.Required("device_id", req.DeviceID)
	dev := checkDevice(v, "device_id", "device_name", "platform", device.Info{DeviceID: req.DeviceID, DeviceName: req.DeviceName, Platform: req.Platform, Timezone: req.Timezone})
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.CaptchaGate(c.UserContext(), client(c).IP, captchaToken(c, req.CaptchaToken), false); err != nil {
		return failure(err, "password", plainInvalidCode())
	}
	res, err := h.auth.Login(c.UserContext(), auth.Login{Identifier: req.Identifier, Password: req.Password, Device: dev, Client: client(c)})
	if errors.Is(err, auth.ErrPasswordResetRequired) { // only once the password was proven: no enumeration
		return wire.Forbidden(msgPasswordResetNeeded)
	}
	if err != nil {
		return failure(err, "password", plainInvalidCode())
	}
	if res.TwoFactor != nil {
		return wire.OK(c, http.StatusOK, "", twoFactorChallenge(res.TwoFactor))
	}
	if res.Challenge != nil {
		return wire.OK(c, http.StatusOK, "", deviceChallengeBody{
			Challenge: "device_verification", DeviceVerificationToken: res.Challenge.Token,
			MaskedValue: res.Challenge.MaskedValue, ExpiresIn: int(res.Challenge.ExpiresIn.Seconds()),
		})
	}
	return wire.OK(c, http.StatusOK, "", tokensOf(*res.SignedIn))
}
