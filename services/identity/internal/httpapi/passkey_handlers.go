package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
)

// Passkeys is the passkey domain as the owner's endpoints use it (package passkey).
type Passkeys interface {
	BeginRegistration(ctx context.Context, accountID, sessionID string) (json.RawMessage, error)
	FinishRegistration(ctx context.Context, accountID, sessionID string, r passkey.Registration) (passkey.Credential, error)
	List(ctx context.Context, accountID string) ([]passkey.Credential, error)
	Rename(ctx context.Context, accountID, id, name string) (passkey.Credential, error)
	Delete(ctx context.Context, accountID, id string) (passkey.Credential, error)
}

// Messages of the passkey endpoints.
const (
	msgPasskeyNotFound     = "Passkey not found"
	msgPasskeyInvalid      = "The passkey response could not be verified"
	msgPasskeyRegistered   = "This passkey is already registered"
	msgPasskeyLimit        = "The account has the maximum number of passkeys"
	msgPasskeyOptions      = "Passkey registration options"
	msgPasskeyAdded        = "Passkey added"
	msgPasskeysListed      = "Passkeys retrieved successfully"
	msgPasskeyRenamed      = "Passkey renamed"
	msgPasskeyRemoved      = "Passkey removed"
	msgPasskeySignInFailed = "Invalid credentials"
)

// maxCredentialJSON bounds a PublicKeyCredential in a body (an attestation with a certificate chain
// is a few KiB; the body limit is the outer bound).
const maxCredentialJSON = 32 << 10

type passkeyHandler struct {
	*Handler
	keys Passkeys
}

// RegisterPasskeys mounts the passkey routes: the owner's (envelope style, closed to API keys;
// registering and removing need a step-up, so a stolen access token cannot add a way in or take one
// away) and the passwordless sign-in (plain style, public). keys nil (WEBAUTHN_RP_ID unset): passkeys
// are not offered and nothing is mounted.
func RegisterPasskeys(app *fiber.App, requireAuth fiber.Handler, svc *auth.Service, keys Passkeys, log *slog.Logger) {
	if keys == nil {
		return
	}
	h := &passkeyHandler{Handler: &Handler{auth: svc, log: log}, keys: keys}
	app.Post("/api/v1/account/passkeys/register/begin", requireAuth, h.requireStepUp, h.beginRegistration)
	app.Post("/api/v1/account/passkeys/register/finish", requireAuth, h.requireStepUp, h.finishRegistration)
	app.Get("/api/v1/account/passkeys", authn.SignedInOnly(requireAuth), h.list)
	app.Patch("/api/v1/account/passkeys/:id", requireAuth, h.requireStepUp, h.rename)
	app.Delete("/api/v1/account/passkeys/:id", requireAuth, h.requireStepUp, h.remove)

	app.Post("/api/v1/auth/passkeys/login/begin", h.beginSignIn)
	app.Post("/api/v1/auth/passkeys/login/finish", h.finishSignIn)
}

// passkeyBody is a passkey as the owner's endpoints show it (never its key material).
type passkeyBody struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	CreatedAt      string   `json:"createdAt"`
	LastUsedAt     *string  `json:"lastUsedAt"`
	BackupEligible bool     `json:"backupEligible"`
	BackedUp       bool     `json:"backedUp"`
	Transports     []string `json:"transports"`
	AAGUID         string   `json:"aaguid"`
	UserVerified   bool     `json:"userVerified"`
	CloneDetected  bool     `json:"cloneDetected"`
}

func passkeyView(c passkey.Credential) passkeyBody {
	b := passkeyBody{
		ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339), BackupEligible: c.BackupEligible,
		BackedUp: c.BackupState, Transports: c.Transports, UserVerified: c.UserVerified, CloneDetected: !c.CloneDetectedAt.IsZero(),
		AAGUID: aaguidString(c.AAGUID),
	}
	if b.Transports == nil {
		b.Transports = []string{}
	}
	if !c.LastUsedAt.IsZero() {
		s := c.LastUsedAt.UTC().Format(time.RFC3339)
		b.LastUsedAt = &s
	}
	return b
}

