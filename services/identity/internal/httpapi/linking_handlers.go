package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/e164"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// Limits of the linking requests.
const (
	maxIDToken     = 8192
	maxNonce       = 256
	maxPhoneInput  = 32
	maxCountryCode = 8
)

// Messages of the linking endpoints.
const (
	msgLastSignInMethod    = "Cannot unlink last auth provider"
	msgLastVerifiedContact = "Cannot unlink the only verified contact; verify a phone number first"
	msgInvalidPhone        = "Invalid phone number format. Use international format (+1234567890)"
	msgInvalidIDToken      = "Invalid ID token"
	msgProviderEmailInUse  = "An account with this email address already exists. Sign in to it and link the provider from your account settings."
)

// registerLinking mounts the device, contact and provider routes (part B of issue 3). Changing an
// e-mail, a phone or a provider needs a step-up (requireStepUp: X-Reauth-Token).
func registerLinking(app *fiber.App, requireAuth fiber.Handler, h *Handler) {
	// Envelope style (account-api.txt items 21–27).
	app.Get("/api/v1/account/devices", requireAuth, h.trustedDevices)                                  // 21
	app.Delete("/api/v1/account/devices/:deviceKeyId", requireAuth, h.revokeDevice)                    // 22
	app.Post("/api/v1/account/link/email/initiate", requireAuth, h.requireStepUp, h.initiateEmailLink) // 23
	app.Post("/api/v1/account/link/email/verify", requireAuth, h.requireStepUp, h.verifyEmailLink)     // 24
	app.Delete("/api/v1/account/link/email", requireAuth, h.requireStepUp, h.unlinkEmail)              // 25
	app.Post("/api/v1/account/link/oauth", requireAuth, h.requireStepUp, h.linkOAuth)                  // 26
	app.Delete("/api/v1/account/link/oauth/:provider", requireAuth, h.requireStepUp, h.unlinkOAuth)    // 27

	// Plain style: profile-api.txt, the AudioPod paths of DESIGN.md, and provider sign-in.
	app.Post("/api/v1/me/verify-email", requireAuth, h.requestEmailVerification)
	app.Post("/api/v1/me/verify-email/confirm", requireAuth, h.confirmEmailVerification)
	app.Post("/api/v1/auth/send-phone-verification", requireAuth, h.requireStepUp, h.sendPhoneVerification)
	app.Post("/api/v1/auth/verify-phone", requireAuth, h.requireStepUp, h.verifyPhone)
	app.Get("/api/v1/auth/account-providers", authn.SignedInOnly(requireAuth), h.listProviders)
	app.Post("/api/v1/auth/account-providers", requireAuth, h.requireStepUp, h.linkProvider)
	app.Delete("/api/v1/auth/account-providers/:provider", requireAuth, h.requireStepUp, h.unlinkProvider)
	app.Get("/api/v1/auth/devices", requireAuth, h.devices)
	app.Post("/api/v1/auth/oauth/:provider", h.oauthSignIn)
}

// linkFailure maps the errors of the linking flows; others go to failure. envelope selects the
// account API's conventions (a wrong code is a 403 there).
func linkFailure(err error, envelope bool) error {
	invalidCode := plainInvalidCode()
	if envelope {
		invalidCode = wire.Forbidden(msgInvalidCode)
	}
	switch {
	case errors.Is(err, auth.ErrEmailAlreadyLinked):
		return wire.BadRequest("Email already linked to this account")
	case errors.Is(err, auth.ErrNoEmail):
		return wire.BadRequest("No email address on this account")
	case errors.Is(err, auth.ErrEmailAlreadyVerified):
		return wire.BadRequest("Email already verified")
	case errors.Is(err, auth.ErrPhoneAlreadyVerified):
		return wire.BadRequest("Phone number already verified")
	case errors.Is(err, auth.ErrEmailTaken):
		if envelope { // the account API's "item already exists"
			return wire.BadRequest("Email address is already in use")
		}
		return wire.Conflict("Email address is already in use")
	case errors.Is(err, auth.ErrPhoneTaken):
		return wire.Conflict("Phone number is already in use")
	case errors.Is(err, auth.ErrLastSignInMethod):
		return wire.BadRequest(msgLastSignInMethod)
	case errors.Is(err, auth.ErrLastVerifiedContact):
		return wire.BadRequest(msgLastVerifiedContact)
	case errors.Is(err, auth.ErrProviderEmailUnverified):
		return wire.BadRequest("The provider account has no verified email address")
	case errors.Is(err, auth.ErrProviderEmailInUse):
		return wire.Conflict(msgProviderEmailInUse)
	case errors.Is(err, oauth.ErrNotLinked):
		return wire.NotFound("Provider not linked")
	case errors.Is(err, oauth.ErrAlreadyLinked):
		return wire.Conflict("Provider already linked to this account")
	case errors.Is(err, oauth.ErrLinkedElsewhere):
		return wire.Conflict("This provider account is already linked to another account")
	case errors.Is(err, oauth.ErrProviderDisabled):
		return wire.BadRequest("This sign-in provider is not enabled")
	case errors.Is(err, oauth.ErrInvalidToken):
		return wire.BadRequest(msgInvalidIDToken)
	case errors.Is(err, oauth.ErrKeysUnavailable):
		return &unavailableError{err}
	case errors.Is(err, device.ErrNotFound):
		return wire.NotFound("Device not found")
	case errors.Is(err, auth.ErrAccountGone):
		return wire.Unauthorized(msgTokenInvalid)
	case errors.Is(err, account.ErrNotFound):
		return wire.NotFound("Account not found")
	}
	return failure(err, "password", invalidCode)
}

