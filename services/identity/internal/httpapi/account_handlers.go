package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// Messages of the credential endpoints. The envelope ones follow account-api.txt's samples.
const (
	msgPasswordIncorrect   = "Password is incorrect"
	msgTokenInvalid        = "Invalid or expired token"
	msgNoDestination       = "No verified destination for this channel"
	msgPasswordAlreadySet  = "Password already set"
	msgSamePassword        = "New password must differ from the current password"
	msgPasswordsDiffer     = "Passwords do not match"
	msgTwoFactorOn         = "Two-factor authentication is already enabled"
	msgTwoFactorOff        = "Two-factor authentication is not enabled"
	msgTwoFactorNeedsDest  = "Verify your email or phone number before enabling two-factor authentication"
	msgProofRequired       = "Either the password or an OTP is required"
	msgCurrentOrOTP        = "Either currentPassword or otp must be provided"
	msgPlainWrongPassword  = "Current password is incorrect"
	msgPasswordChanged     = "Password changed successfully"
	msgPasswordChangedTop  = "Password changed"
	msgPasswordSet         = "Password set successfully"
	msgTwoFactorEnabled    = "Two-factor authentication enabled successfully"
	msgTwoFactorDisabled   = "Two-factor authentication disabled successfully"
	msgAccountDeactivated  = "Account deactivated successfully"
	msgSecurityInfo        = "Security information retrieved successfully"
	msgOTPSent             = "OTP sent"
	msgCanSetPassword      = "You can set a password"
	msgCannotSetPassword   = "Password already set"
	msgInvalidChannelValue = "Channel must be one of SMS, WHATSAPP, EMAIL, SMS_AND_WHATSAPP"
)

// Field names and limits of the credential endpoints.
const (
	passwordFieldEnvelope = "newPassword"
	confirmFieldEnvelope  = "confirmPassword"
	passwordFieldPlain    = "new_password"
	maxReason             = 500          // account-api.txt: reason, max 500 characters
	maxProof              = maxLoginPass // a password to check: more than the policy allows, not megabytes
)

// credentialFailure maps the credential flows' errors to the wire. Envelope paths answer 403 for a
// wrong password or code, as account-api.txt prescribes; plain paths answer 400, as the auth
// namespace does for a wrong code. passwordField names the field a policy failure is reported on.
func credentialFailure(c *fiber.Ctx, err error, passwordField string) error {
	envelope := wire.StyleFor(c.Path()) == wire.Envelope
	wrong := wire.BadRequest(msgPlainWrongPassword)
	badCode := wire.BadRequest(msgInvalidCode)
	if envelope {
		wrong, badCode = wire.Forbidden(msgPasswordIncorrect), wire.Forbidden(msgInvalidCode)
	}
	switch {
	case errors.Is(err, auth.ErrWrongPassword):
		return wrong
	case errors.Is(err, auth.ErrInvalidCode):
		return badCode
	case errors.Is(err, auth.ErrAccountGone):
		return wire.Unauthorized(msgTokenInvalid)
	case errors.Is(err, auth.ErrNoVerifiedDestination):
		return wire.BadRequest(msgNoDestination)
	case errors.Is(err, auth.ErrPasswordAlreadySet):
		return wire.BadRequest(msgPasswordAlreadySet)
	case errors.Is(err, auth.ErrSamePassword):
		return wire.Invalid(wire.Body(passwordField, msgSamePassword, "value_error"))
	case errors.Is(err, auth.ErrTwoFactorEnabled):
		return wire.BadRequest(msgTwoFactorOn)
	case errors.Is(err, auth.ErrTwoFactorDisabled):
		return wire.BadRequest(msgTwoFactorOff)
	case errors.Is(err, auth.ErrTwoFactorNeedsChannel):
		return wire.BadRequest(msgTwoFactorNeedsDest)
	}
	return failure(err, passwordField, badCode)
}

// caller is the signed-in owner of the request (the route is behind authn.Middleware).
func caller(c *fiber.Ctx) auth.Caller {
	p := authn.MustPrincipal(c)
	return auth.Caller{AccountID: p.AccountID, SessionID: p.SessionID, IP: client(c).IP, StepUpToken: c.Get(HeaderReauthToken)}
}

// revokeOthers reads the optional revoke-other-sessions flag: true unless the body says false.
func revokeOthers(flag *bool) bool { return flag == nil || *flag }

