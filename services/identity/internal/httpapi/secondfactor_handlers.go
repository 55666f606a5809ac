package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
)

// Messages of the second-factor paths.
const (
	msgMethodNotOffered  = "This method is not available for this sign-in"
	msgNoPasskeys        = "No passkeys are registered"
	msgTOTPNotOffered    = "Authenticator apps are not available"
	msgTOTPEnrolled      = "An authenticator app is already set up; remove it first"
	msgTOTPNotPending    = "No authenticator app is awaiting confirmation; set one up first"
	msgTOTPNotEnrolled   = "No authenticator app is set up"
	msgTOTPSetUp         = "Scan the QR code with your authenticator app, then confirm with a code"
	msgTOTPConfirmed     = "Authenticator app added"
	msgTOTPRemoved       = "Authenticator app removed"
	maxAssertion         = 16 << 10 // bytes of a WebAuthn assertion
	recoveryCodeRuleText = "String should match pattern '^[A-Za-z0-9-]{8,64}$'"
)

// twoFactorMethods are the values of verify-2fa's method, and codeChannelMethods send-code's.
var (
	twoFactorMethods   = []string{auth.FactorWebAuthn, auth.FactorTOTP, auth.FactorRecoveryCode, auth.FactorEmail, auth.FactorSMS, auth.FactorWhatsApp}
	codeChannelMethods = []string{auth.FactorEmail, auth.FactorSMS, auth.FactorWhatsApp}
	recoveryCodeFormat = regexp.MustCompile(`^[A-Za-z0-9-]{8,64}$`)
)

// registerSecondFactors mounts the second-factor routes beside POST /api/v1/auth/verify-2fa (in
// Register): a code of a two_factor challenge on request, and the authenticator app, whose changes
// need a step-up (X-Reauth-Token) and are closed to API keys.
func registerSecondFactors(app *fiber.App, requireAuth fiber.Handler, h *Handler) {
	app.Post("/api/v1/auth/verify-2fa/send-code", h.sendTwoFactorCode)
	app.Post("/api/v1/auth/reauth/passkey/begin", requireAuth, h.beginStepUpPasskey)
	app.Post("/api/v1/account/2fa/totp/setup", requireAuth, h.requireStepUp, h.setupTOTP)
	app.Post("/api/v1/account/2fa/totp/confirm", requireAuth, h.requireStepUp, h.confirmTOTP)
	app.Delete("/api/v1/account/2fa/totp", requireAuth, h.requireStepUp, h.removeTOTP)
}

type verifyTwoFactorRequest struct {
	TwoFactorToken string          `json:"two_factor_token"`
	Method         string          `json:"method"`
	OTPCode        string          `json:"otp_code"`
	Assertion      json.RawMessage `json:"assertion"`
	DeviceID       string          `json:"device_id"`
	DeviceName     string          `json:"device_name"`
	Platform       string          `json:"platform"`
	Timezone       string          `json:"timezone"`
}

// checkMethod validates an optional method field against allowed and returns it lower-cased.
func checkMethod(v *wire.Checker, raw string, allowed []string, required bool) string {
	m := strings.ToLower(strings.TrimSpace(raw))
	if m == "" {
		if required {
			v.Fail("method", "Field required", "missing")
		}
		return ""
	}
	v.Check(slices.Contains(allowed, m), "method", "Input should be "+strings.Join(allowed, ", "), "enum")
	return m
}