func isoTime(t time.Time) string { return wire.ActionTime(t) }

// --- account API: devices ---

type trustedDeviceBody struct {
	ID         string  `json:"id"`
	DeviceID   string  `json:"deviceId"`
	DeviceName *string `json:"deviceName"`
	Platform   *string `json:"platform"`
	LastUsedAt string  `json:"lastUsedAt"`
	CreatedAt  string  `json:"createdAt"`
	// IsCurrent marks the device named by X-Device-Id (or, without it, the device the caller's
	// session was started on).
	IsCurrent bool `json:"isCurrent"`
}

// GET /api/v1/account/devices — item 21.
func (h *Handler) trustedDevices(c *fiber.Ctx) error {
	p := caller(c)
	current := strings.TrimSpace(c.Get("X-Device-Id"))
	v := wire.NewChecker()
	v.Loc = "header"
	v.MaxLen("X-Device-Id", current, maxDeviceID)
	if err := v.Err(); err != nil {
		return err
	}
	list, sessionDevice, err := h.auth.ListDevices(c.UserContext(), p.AccountID, p.SessionID)
	if err != nil {
		return linkFailure(err, true)
	}
	if current == "" {
		current = sessionDevice
	}
	out := make([]trustedDeviceBody, len(list))
	for i, d := range list {
		out[i] = trustedDeviceBody{ID: d.ID, DeviceID: d.DeviceID, DeviceName: optional(d.DeviceName), Platform: optional(d.Platform),
			LastUsedAt: isoTime(d.LastUsedAt), CreatedAt: isoTime(d.CreatedAt), IsCurrent: current != "" && d.DeviceID == current}
	}
	return wire.OK(c, http.StatusOK, "Devices retrieved", out)
}

// validUUID accepts the canonical 36-character form only.
func validUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// DELETE /api/v1/account/devices/{deviceKeyId} — item 22. Another account's device is a 404.
func (h *Handler) revokeDevice(c *fiber.Ctx) error {
	id := c.Params("deviceKeyId")
	if !validUUID(id) {
		return wire.Invalid(wire.PathParam("deviceKeyId", "Must be a valid UUID", "uuid_parsing"))
	}
	if err := h.auth.RevokeDevice(c.UserContext(), caller(c).AccountID, strings.ToLower(id)); err != nil {
		return linkFailure(err, true)
	}
	return wire.OK(c, http.StatusOK, "Device revoked", nil)
}

// --- account API: e-mail linking ---

type initiateEmailLinkRequest struct {
	Email string `json:"email"`
}

type initiateEmailLinkBody struct {
	TempToken   string `json:"tempToken"`
	MaskedValue string `json:"maskedValue"`
	ExpiresIn   int    `json:"expiresIn"`
	Linked      bool   `json:"linked"`
	Message     string `json:"message"`
}