// checkChannel validates and normalizes an OTP channel field.
func checkChannel(v *wire.Checker, field, channel string) string {
	ch := strings.ToUpper(strings.TrimSpace(channel))
	if v.Required(field, ch) {
		ok := false
		for _, allowed := range auth.Channels {
			ok = ok || ch == allowed
		}
		v.Check(ok, field, msgInvalidChannelValue, "enum")
	}
	return ch
}

// checkNewPassword validates a new password and its confirmation (envelope paths). The policy itself
// is the domain's (password.Check), applied before any code is spent.
func checkNewPassword(v *wire.Checker, newPassword, confirm string) {
	if v.Required(passwordFieldEnvelope, newPassword) {
		v.MaxLen(passwordFieldEnvelope, newPassword, maxProof)
		if n := len([]rune(newPassword)); n < password.MinLength {
			v.Fail(passwordFieldEnvelope, "Password must be at least 8 characters", "string_too_short")
		}
	}
	if v.Required(confirmFieldEnvelope, confirm) && newPassword != "" && confirm != newPassword {
		v.Fail(confirmFieldEnvelope, msgPasswordsDiffer, "value_error")
	}
}

// checkProof validates a re-authentication body: password or otp, at least one.
func checkProof(v *wire.Checker, passwordField, pw, code string) auth.Proof {
	v.MaxLen(passwordField, pw, maxProof)
	if pw == "" && strings.TrimSpace(code) == "" {
		v.Fail(passwordField, msgProofRequired, "missing")
	}
	if code != "" && pw == "" {
		v.Check(otp.ValidCodeFormat(code), "otp", "OTP must be exactly 6 digits", "string_pattern_mismatch")
	}
	return auth.Proof{Password: pw, OTP: code}
}

type securityStrengthBody struct {
	Score           int               `json:"score"`
	Level           string            `json:"level"`
	Description     string            `json:"description"`
	Recommendations []string          `json:"recommendations"`
	Factors         []factorBody      `json:"factors"`
	Improvements    []improvementBody `json:"improvements"`
}

type factorBody struct {
	Factor string `json:"factor"`
	Weight int    `json:"weight"`
	Points int    `json:"points"`
	Met    bool   `json:"met"`
	State  string `json:"state"`
}

type improvementBody struct {
	Recommendation string `json:"recommendation"`
	Factor         string `json:"factor"`
	Points         int    `json:"points"`
}

type securityInfoBody struct {
	IsEmailVerified    bool                 `json:"isEmailVerified"`
	IsPhoneVerified    bool                 `json:"isPhoneVerified"`
	IsTwoFactorEnabled bool                 `json:"isTwoFactorEnabled"`
	IsAccountLocked    bool                 `json:"isAccountLocked"`
	LastPasswordChange *string              `json:"lastPasswordChange"` // null: no password
	AccountCreatedAt   string               `json:"accountCreatedAt"`
	Roles              []string             `json:"roles"`
	SecurityStrength   securityStrengthBody `json:"securityStrength"`
	secondFactorsInfo
}

// GET /api/v1/account/security-info — account-api.txt item 1. The account is the token's subject;
// nothing in the request can name another one.
func (h *Handler) securityInfo(c *fiber.Ctx) error {
	info, err := h.auth.SecurityInfo(c.UserContext(), authn.MustPrincipal(c).AccountID)
	if err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	c.Set(fiber.HeaderCacheControl, "no-store") // personal: no shared cache may keep it
	return wire.OK(c, http.StatusOK, msgSecurityInfo, h.withDeletion(c, toSecurityInfoBody(info)))
}

