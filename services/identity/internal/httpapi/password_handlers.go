package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

type plainChangePasswordRequest struct {
	CurrentPassword     string `json:"current_password"`
	NewPassword         string `json:"new_password"`
	RevokeOtherSessions *bool  `json:"revoke_other_sessions"`
	// RevokeAPIKeys (not in the documents; default false) also ends every API key of the account.
	RevokeAPIKeys bool `json:"revoke_api_keys"`
}

// POST /api/v1/me/password (profile-api.txt) and POST /api/v1/auth/change-password (AudioPod):
// {current_password, new_password} → 200 {"message"}. A wrong current password is a 400 (plain
// style); policy failures are 422 on new_password; other sessions end unless
// revoke_other_sessions is false; every API key ends too when revoke_api_keys is true.
func (h *Handler) plainChangePassword(c *fiber.Ctx) error {
	var req plainChangePasswordRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if req.CurrentPassword == "" {
		v.Fail("current_password", "Field required", "missing")
	}
	v.MaxLen("current_password", req.CurrentPassword, maxProof)
	if req.NewPassword == "" {
		v.Fail(passwordFieldPlain, "Field required", "missing")
	}
	v.MaxLen(passwordFieldPlain, req.NewPassword, maxProof)
	if err := v.Err(); err != nil {
		return err
	}
	_, err := h.auth.ChangePassword(c.UserContext(), auth.PasswordChange{
		Caller: caller(c), Proof: auth.Proof{Password: req.CurrentPassword}, New: req.NewPassword,
		RevokeOthers: revokeOthers(req.RevokeOtherSessions), RevokeAPIKeys: req.RevokeAPIKeys,
	})
	if err != nil {
		return credentialFailure(c, err, passwordFieldPlain)
	}
	return wire.OK(c, http.StatusOK, msgPasswordChanged, nil)
}

type forgotPasswordRequest struct {
	Email        string `json:"email"`
	CaptchaToken string `json:"captcha_token"` // or the X-Captcha-Token header; asked for after many requests from one address
}

type codeOnItsWayBody struct {
	Message   string `json:"message"`
	ExpiresIn int    `json:"expires_in"`
}

// POST /api/v1/auth/forgot-password {email} — 202 with the same answer whether or not the address
// belongs to an account (the domain makes the timing alike too).
func (h *Handler) forgotPassword(c *fiber.Ctx) error {
	var req forgotPasswordRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	email := checkEmail(v, "email", req.Email)
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.CaptchaGate(c.UserContext(), client(c).IP, captchaToken(c, req.CaptchaToken), true); err != nil {
		return failure(err, "new_password", plainInvalidCode())
	}
	ttl, err := h.auth.StartPasswordReset(c.UserContext(), email, client(c).IP)
	if err != nil {
		return credentialFailure(c, err, passwordFieldPlain)
	}
	return wire.OK(c, http.StatusAccepted, "", codeOnItsWayBody{
		Message:   "If this address belongs to an account, a password reset code is on its way. Check your email.",
		ExpiresIn: int(ttl.Seconds()),
	})
}

type resetPasswordRequest struct {
	Email       string `json:"email"`
	OTPCode     string `json:"otp_code"`
	NewPassword string `json:"new_password"`
}

// POST /api/v1/auth/reset-password {email, otp_code, new_password} — 200; every session of the
// account ends. A wrong code and an unknown address answer the same 400.
func (h *Handler) resetPassword(c *fiber.Ctx) error {
	var req resetPasswordRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	email := checkEmail(v, "email", req.Email)
	if v.Required("otp_code", req.OTPCode) {
		v.Check(otp.ValidCodeFormat(req.OTPCode), "otp_code", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
	}
	if req.NewPassword == "" {
		v.Fail(passwordFieldPlain, "Field required", "missing")
	}
	v.MaxLen(passwordFieldPlain, req.NewPassword, maxProof)
	if err := v.Err(); err != nil {
		return err
	}
	err := h.auth.CompletePasswordReset(c.UserContext(), auth.PasswordReset{
		Email: email, Code: req.OTPCode, New: req.NewPassword, IP: client(c).IP,
	})
	if err != nil {
		return credentialFailure(c, err, passwordFieldPlain)
	}
	return wire.OK(c, http.StatusOK, "Your password has been reset. Sign in with the new password.", nil)
}

type reauthCodeBody struct {
	MaskedValue string `json:"masked_value"`
	ExpiresIn   int    `json:"expires_in"`
}

// POST /api/v1/auth/reauth/send-otp {channel} — a re-authentication code (docs/architecture.md) for
// the otp field of the re-auth gates.
func (h *Handler) sendReauthCode(c *fiber.Ctx) error {
	var req channelRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	channel := checkChannel(v, "channel", req.Channel)
	if err := v.Err(); err != nil {
		return err
	}
	who := caller(c)
	sent, err := h.auth.SendReauthCode(c.UserContext(), who.AccountID, channel, who.IP)
	if err != nil {
		return credentialFailure(c, err, passwordFieldPlain)
	}
	return wire.OK(c, http.StatusOK, "", reauthCodeBody{MaskedValue: sent.MaskedValue, ExpiresIn: int(sent.ExpiresIn.Seconds())})
}
