package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// APIKeys is the API-key domain as the handlers use it.
type APIKeys interface {
	Create(ctx context.Context, accountID string, req apikey.NewKey) (apikey.Created, error)
	List(ctx context.Context, accountID string) ([]apikey.Key, error)
	Revoke(ctx context.Context, accountID, id string) error
	RevokeAll(ctx context.Context, accountID, reason string) (int, error)
	Verify(ctx context.Context, raw string) (authn.APIKeyInfo, error)
}

// apiKeyHandler serves the API-key endpoints.
type apiKeyHandler struct{ keys APIKeys }

// registerAPIKeys mounts the public API-key routes (plain style). Keys cannot use them (the writes
// are closed to keys by default, the list by authn.SignedInOnly); the handlers check again, since
// managing keys needs a sign-in. Creating a key needs a step-up (stepUp: X-Reauth-Token).
func registerAPIKeys(app *fiber.App, requireAuth, stepUp fiber.Handler, keys APIKeys) {
	h := &apiKeyHandler{keys: keys}
	app.Post("/api/v1/auth/api-keys", requireAuth, stepUp, h.create)
	app.Get("/api/v1/auth/api-keys", authn.SignedInOnly(requireAuth), h.list)
	app.Delete("/api/v1/auth/api-keys/:id", requireAuth, h.revoke)
	app.Get("/api/v1/auth/whoami", requireAuth, whoAmI)
}

// RegisterInternal mounts identity's internal API routes on the internal app; requireService is
// httpx.RequireToken(INTERNAL_API_TOKEN).
func RegisterInternal(internal *fiber.App, requireService fiber.Handler, keys APIKeys) {
	h := &apiKeyHandler{keys: keys}
	internal.Post("/internal/v1/api-keys/verify", requireService, h.verify)
	internal.Post("/internal/v1/accounts/:accountId/api-keys/revoke", requireService, h.revokeAll)
}

type revokeAllAPIKeysRequest struct {
	Reason string `json:"reason"`
}

// POST /internal/v1/accounts/{accountId}/api-keys/revoke {reason} — ends every API key of the
// account (the session service calls it on a sign-out of every session): 204, also when the account
// has no key; 400 invalid_request for a reason that is not 1–64 of a-z, 0-9 and '_'.
func (h *apiKeyHandler) revokeAll(c *fiber.Ctx) error {
	var req revokeAllAPIKeysRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil || !validReason(req.Reason) {
		return c.Status(http.StatusBadRequest).JSON(fiber.Map{"error": "invalid_request"})
	}
	id := c.Params("accountId")
	if id == "" || len(id) > 64 {
		return c.Status(http.StatusBadRequest).JSON(fiber.Map{"error": "invalid_request"})
	}
	if _, err := h.keys.RevokeAll(c.UserContext(), id, req.Reason); err != nil {
		return apiKeyFailure(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

func validReason(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i := 0; i < len(r); i++ {
		ch := r[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_') {
			return false
		}
	}
	return true
}

const msgAPIKeyNotFound = "API key not found"

// apiKeyManager returns the caller, refusing API keys: managing keys needs a sign-in.
func apiKeyManager(c *fiber.Ctx) (authn.Principal, error) {
	p := authn.MustPrincipal(c)
	if p.IsAPIKey() {
		return p, wire.Forbidden("API keys cannot be used for this operation; sign in instead")
	}
	return p, nil
}

type createAPIKeyRequest struct {
	Name          string    `json:"name"`
	Scopes        *[]string `json:"scopes"`
	ExpiresInDays *int      `json:"expires_in_days"`
}

type apiKeyResponse struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Key        string   `json:"key,omitempty"`
	Prefix     string   `json:"prefix"`
	Scopes     []string `json:"scopes"`
	CreatedAt  string   `json:"created_at"`
	ExpiresAt  *string  `json:"expires_at"`
	LastUsedAt *string  `json:"last_used_at,omitempty"`
}

// apiKeyListItem is one key of GET /api/v1/auth/api-keys: last_used_at is always present (null when
// never used).
type apiKeyListItem struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Scopes     []string `json:"scopes"`
	CreatedAt  string   `json:"created_at"`
	ExpiresAt  *string  `json:"expires_at"`
	LastUsedAt *string  `json:"last_used_at"`
}

func apiKeyTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func optAPIKeyTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := apiKeyTime(t)
	return &s
}