// aaguidString formats an AAGUID as a UUID (the form authenticator metadata uses).
func aaguidString(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	const hex = "0123456789abcdef"
	var sb strings.Builder
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			sb.WriteByte('-')
		}
		sb.WriteByte(hex[x>>4])
		sb.WriteByte(hex[x&0xf])
	}
	return sb.String()
}

// passkeyFailure maps the passkey domain's errors to the wire.
func passkeyFailure(err error) error {
	switch {
	case errors.Is(err, passkey.ErrNotFound):
		return wire.NotFound(msgPasskeyNotFound)
	case errors.Is(err, passkey.ErrInvalid):
		return wire.BadRequest(msgPasskeyInvalid)
	case errors.Is(err, passkey.ErrAlreadyRegistered):
		return wire.Conflict(msgPasskeyRegistered)
	case errors.Is(err, passkey.ErrTooMany):
		return wire.Conflict(msgPasskeyLimit)
	case errors.Is(err, passkey.ErrAccountGone):
		return wire.Unauthorized(msgTokenInvalid)
	}
	return failure(err, passwordFieldPlain, wire.BadRequest(msgPasskeyInvalid))
}

// checkCredential validates a PublicKeyCredential field: a JSON object of bounded size.
func checkCredential(v *wire.Checker, field string, raw json.RawMessage) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0 || string(t) == "null":
		v.Fail(field, "Field required", "missing")
	case t[0] != '{':
		v.Fail(field, "Input should be a valid dictionary", "dict_type")
	case len(t) > maxCredentialJSON:
		v.Fail(field, "Credential too large", "too_long")
	}
}

// checkPasskeyName validates a passkey name.
func checkPasskeyName(v *wire.Checker, field, name string, required bool) string {
	n := strings.TrimSpace(name)
	if required && !v.Required(field, n) {
		return ""
	}
	v.Check(utf8.RuneCountInString(n) <= passkey.MaxNameLen, field, "String should have at most 64 characters", "string_too_long")
	v.PlainText(field, n)
	return n
}