func toSecurityInfoBody(info auth.SecurityInfo) securityInfoBody {
	st := info.Strength
	body := securityInfoBody{
		IsEmailVerified: info.EmailVerified, IsPhoneVerified: info.PhoneVerified, IsTwoFactorEnabled: info.TwoFactorEnabled,
		IsAccountLocked: info.Locked, AccountCreatedAt: wire.ActionTime(info.CreatedAt), Roles: info.Roles,
		SecurityStrength: securityStrengthBody{
			Score: st.Score, Level: string(st.Level), Description: st.Description,
			Recommendations: []string{}, Factors: []factorBody{}, Improvements: []improvementBody{},
		},
	}
	for _, f := range st.Factors {
		body.SecurityStrength.Factors = append(body.SecurityStrength.Factors,
			factorBody{Factor: f.Name, Weight: f.Weight, Points: f.Points, Met: f.Points > 0, State: f.State})
	}
	for _, r := range st.Recommendations {
		body.SecurityStrength.Recommendations = append(body.SecurityStrength.Recommendations, r.Text)
		body.SecurityStrength.Improvements = append(body.SecurityStrength.Improvements,
			improvementBody{Recommendation: r.Text, Factor: r.Factor, Points: r.Points})
	}
	body.secondFactorsInfo = toSecondFactorsInfo(info)
	if !info.PasswordChangedAt.IsZero() {
		at := wire.ActionTime(info.PasswordChangedAt)
		body.LastPasswordChange = &at
	}
	return body
}

type proofRequest struct {
	Password            string `json:"password"`
	OTP                 string `json:"otp"`
	RevokeOtherSessions *bool  `json:"revokeOtherSessions"`
}

// POST /api/v1/account/2fa/enable and /2fa/disable — account-api.txt items 2 and 3. The password
// (or a re-authentication code in otp) is the gate; other sessions end unless revokeOtherSessions
// is false.
func (h *Handler) twoFactor(enable bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var req proofRequest
		if err := wire.Decode(c, &req); err != nil {
			return err
		}
		v := wire.NewChecker()
		proof, err := checkProofOrStepUp(c, v, "password", req.Password, req.OTP)
		if err != nil {
			return err
		}
		if err := v.Err(); err != nil {
			return err
		}
		err = h.auth.SetTwoFactor(c.UserContext(), auth.TwoFactorChange{
			Caller: caller(c), Enable: enable, Proof: proof, RevokeOthers: revokeOthers(req.RevokeOtherSessions),
		})
		if werr, ok := stepUpFailure(c, err); ok {
			return werr
		}
		if err != nil {
			return credentialFailure(c, err, passwordFieldEnvelope)
		}
		msg := msgTwoFactorDisabled
		if enable {
			msg = msgTwoFactorEnabled
		}
		return wire.OK(c, http.StatusOK, msg, nil)
	}
}

type deactivateRequest struct {
	Password string `json:"password"`
	OTP      string `json:"otp"`
	Reason   string `json:"reason"`
}

// DELETE /api/v1/account/deactivate — account-api.txt item 4.
func (h *Handler) deactivate(c *fiber.Ctx) error {
	var req deactivateRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	proof := checkProof(v, "password", req.Password, req.OTP)
	v.MaxLen("reason", req.Reason, maxReason)
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.Deactivate(c.UserContext(), caller(c), proof, trim(req.Reason)); err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	return wire.OK(c, http.StatusOK, msgAccountDeactivated, nil)
}

type passwordResultBody struct {
	Success     bool   `json:"success"`
	HadPassword bool   `json:"hadPassword"`
	Message     string `json:"message"`
}

func passwordResult(hadPassword bool) passwordResultBody {
	msg := msgPasswordChanged
	if !hadPassword {
		msg = msgPasswordSet
	}
	return passwordResultBody{Success: true, HadPassword: hadPassword, Message: msg}
}

type changePasswordRequest struct {
	CurrentPassword     string `json:"currentPassword"`
	OTP                 string `json:"otp"`
	NewPassword         string `json:"newPassword"`
	ConfirmPassword     string `json:"confirmPassword"`
	RevokeOtherSessions *bool  `json:"revokeOtherSessions"`
	// RevokeAPIKeys (not in account-api.txt; default false) also ends every API key of the account.
	RevokeAPIKeys bool `json:"revokeApiKeys"`
}

// POST /api/v1/account/password/change — account-api.txt item 5: currentPassword, or otp (a
// re-authentication code) for passwordless accounts and forgotten passwords.
func (h *Handler) changePassword(c *fiber.Ctx) error {
	var req changePasswordRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	v.MaxLen("currentPassword", req.CurrentPassword, maxProof)
	if req.CurrentPassword == "" && strings.TrimSpace(req.OTP) == "" {
		v.Fail("currentPassword", msgCurrentOrOTP, "missing")
	} else if req.CurrentPassword == "" {
		v.Check(otp.ValidCodeFormat(req.OTP), "otp", "OTP must be exactly 6 digits", "string_pattern_mismatch")
	}
	checkNewPassword(v, req.NewPassword, req.ConfirmPassword)
	if err := v.Err(); err != nil {
		return err
	}
	had, err := h.auth.ChangePassword(c.UserContext(), auth.PasswordChange{
		Caller: caller(c), Proof: auth.Proof{Password: req.CurrentPassword, OTP: req.OTP}, New: req.NewPassword,
		RevokeOthers: revokeOthers(req.RevokeOtherSessions), RevokeAPIKeys: req.RevokeAPIKeys,
	})
	if err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	return wire.OK(c, http.StatusOK, msgPasswordChangedTop, passwordResult(had))
}