// POST /api/v1/auth/api-keys — 201 with the key, shown this once.
func (h *apiKeyHandler) create(c *fiber.Ctx) error {
	p, err := apiKeyManager(c)
	if err != nil {
		return err
	}
	var req createAPIKeyRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	v := wire.NewChecker()
	if v.Required("name", name) {
		v.Check(utf8.RuneCountInString(name) <= apikey.MaxNameLen, "name", "String should have at most 100 characters", "string_too_long")
	}
	scopes := authn.ScopeRead
	if req.Scopes != nil {
		s, err := authn.ParseScopes(*req.Scopes)
		switch {
		case err != nil:
			v.Fail("scopes", "Scopes must be among: read, write", "enum")
		case s == 0:
			v.Fail("scopes", "At least one scope is required", "too_short")
		}
		scopes = s
	}
	days := 0
	if req.ExpiresInDays != nil {
		days = *req.ExpiresInDays
		v.Check(days >= 1, "expires_in_days", "Input should be greater than or equal to 1", "greater_than_equal")
	}
	if err := v.Err(); err != nil {
		return err
	}
	created, err := h.keys.Create(c.UserContext(), p.AccountID, apikey.NewKey{Name: name, Scopes: scopes, ExpiresInDays: days, CreatedInSession: p.SessionID})
	if err != nil {
		return apiKeyFailure(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	k := created.Key
	return wire.OK(c, http.StatusCreated, "", apiKeyResponse{
		ID: k.ID, Name: k.Name, Key: created.Secret, Prefix: k.Prefix, Scopes: k.Scopes.Names(),
		CreatedAt: apiKeyTime(k.CreatedAt), ExpiresAt: optAPIKeyTime(k.ExpiresAt),
	})
}

// GET /api/v1/auth/api-keys — the caller's keys, without secrets.
func (h *apiKeyHandler) list(c *fiber.Ctx) error {
	p, err := apiKeyManager(c)
	if err != nil {
		return err
	}
	keys, err := h.keys.List(c.UserContext(), p.AccountID)
	if err != nil {
		return apiKeyFailure(err)
	}
	out := make([]apiKeyListItem, len(keys))
	for i, k := range keys {
		out[i] = apiKeyListItem{
			ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes.Names(), CreatedAt: apiKeyTime(k.CreatedAt),
			ExpiresAt: optAPIKeyTime(k.ExpiresAt), LastUsedAt: optAPIKeyTime(k.LastUsedAt),
		}
	}
	return wire.OK(c, http.StatusOK, "", out)
}

// DELETE /api/v1/auth/api-keys/{id} — 204; another account's key, or one already revoked, is a 404.
func (h *apiKeyHandler) revoke(c *fiber.Ctx) error {
	p, err := apiKeyManager(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if id == "" || len(id) > 64 {
		return wire.NotFound(msgAPIKeyNotFound)
	}
	if err := h.keys.Revoke(c.UserContext(), p.AccountID, id); err != nil {
		return apiKeyFailure(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

type whoamiResponse struct {
	UserID     string   `json:"user_id"`
	AuthMethod string   `json:"auth_method"` // "access_token" or "api_key"
	SessionID  string   `json:"session_id,omitempty"`
	APIKeyID   string   `json:"api_key_id,omitempty"`
	Scopes     []string `json:"scopes,omitempty"`
	ExpiresAt  *string  `json:"expires_at"`
	// How the session was signed in (access tokens only): the token's amr, acr and auth_time.
	AMR      []string `json:"amr,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AuthTime *string  `json:"auth_time,omitempty"`
}

// GET /api/v1/auth/whoami — which account and credential the request carries (for scripts checking
// their API key: its id, scopes and expiry; for an access token also how its session was signed in).
func whoAmI(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	out := whoamiResponse{UserID: p.AccountID, AuthMethod: "access_token", SessionID: p.SessionID, ExpiresAt: optAPIKeyTime(p.ExpiresAt),
		AMR: p.AMR, ACR: p.ACR}
	if !p.AuthTime.IsZero() {
		out.AuthTime = optAPIKeyTime(p.AuthTime)
	}
	if p.IsAPIKey() {
		out.AuthMethod, out.SessionID, out.APIKeyID, out.Scopes = "api_key", "", p.APIKeyID, p.Scopes.Names()
	}
	return wire.OK(c, http.StatusOK, "", out)
}

// POST /internal/v1/api-keys/verify — docs/architecture.md.
func (h *apiKeyHandler) verify(c *fiber.Ctx) error {
	var req authn.VerifyAPIKeyRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	info, err := h.keys.Verify(c.UserContext(), req.Key)
	if errors.Is(err, authn.ErrUnknownAPIKey) {
		return c.Status(http.StatusNotFound).JSON(fiber.Map{"error": "invalid_api_key"})
	}
	if err != nil {
		return apiKeyFailure(err)
	}
	out := authn.VerifyAPIKeyResponse{KeyID: info.KeyID, AccountID: info.AccountID, Scopes: info.Scopes.Names()}
	if !info.ExpiresAt.IsZero() {
		t := info.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	if !info.CreatedAt.IsZero() {
		t := info.CreatedAt.UTC()
		out.CreatedAt = &t
	}
	return c.JSON(out)
}

func apiKeyFailure(err error) error {
	var lifetime *apikey.LifetimeError
	switch {
	case errors.As(err, &lifetime):
		return wire.Invalid(wire.Body("expires_in_days", fmt.Sprintf("Input should be less than or equal to %d", lifetime.MaxDays), "less_than_equal"))
	case errors.Is(err, apikey.ErrNotFound):
		return wire.NotFound(msgAPIKeyNotFound)
	case errors.Is(err, apikey.ErrTooMany):
		return wire.Conflict("Too many API keys: revoke one before creating another")
	case store.IsUnavailable(err):
		return &unavailableError{err}
	}
	return err
}