// POST /api/v1/account/link/email/initiate — item 23.
func (h *Handler) initiateEmailLink(c *fiber.Ctx) error {
	var req initiateEmailLinkRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	email := checkEmail(v, "email", req.Email)
	if err := v.Err(); err != nil {
		return err
	}
	sent, err := h.auth.StartEmailLink(c.UserContext(), client(c).IP, caller(c).AccountID, email)
	if err != nil {
		return linkFailure(err, true)
	}
	return wire.OK(c, http.StatusOK, "Verification code sent", initiateEmailLinkBody{
		TempToken: sent.Token, MaskedValue: sent.MaskedValue, ExpiresIn: int(sent.ExpiresIn.Seconds()),
		Message: "Verification code sent to " + sent.MaskedValue,
	})
}

type verifyEmailLinkRequest struct {
	TempToken string `json:"tempToken"`
	OTP       string `json:"otp"`
}

type linkedBody struct {
	Linked  bool   `json:"linked"`
	Message string `json:"message"`
}

type unlinkedBody struct {
	Unlinked bool   `json:"unlinked"`
	Message  string `json:"message"`
}

// POST /api/v1/account/link/email/verify — item 24.
func (h *Handler) verifyEmailLink(c *fiber.Ctx) error {
	var req verifyEmailLinkRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("tempToken", req.TempToken) {
		v.MaxLen("tempToken", req.TempToken, maxToken)
	}
	if v.Required("otp", req.OTP) {
		v.Check(otp.ValidCodeFormat(req.OTP), "otp", "OTP must be exactly 6 digits", "string_pattern_mismatch")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.CompleteEmailLink(c.UserContext(), client(c).IP, caller(c).AccountID, strings.TrimSpace(req.TempToken), req.OTP); err != nil {
		return linkFailure(err, true)
	}
	return wire.OK(c, http.StatusOK, "Email linked successfully", linkedBody{Linked: true, Message: "Email linked successfully"})
}

// DELETE /api/v1/account/link/email — item 25.
func (h *Handler) unlinkEmail(c *fiber.Ctx) error {
	if err := h.auth.UnlinkEmail(c.UserContext(), caller(c).AccountID); err != nil {
		return linkFailure(err, true)
	}
	return wire.OK(c, http.StatusOK, "Email unlinked", unlinkedBody{Unlinked: true, Message: "Email unlinked successfully"})
}

// --- account API: OAuth linking ---

type linkOAuthRequest struct {
	Provider string `json:"provider"`
	IDToken  string `json:"idToken"`
	Nonce    string `json:"nonce"`
}

// accountAPIProvider accepts the account API's provider enum (GOOGLE, APPLE) in any case.
func accountAPIProvider(v *wire.Checker, field, value string) string {
	p, ok := oauth.Normalize(value)
	if !ok || (p != oauth.Google && p != oauth.Apple) {
		v.Fail(field, "Input should be 'GOOGLE' or 'APPLE'", "enum")
		return ""
	}
	return p
}

// POST /api/v1/account/link/oauth — item 26.
func (h *Handler) linkOAuth(c *fiber.Ctx) error {
	var req linkOAuthRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	provider := ""
	if v.Required("provider", req.Provider) {
		provider = accountAPIProvider(v, "provider", req.Provider)
	}
	if v.Required("idToken", req.IDToken) {
		v.MaxLen("idToken", req.IDToken, maxIDToken)
	}
	v.MaxLen("nonce", req.Nonce, maxNonce)
	if err := v.Err(); err != nil {
		return err
	}
	if _, err := h.auth.LinkProvider(c.UserContext(), caller(c).AccountID, provider, strings.TrimSpace(req.IDToken), req.Nonce); err != nil {
		return linkFailure(err, true)
	}
	msg := strings.ToUpper(provider) + " linked successfully"
	return wire.OK(c, http.StatusOK, msg, linkedBody{Linked: true, Message: msg})
}

// DELETE /api/v1/account/link/oauth/{provider} — item 27 (GOOGLE or APPLE, any case).
func (h *Handler) unlinkOAuth(c *fiber.Ctx) error {
	v := wire.NewChecker()
	v.Loc = "path"
	provider := accountAPIProvider(v, "provider", c.Params("provider"))
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.UnlinkProvider(c.UserContext(), caller(c).AccountID, provider); err != nil {
		return linkFailure(err, true)
	}
	name := strings.ToUpper(provider)
	return wire.OK(c, http.StatusOK, name+" unlinked", unlinkedBody{Unlinked: true, Message: name + " unlinked successfully"})
}

// --- profile API: e-mail verification ---

type codeSentBody struct {
	Message     string `json:"message"`
	MaskedValue string `json:"masked_value"`
	ExpiresIn   int    `json:"expires_in"`
}

// POST /api/v1/me/verify-email — sends a code to the account's unverified e-mail.
func (h *Handler) requestEmailVerification(c *fiber.Ctx) error {
	sent, err := h.auth.SendEmailVerification(c.UserContext(), client(c).IP, caller(c).AccountID)
	if err != nil {
		return linkFailure(err, false)
	}
	return wire.OK(c, http.StatusOK, "", codeSentBody{
		Message: "Verification code sent to " + sent.MaskedValue, MaskedValue: sent.MaskedValue, ExpiresIn: int(sent.ExpiresIn.Seconds()),
	})
}

type confirmEmailRequest struct {
	Code string `json:"code"`
}

type verifiedBody struct {
	Verified bool   `json:"verified"`
	Message  string `json:"message"`
}

// POST /api/v1/me/verify-email/confirm {code}.
func (h *Handler) confirmEmailVerification(c *fiber.Ctx) error {
	var req confirmEmailRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("code", req.Code) {
		v.Check(otp.ValidCodeFormat(req.Code), "code", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.ConfirmEmailVerification(c.UserContext(), client(c).IP, caller(c).AccountID, req.Code); err != nil {
		return linkFailure(err, false)
	}
	return wire.OK(c, http.StatusOK, "", verifiedBody{Verified: true, Message: "Email verified"})
}

// --- AudioPod paths: phone verification ---

type sendPhoneRequest struct {
	PhoneNumber string `json:"phone_number"`
	CountryCode string `json:"country_code"`
}

type sendPhoneBody struct {
	Message          string `json:"message"`
	ExpiresInMinutes int    `json:"expires_in_minutes"`
}

// checkPhone validates the phone fields; a number that is present but not in international form is the
// documented 400, reported after the 422s.
func checkPhone(v *wire.Checker, number, country string) (string, error) {
	if v.Required("phone_number", number) {
		v.MaxLen("phone_number", number, maxPhoneInput)
	}
	v.MaxLen("country_code", country, maxCountryCode)
	if err := v.Err(); err != nil {
		return "", err
	}
	n, err := e164.Normalize(number, country)
	if err != nil {
		return "", wire.BadRequest(msgInvalidPhone)
	}
	return n, nil
}

// POST /api/v1/auth/send-phone-verification {phone_number, country_code}.
func (h *Handler) sendPhoneVerification(c *fiber.Ctx) error {
	var req sendPhoneRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	number, err := checkPhone(wire.NewChecker(), req.PhoneNumber, req.CountryCode)
	if err != nil {
		return err
	}
	sent, err := h.auth.SendPhoneVerification(c.UserContext(), client(c).IP, caller(c).AccountID, number)
	if err != nil {
		return linkFailure(err, false)
	}
	return wire.OK(c, http.StatusOK, "", sendPhoneBody{
		Message: "Verification code sent to " + sent.MaskedValue, ExpiresInMinutes: int(sent.ExpiresIn.Minutes()),
	})
}

type verifyPhoneRequest struct {
	PhoneNumber string `json:"phone_number"`
	OTPCode     string `json:"otp_code"`
	CountryCode string `json:"country_code"`
}

// POST /api/v1/auth/verify-phone {phone_number, otp_code}.
func (h *Handler) verifyPhone(c *fiber.Ctx) error {
	var req verifyPhoneRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("otp_code", req.OTPCode) {
		v.Check(otp.ValidCodeFormat(req.OTPCode), "otp_code", "String should match pattern '^[0-9]{6}$'", "string_pattern_mismatch")
	}
	number, err := checkPhone(v, req.PhoneNumber, req.CountryCode)
	if err != nil {
		return err
	}
	if err := h.auth.VerifyPhone(c.UserContext(), client(c).IP, caller(c).AccountID, number, req.OTPCode); err != nil {
		return linkFailure(err, false)
	}
	return wire.OK(c, http.StatusOK, "", verifiedBody{Verified: true, Message: "Phone number verified"})
}

// --- AudioPod paths: providers ---

// providerBody is a linked provider as the AudioPod account page shows it (provider,
// provider_account_id, type), plus the provider account's e-mail and when it was linked.
type providerBody struct {
	Provider          string  `json:"provider"`
	ProviderAccountID string  `json:"provider_account_id"`
	Type              string  `json:"type"`
	Email             *string `json:"email"`
	LinkedAt          string  `json:"linked_at"`
}

func providerOf(l oauth.Link) providerBody {
	return providerBody{Provider: l.Provider, ProviderAccountID: l.Subject, Type: "oauth", Email: optional(l.Email),
		LinkedAt: l.LinkedAt.UTC().Format(time.RFC3339)}
}

// GET /api/v1/auth/account-providers — the linked providers.
func (h *Handler) listProviders(c *fiber.Ctx) error {
	links, err := h.auth.ListProviders(c.UserContext(), caller(c).AccountID)
	if err != nil {
		return linkFailure(err, false)
	}
	out := make([]providerBody, len(links))
	for i, l := range links {
		out[i] = providerOf(l)
	}
	return wire.OK(c, http.StatusOK, "", out)
}

type linkProviderRequest struct {
	Provider string `json:"provider"`
	providerProofRequest
}

// plainProvider accepts google, github or apple in any case.
func plainProvider(v *wire.Checker, field, value string) string {
	p, ok := oauth.Normalize(value)
	if !ok {
		v.Fail(field, "Input should be 'google', 'github' or 'apple'", "enum")
	}
	return p
}

// POST /api/v1/auth/account-providers — the AudioPod body {provider, provider_account_id, type:
// "oauth", access_token, refresh_token, expires_at, scope} (Google, GitHub: the access token's owner,
// asked at the provider's user-info endpoint, must be provider_account_id) or {provider, id_token,
// nonce?} (Google, Apple, GitHub through an OIDC bridge) — 201 with the linked provider; 400 for a
// token that does not prove provider_account_id; 409 when already linked to this or another account.
func (h *Handler) linkProvider(c *fiber.Ctx) error {
	var req linkProviderRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	provider := ""
	if v.Required("provider", req.Provider) {
		provider = plainProvider(v, "provider", req.Provider)
	}
	proof := req.check(v, true)
	if err := v.Err(); err != nil {
		return err
	}
	l, err := h.auth.LinkProviderWith(c.UserContext(), caller(c).AccountID, provider, proof)
	if perr := proofFailure(err, proof, http.StatusBadRequest); perr != nil {
		return perr
	}
	if err != nil {
		return linkFailure(err, false)
	}
	return wire.OK(c, http.StatusCreated, "", providerOf(l))
}

// DELETE /api/v1/auth/account-providers/{provider}.
func (h *Handler) unlinkProvider(c *fiber.Ctx) error {
	v := wire.NewChecker()
	v.Loc = "path"
	provider := plainProvider(v, "provider", c.Params("provider"))
	if err := v.Err(); err != nil {
		return err
	}
	if err := h.auth.UnlinkProvider(c.UserContext(), caller(c).AccountID, provider); err != nil {
		return linkFailure(err, false)
	}
	return wire.OK(c, http.StatusOK, "", fiber.Map{"message": provider + " unlinked", "provider": provider, "unlinked": true})
}

// --- AudioPod paths: devices ---

// deviceBody is one entry of GET /api/v1/auth/devices. Identity knows the devices the owner
// trusted: is_active and is_trusted are false only for a revoked one (listed with
// include_inactive=true). location is the approximate location of the device's latest sign-in, from
// the ingress's LOCATION_HEADER (as the session service records it), null when unknown. is_blocked
// is always false: Latchkey does not block devices (a revoked device simply needs verification again).
type deviceBody struct {
	ID                string  `json:"id"`
	DeviceFingerprint string  `json:"device_fingerprint"`
	DisplayName       *string `json:"display_name"`
	Browser           *string `json:"browser"`
	OS                *string `json:"os"`
	DeviceType        *string `json:"device_type"`
	IPAddress         *string `json:"ip_address"`
	Location          *string `json:"location"`
	Timezone          *string `json:"timezone"`
	FirstSeen         string  `json:"first_seen"`
	LastSeen          string  `json:"last_seen"`
	LoginCount        int     `json:"login_count"`
	LastLoginMethod   *string `json:"last_login_method"`
	IsActive          bool    `json:"is_active"`
	IsBlocked         bool    `json:"is_blocked"`
	IsCurrentSession  bool    `json:"is_current_session"`
	CurrentSessionID  *string `json:"current_session_id"`
	IsTrusted         bool    `json:"is_trusted"`
}

// devicesBody is GET /api/v1/auth/devices: the devices listed, counts over them, and the caller's.
type devicesBody struct {
	Devices       []deviceBody `json:"devices"`
	TotalCount    int          `json:"total_count"`
	ActiveCount   int          `json:"active_count"`
	TrustedCount  int          `json:"trusted_count"`
	CurrentDevice *deviceBody  `json:"current_device"`
}

// queryBool reads a boolean query parameter as FastAPI does (true/false, 1/0, yes/no, on/off).
func queryBool(c *fiber.Ctx, name string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(c.Query(name))) {
	case "", "false", "0", "no", "off":
		return false, nil
	case "true", "1", "yes", "on":
		return true, nil
	}
	return false, wire.Invalid(wire.Query(name, "Input should be a valid boolean, unable to interpret input", "bool_parsing"))
}

// GET /api/v1/auth/devices[?include_inactive=true] — is_current_session and current_session_id
// mark the device the access token's session was started on; revoked devices only with
// include_inactive=true.
func (h *Handler) devices(c *fiber.Ctx) error {
	p := caller(c)
	withRevoked, err := queryBool(c, "include_inactive")
	if err != nil {
		return err
	}
	list, current, err := h.auth.ListDevicesAll(c.UserContext(), p.AccountID, p.SessionID, withRevoked)
	if err != nil {
		return linkFailure(err, false)
	}
	out := devicesBody{Devices: make([]deviceBody, len(list)), TotalCount: len(list)}
	for i, d := range list {
		ua := device.ParseUserAgent(d.UserAgent)
		name := d.DeviceName
		if name == "" {
			name = strings.TrimSpace(ua.Browser + " on " + ua.OS)
			if ua.Browser == "" || ua.OS == "" {
				name = ""
			}
		}
		isCurrent := current != "" && d.DeviceID == current && d.Active()
		out.Devices[i] = deviceBody{
			ID: d.ID, DeviceFingerprint: d.DeviceID, DisplayName: optional(name), Browser: optional(ua.Browser),
			OS: optional(ua.OS), DeviceType: optional(ua.DeviceType), IPAddress: optional(d.LastIP),
			Location: optional(d.LastLocation), Timezone: optional(d.Timezone),
			FirstSeen: d.CreatedAt.UTC().Format(time.RFC3339), LastSeen: d.LastUsedAt.UTC().Format(time.RFC3339),
			LoginCount: d.LoginCount, LastLoginMethod: optional(d.LastLoginMethod), IsActive: d.Active(),
			IsCurrentSession: isCurrent, IsTrusted: d.Active(),
		}
		if isCurrent {
			out.Devices[i].CurrentSessionID = optional(p.SessionID)
			cur := out.Devices[i]
			out.CurrentDevice = &cur
		}
		if d.Active() {
			out.ActiveCount++
			out.TrustedCount++
		}
	}
	return wire.OK(c, http.StatusOK, "", out)
}

// --- provider sign-in ---

type oauthSignInRequest struct {
	providerProofRequest
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
	Platform   string `json:"platform"`
	Timezone   string `json:"timezone"`
}

// POST /api/v1/auth/oauth/{provider} — 200 with tokens for a linked provider account, 201 with tokens
// for a new passwordless account, 200 with a two_factor challenge (as login's) when the account has
// 2FA on.
func (h *Handler) oauthSignIn(c *fiber.Ctx) error {
	var req oauthSignInRequest
	pv := wire.NewChecker()
	pv.Loc = "path"
	provider := plainProvider(pv, "provider", c.Params("provider"))
	if err := pv.Err(); err != nil {
		return err
	}
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	proof := req.check(v, false)
	dev := checkDevice(v, "device_id", "device_name", "platform", device.Info{DeviceID: req.DeviceID, DeviceName: req.DeviceName, Platform: req.Platform, Timezone: req.Timezone})
	if err := v.Err(); err != nil {
		return err
	}
	res, err := h.auth.SignInWithProvider(c.UserContext(), auth.ProviderSignIn{
		Provider: provider, IDToken: proof.IDToken, Nonce: proof.Nonce, AccessToken: proof.AccessToken,
		AccountID: proof.AccountID, Device: dev, Client: client(c),
	})
	if perr := proofFailure(err, proof, http.StatusUnauthorized); perr != nil {
		return perr
	}
	if err != nil {
		return linkFailure(err, false)
	}
	if res.TwoFactor != nil {
		return wire.OK(c, http.StatusOK, "", twoFactorChallenge(res.TwoFactor))
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	return wire.OK(c, status, "", tokensOf(*res.SignedIn))
}