type channelRequest struct {
	Channel string `json:"channel"`
}

type tempTokenBody struct {
	TempToken   string `json:"tempToken"`
	MaskedValue string `json:"maskedValue"`
	ExpiresIn   int    `json:"expiresIn"`
}

// POST /api/v1/account/password/change-with-otp/send-otp — account-api.txt item 6.
func (h *Handler) sendPasswordChangeCode(c *fiber.Ctx) error {
	var req channelRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	channel := checkChannel(v, "channel", req.Channel)
	if err := v.Err(); err != nil {
		return err
	}
	sent, err := h.auth.SendPasswordChangeCode(c.UserContext(), caller(c), channel)
	if err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	return wire.OK(c, http.StatusOK, msgOTPSent, tempTokenBody{
		TempToken: sent.Token, MaskedValue: sent.MaskedValue, ExpiresIn: int(sent.ExpiresIn.Seconds()),
	})
}

type changeWithCodeRequest struct {
	TempToken           string `json:"tempToken"`
	OTP                 string `json:"otp"`
	NewPassword         string `json:"newPassword"`
	ConfirmPassword     string `json:"confirmPassword"`
	RevokeOtherSessions *bool  `json:"revokeOtherSessions"`
	// RevokeAPIKeys (not in account-api.txt; default false) also ends every API key of the account.
	RevokeAPIKeys bool `json:"revokeApiKeys"`
}

// POST /api/v1/account/password/change-with-otp/verify — account-api.txt item 7.
func (h *Handler) changePasswordWithCode(c *fiber.Ctx) error {
	var req changeWithCodeRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("tempToken", req.TempToken) {
		v.MaxLen("tempToken", req.TempToken, maxToken)
	}
	if v.Required("otp", req.OTP) {
		v.Check(len(req.OTP) == 6, "otp", "OTP must be exactly 6 characters", "string_pattern_mismatch")
	}
	checkNewPassword(v, req.NewPassword, req.ConfirmPassword)
	if err := v.Err(); err != nil {
		return err
	}
	had, err := h.auth.ChangePasswordWithCode(c.UserContext(), auth.CodePasswordChange{
		Caller: caller(c), Token: trim(req.TempToken), Code: req.OTP, New: req.NewPassword,
		RevokeOthers: revokeOthers(req.RevokeOtherSessions), RevokeAPIKeys: req.RevokeAPIKeys,
	})
	if err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	return wire.OK(c, http.StatusOK, msgPasswordChanged, passwordResult(had))
}

type canSetBody struct {
	CanSetPassword bool   `json:"canSetPassword"`
	AuthProvider   string `json:"authProvider"`
}

// GET /api/v1/account/password/can-set — account-api.txt item 8.
func (h *Handler) canSetPassword(c *fiber.Ctx) error {
	can, provider, err := h.auth.CanSetPassword(c.UserContext(), authn.MustPrincipal(c).AccountID)
	if err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	msg := msgCannotSetPassword
	if can {
		msg = msgCanSetPassword
	}
	return wire.OK(c, http.StatusOK, msg, canSetBody{CanSetPassword: can, AuthProvider: provider})
}

type setPasswordRequest struct {
	NewPassword     string `json:"newPassword"`
	ConfirmPassword string `json:"confirmPassword"`
}

// POST /api/v1/account/password/set — account-api.txt item 9: the first password of a passwordless
// account.
func (h *Handler) setPassword(c *fiber.Ctx) error {
	var req setPasswordRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	checkNewPassword(v, req.NewPassword, req.ConfirmPassword)
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.SetPassword(c.UserContext(), caller(c), req.NewPassword); err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	return wire.OK(c, http.StatusOK, msgPasswordSet, passwordResult(false))
}