// POST /api/v1/auth/verify-2fa — finishes a sign-in that answered a two_factor challenge; the same
// token response as login. {two_factor_token, method, otp_code} with method totp, recovery_code,
// email, sms or whatsapp (without method: the code that was sent), or {two_factor_token, method:
// "webauthn", assertion}. The second factor also verifies the device, which becomes trusted.
func (h *Handler) verifyTwoFactor(c *fiber.Ctx) error {
	var req verifyTwoFactorRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("two_factor_token", req.TwoFactorToken) {
		v.MaxLen("two_factor_token", req.TwoFactorToken, maxToken)
	}
	method := checkMethod(v, req.Method, twoFactorMethods, false)
	code := strings.TrimSpace(req.OTPCode)
	switch method {
	case auth.FactorWebAuthn:
		assertion := strings.TrimSpace(string(req.Assertion))
		switch {
		case assertion == "" || assertion == "null":
			v.Fail("assertion", "Field required", "missing")
		case len(assertion) > maxAssertion || !strings.HasPrefix(assertion, "{"):
			v.Fail("assertion", "Input should be a WebAuthn assertion object", "dict_type")
		}
	case auth.FactorRecoveryCode:
		code = strings.ReplaceAll(code, " ", "")
		if v.Required("otp_code", code) {
			v.Check(recoveryCodeFormat.MatchString(code), "otp_code", recoveryCodeRuleText, "string_pattern_mismatch")
		}
	case auth.FactorTOTP:
		if v.Required("otp_code", code) {
			v.Check(totp.ValidCode(code), "otp_code", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
		}
	default:
		if v.Required("otp_code", req.OTPCode) {
			v.Check(otp.ValidCodeFormat(req.OTPCode), "otp_code", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
		}
		code = req.OTPCode
	}
	dev := checkDevice(v, "device_id", "device_name", "platform", device.Info{DeviceID: req.DeviceID, DeviceName: req.DeviceName, Platform: req.Platform, Timezone: req.Timezone})
	if err := v.Err(); err != nil {
		return err
	}
	signed, err := h.auth.VerifyTwoFactor(c.UserContext(), auth.TwoFactorVerification{
		Token: trim(req.TwoFactorToken), Method: method, Code: code, Assertion: req.Assertion, Device: dev, Client: client(c),
	})
	if err != nil {
		return failure(err, passwordFieldPlain, plainInvalidCode())
	}
	return wire.OK(c, http.StatusOK, "", tokensOf(signed))
}

type sendTwoFactorCodeRequest struct {
	TwoFactorToken string `json:"two_factor_token"`
	Method         string `json:"method"`
}

type twoFactorCodeSentBody struct {
	MaskedValue string `json:"masked_value"`
	ExpiresIn   int    `json:"expires_in"`
}

// POST /api/v1/auth/verify-2fa/send-code — sends a code of a two_factor challenge to the chosen
// channel (email, sms, whatsapp: one the challenge lists); throttled like other code sends.
func (h *Handler) sendTwoFactorCode(c *fiber.Ctx) error {
	var req sendTwoFactorCodeRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("two_factor_token", req.TwoFactorToken) {
		v.MaxLen("two_factor_token", req.TwoFactorToken, maxToken)
	}
	method := checkMethod(v, req.Method, codeChannelMethods, true)
	if err := v.Err(); err != nil {
		return err
	}
	sent, err := h.auth.SendTwoFactorCode(c.UserContext(), trim(req.TwoFactorToken), method, client(c).IP)
	if errors.Is(err, auth.ErrMethodNotOffered) {
		return wire.BadRequest(msgMethodNotOffered)
	}
	if err != nil {
		return failure(err, passwordFieldPlain, plainInvalidCode())
	}
	return wire.OK(c, http.StatusOK, "", twoFactorCodeSentBody{MaskedValue: sent.MaskedValue, ExpiresIn: int(sent.ExpiresIn.Seconds())})
}

// totpFailure maps the authenticator flows' errors (envelope style).
func totpFailure(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, auth.ErrTOTPNotOffered):
		return wire.NotFound(msgTOTPNotOffered)
	case errors.Is(err, auth.ErrTOTPEnrolled):
		return wire.Conflict(msgTOTPEnrolled)
	case errors.Is(err, auth.ErrTOTPNotPending):
		return wire.Conflict(msgTOTPNotPending)
	case errors.Is(err, auth.ErrTOTPNotEnrolled):
		return wire.NotFound(msgTOTPNotEnrolled)
	case errors.Is(err, auth.ErrInvalidCode):
		return wire.BadRequest(msgInvalidCode)
	}
	return credentialFailure(c, err, passwordFieldEnvelope)
}

type totpSetupBody struct {
	Secret     string `json:"secret"`
	OtpauthURI string `json:"otpauthUri"`
	QRCodePNG  string `json:"qrCodePng"`
}

// POST /api/v1/account/2fa/totp/setup (step-up) — a new authenticator secret, pending until
// confirmed: {secret, otpauthUri, qrCodePng}. 409 while one is confirmed (remove it first).
func (h *Handler) setupTOTP(c *fiber.Ctx) error {
	e, err := h.auth.SetupTOTP(c.UserContext(), caller(c))
	if err != nil {
		return totpFailure(c, err)
	}
	return wire.OK(c, http.StatusOK, msgTOTPSetUp, totpSetupBody{Secret: e.Secret, OtpauthURI: e.URI, QRCodePNG: e.QRCodePNG})
}

type totpConfirmRequest struct {
	Code string `json:"code"`
}