// POST /api/v1/account/passkeys/register/begin (step-up) — the creation options for
// navigator.credentials.create, bound to the caller's session.
func (h *passkeyHandler) beginRegistration(c *fiber.Ctx) error {
	who := caller(c)
	opts, err := h.keys.BeginRegistration(c.UserContext(), who.AccountID, who.SessionID)
	if err != nil {
		return passkeyFailure(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusOK, msgPasskeyOptions, opts)
}

type finishRegistrationRequest struct {
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name"`
}

// POST /api/v1/account/passkeys/register/finish (step-up) {credential, name?} — 201 with the passkey.
func (h *passkeyHandler) finishRegistration(c *fiber.Ctx) error {
	var req finishRegistrationRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	checkCredential(v, "credential", req.Credential)
	name := checkPasskeyName(v, "name", req.Name, false)
	if err := v.Err(); err != nil {
		return err
	}
	who := caller(c)
	cred, err := h.keys.FinishRegistration(c.UserContext(), who.AccountID, who.SessionID, passkey.Registration{Response: req.Credential, Name: name})
	if err != nil {
		return passkeyFailure(err)
	}
	return wire.OK(c, http.StatusCreated, msgPasskeyAdded, passkeyView(cred))
}

// GET /api/v1/account/passkeys — the caller's passkeys, oldest first.
func (h *passkeyHandler) list(c *fiber.Ctx) error {
	creds, err := h.keys.List(c.UserContext(), caller(c).AccountID)
	if err != nil {
		return passkeyFailure(err)
	}
	out := make([]passkeyBody, len(creds))
	for i, cr := range creds {
		out[i] = passkeyView(cr)
	}
	return wire.OK(c, http.StatusOK, msgPasskeysListed, out)
}

type renamePasskeyRequest struct {
	Name string `json:"name"`
}

// passkeyID reads the {id} path parameter; another account's passkey is a 404 like a missing one.
func passkeyID(c *fiber.Ctx) (string, error) {
	id := c.Params("id")
	if !validUUID(id) {
		return "", wire.Invalid(wire.PathParam("id", "Must be a valid UUID", "uuid_parsing"))
	}
	return strings.ToLower(id), nil
}

// PATCH /api/v1/account/passkeys/{id} {name} — the renamed passkey.
func (h *passkeyHandler) rename(c *fiber.Ctx) error {
	if authn.MustPrincipal(c).IsAPIKey() {
		return wire.Forbidden(msgAPIKeyNotAllowed)
	}
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	var req renamePasskeyRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	name := checkPasskeyName(v, "name", req.Name, true)
	if err := v.Err(); err != nil {
		return err
	}
	cred, err := h.keys.Rename(c.UserContext(), caller(c).AccountID, id, name)
	if err != nil {
		return passkeyFailure(err)
	}
	return wire.OK(c, http.StatusOK, msgPasskeyRenamed, passkeyView(cred))
}

// DELETE /api/v1/account/passkeys/{id} (step-up).
func (h *passkeyHandler) remove(c *fiber.Ctx) error {
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	accountID := caller(c).AccountID
	if _, err := h.keys.Delete(c.UserContext(), accountID, id); err != nil {
		return passkeyFailure(err)
	}
	h.auth.FactorRemoved(c.UserContext(), accountID)
	return wire.OK(c, http.StatusOK, msgPasskeyRemoved, nil)
}

// --- passwordless sign-in (plain style) ---

type passkeySignInBeginBody struct {
	Options       json.RawMessage `json:"options"`
	CeremonyToken string          `json:"ceremony_token"`
	ExpiresIn     int             `json:"expires_in"`
}

// POST /api/v1/auth/passkeys/login/begin — the request options for navigator.credentials.get (any
// discoverable passkey of this site, user verification required) and the ceremony token the finish
// carries. The body may be empty.
func (h *passkeyHandler) beginSignIn(c *fiber.Ctx) error {
	ch, err := h.auth.BeginPasskeySignIn(c.UserContext(), client(c))
	if err != nil {
		return signInFailure(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return wire.OK(c, http.StatusOK, "", passkeySignInBeginBody{
		Options: ch.Options, CeremonyToken: ch.Token, ExpiresIn: int(ch.ExpiresIn.Seconds()),
	})
}

type passkeySignInFinishRequest struct {
	CeremonyToken string          `json:"ceremony_token"`
	Credential    json.RawMessage `json:"credential"`
	DeviceID      string          `json:"device_id"`
	DeviceName    string          `json:"device_name"`
	Platform      string          `json:"platform"`
	Timezone      string          `json:"timezone"`
}

// POST /api/v1/auth/passkeys/login/finish {ceremony_token, credential, device_id, device_name?,
// platform?} — tokens in the shape of POST /api/v1/auth/login. Anything that does not verify is a
// 401 "Invalid credentials", whoever's passkey it was.
func (h *passkeyHandler) finishSignIn(c *fiber.Ctx) error {
	var req passkeySignInFinishRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("ceremony_token", strings.TrimSpace(req.CeremonyToken)) {
		v.MaxLen("ceremony_token", req.CeremonyToken, maxToken)
	}
	checkCredential(v, "credential", req.Credential)
	v.Required("device_id", req.DeviceID)
	dev := checkDevice(v, "device_id", "device_name", "platform", device.Info{DeviceID: req.DeviceID, DeviceName: req.DeviceName, Platform: req.Platform, Timezone: req.Timezone})
	if err := v.Err(); err != nil {
		return err
	}
	signed, err := h.auth.SignInWithPasskey(c.UserContext(), auth.PasskeySignIn{
		Token: strings.TrimSpace(req.CeremonyToken), Assertion: req.Credential, Device: dev, Client: client(c),
	})
	if err != nil {
		return signInFailure(err)
	}
	return wire.OK(c, http.StatusOK, "", tokensOf(signed))
}

func signInFailure(err error) error {
	switch {
	case errors.Is(err, auth.ErrPasskeysUnavailable):
		return wire.NotFound("Passkeys are not enabled")
	case errors.Is(err, auth.ErrPasskeyInvalid):
		return wire.Unauthorized(msgPasskeySignInFailed)
	}
	return failure(err, "password", wire.Unauthorized(msgPasskeySignInFailed))
}