// POST /api/v1/account/2fa/totp/confirm (step-up) — {code}: a first code of the pending secret makes
// it the account's authenticator.
func (h *Handler) confirmTOTP(c *fiber.Ctx) error {
	var req totpConfirmRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	code := strings.TrimSpace(req.Code)
	if v.Required("code", code) {
		v.Check(totp.ValidCode(code), "code", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.ConfirmTOTP(c.UserContext(), caller(c), code); err != nil {
		return totpFailure(c, err)
	}
	return wire.OK(c, http.StatusOK, msgTOTPConfirmed, nil)
}

// DELETE /api/v1/account/2fa/totp (step-up) — removes the account's authenticator.
func (h *Handler) removeTOTP(c *fiber.Ctx) error {
	if err := h.auth.RemoveTOTP(c.UserContext(), caller(c)); err != nil {
		return totpFailure(c, err)
	}
	return wire.OK(c, http.StatusOK, msgTOTPRemoved, nil)
}

// secondFactorBody is one active second factor in security-info: type codes (with its channels),
// totp, or passkey (with the count).
type secondFactorBody struct {
	Type     string   `json:"type"`
	Channels []string `json:"channels,omitempty"`
	Count    int      `json:"count,omitempty"`
}

// secondFactorsInfo are security-info's second-factor fields, beside the documented ones.
type secondFactorsInfo struct {
	SecondFactors          []secondFactorBody `json:"secondFactors"`
	TOTPEnrolled           bool               `json:"totpEnrolled"`
	PasskeyCount           int                `json:"passkeyCount"`
	RecoveryCodesRemaining *int               `json:"recoveryCodesRemaining"` // null: recovery codes not offered
	RecoveryCodesLow       bool               `json:"recoveryCodesLow"`       // a factor is on and at most auth.RecoveryCodesLow codes remain
	RecoveryCodeLastUsedAt *string            `json:"recoveryCodeLastUsedAt"`
}

func toSecondFactorsInfo(info auth.SecurityInfo) secondFactorsInfo {
	f := info.Factors
	out := secondFactorsInfo{SecondFactors: []secondFactorBody{}, TOTPEnrolled: f.TOTP, PasskeyCount: f.Passkeys}
	if f.Passkeys > 0 {
		out.SecondFactors = append(out.SecondFactors, secondFactorBody{Type: auth.FactorWebAuthn, Count: f.Passkeys})
	}
	if f.TOTP {
		out.SecondFactors = append(out.SecondFactors, secondFactorBody{Type: auth.FactorTOTP})
	}
	if f.Codes {
		out.SecondFactors = append(out.SecondFactors, secondFactorBody{Type: "codes", Channels: append([]string{}, f.CodeChannels...)})
	}
	if f.RecoveryCodesOffered {
		n := f.RecoveryCodesRemaining
		out.RecoveryCodesRemaining = &n
		out.RecoveryCodesLow = f.On() && n <= auth.RecoveryCodesLow
	}
	if !info.RecoveryCodeLastUsedAt.IsZero() {
		at := wire.ActionTime(info.RecoveryCodeLastUsedAt)
		out.RecoveryCodeLastUsedAt = &at
	}
	return out
}

// hasJSONObject reports whether raw is a (non-null) JSON value sent for an object field.
func hasJSONObject(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

// checkFactorProof validates the step-up proof by authenticator code or passkey assertion.
func checkFactorProof(v *wire.Checker, code string, assertion json.RawMessage) auth.Proof {
	if hasJSONObject(assertion) {
		a := strings.TrimSpace(string(assertion))
		v.Check(len(a) <= maxAssertion && strings.HasPrefix(a, "{"), "assertion", "Input should be a WebAuthn assertion object", "dict_type")
		return auth.Proof{Assertion: assertion}
	}
	code = strings.TrimSpace(code)
	v.Check(totp.ValidCode(code), "totp", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
	return auth.Proof{TOTP: code}
}

// POST /api/v1/auth/reauth/passkey/begin — the WebAuthn request options (navigator.credentials.get)
// of a passkey step-up of the caller's session; the assertion goes to POST /api/v1/auth/reauth as
// {assertion}. 404 without passkeys; API keys are refused.
func (h *Handler) beginStepUpPasskey(c *fiber.Ctx) error {
	if authn.MustPrincipal(c).IsAPIKey() {
		return wire.Forbidden(msgAPIKeyNotAllowed)
	}
	opts, err := h.auth.BeginStepUpPasskey(c.UserContext(), caller(c))
	if errors.Is(err, auth.ErrNoPasskeys) {
		return wire.NotFound(msgNoPasskeys)
	}
	if err != nil {
		return credentialFailure(c, err, passwordFieldPlain)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusOK, "", opts)
}
