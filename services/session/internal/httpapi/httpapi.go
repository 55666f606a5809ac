// Package httpapi is the session service's HTTP side: the public token endpoints under /api/v1/auth, the
// JWKS, and the internal API identity calls to start a session. Handlers decode and validate the
// request, call the session domain and render the answer in the path's wire style; domain errors are
// mapped to *wire.Error here and nowhere else.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/apidocs"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/session/internal/account"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// Sessions is the session domain as the handlers use it.
type Sessions interface {
	Create(ctx context.Context, accountID string, dev session.Device, a session.Assurance) (session.Issued, error)
	RefreshFrom(ctx context.Context, refreshToken, ipAddress, location string) (session.Issued, error)
	Logout(ctx context.Context, p authn.Principal) error
	List(ctx context.Context, accountID string) ([]session.Session, error)
	Current(ctx context.Context, p authn.Principal) (session.Session, error)
	Health(p authn.Principal) session.TokenHealth
	Revoke(ctx context.Context, accountID, sessionID, reason string) error
	RevokeAll(ctx context.Context, accountID, except, reason string) (int, error)
	SignOutOthers(ctx context.Context, p authn.Principal, proof session.Proof) (int, error)
	SignOutAll(ctx context.Context, p authn.Principal, proof session.Proof) (int, error)
	UpdateDevice(ctx context.Context, p authn.Principal, dev session.Device) (session.Session, error)
	Touch(ctx context.Context, p authn.Principal)
}

// Accounts looks up the account facts that GET /api/v1/auth/session/validate shows; ok is false when
// they are unknown.
type Accounts interface {
	Account(ctx context.Context, accountID string) (facts account.Facts, ok bool)
}

// Config is the handlers' configuration.
type Config struct {
	// Accounts, when set, fills validate's user fields; without it they are null.
	Accounts Accounts
	// Issuer is JWT_ISSUER, the base of the discovery document; empty serves none (404).
	Issuer string
	// APIDoc returns Latchkey's OpenAPI document, served at /openapi.json with the docs page at /docs
	// (package apidocs); nil serves neither (API_DOCS_ENABLED=false: 404).
	APIDoc func() []byte
}

// Handler serves the session endpoints.
type Handler struct {
	sessions Sessions
	jwks     func() []byte
	log      *slog.Logger
	cfg      Config
	// discovery is the encoded /.well-known/openid-configuration, nil without an issuer.
	discovery []byte
}

// NewHandler returns a Handler. jwks returns the current JWKS document.
func NewHandler(sessions Sessions, jwks func() []byte, log *slog.Logger, cfg Config) *Handler {
	return &Handler{sessions: sessions, jwks: jwks, log: log, cfg: cfg, discovery: discoveryJSON(cfg.Issuer)}
}

// Routes registers every route of the service, with the paths spelled as in the API documents.
// requireUser is authn.Middleware; requireService is httpx.RequireToken(INTERNAL_API_TOKEN).
func Routes(public, internal *fiber.App, h *Handler, requireUser, requireService fiber.Handler) {
	public.Get("/.well-known/jwks.json", h.JWKS)
	public.Get("/.well-known/openid-configuration", h.OpenIDConfiguration)
	public.Post("/api/v1/auth/refresh", h.Refresh)
	public.Post("/api/v1/auth/logout", requireUser, h.Logout)

	// Account API (envelope), items 15–19.
	public.Get("/api/v1/account/sessions", requireUser, h.Touch, h.ListAccountSessions)
	public.Post("/api/v1/account/sessions/sign-out", requireUser, h.SignOut)
	public.Post("/api/v1/account/sessions/sign-out-others", requireUser, h.Touch, h.SignOutOthers)
	public.Post("/api/v1/account/sessions/sign-out-all", requireUser, h.SignOutAll)
	public.Delete("/api/v1/account/sessions/:sessionId", requireUser, h.Touch, h.RevokeAccountSession)

	// AudioPod paths (plain).
	public.Get("/api/v1/auth/sessions", requireUser, h.Touch, h.ListAuthSessions)
	public.Post("/api/v1/auth/sessions/revoke", requireUser, h.Touch, h.RevokeAuthSessions)
	public.Post("/api/v1/auth/sessions/update-device-info", requireUser, h.UpdateDeviceInfo)
	// These two describe the caller's session: an API key has none, so it is refused (403) rather
	// than told its valid key is an "Invalid session".
	public.Get("/api/v1/auth/session/validate", authn.SignedInOnly(requireUser), h.Touch, h.ValidateSession)
	public.Get("/api/v1/auth/token-health", authn.SignedInOnly(requireUser), h.TokenHealth)

	// The API description: GET /openapi.json, GET /docs and the page's assets under /docs/.
	if h.cfg.APIDoc != nil {
		apidocs.Register(public, h.cfg.APIDoc, apidocs.Options{Title: "Latchkey API"})
	}

	internal.Get("/.well-known/jwks.json", h.JWKS)
	internal.Post("/internal/v1/sessions", requireService, h.CreateSession)
	internal.Post("/internal/v1/accounts/:accountId/sessions/revoke", requireService, h.RevokeAccountSessions)
	internal.Get("/internal/v1/accounts/:accountId/sessions", requireService, h.ListInternalSessions)
}

// JWKS serves the public keys that verify access tokens. Verifiers cache it for five minutes; a token
// signed by a key they do not know yet makes them fetch it again sooner. It carries an ETag, so a
// conditional request answers 304 while the keys are unchanged.
func (h *Handler) JWKS(c *fiber.Ctx) error {
	return sendCacheable(c, h.jwks(), jwksCacheControl)
}

// createSessionRequest is the body of POST /internal/v1/sessions (docs/architecture.md).
type createSessionRequest struct {
	AccountID  string `json:"accountId"`
	DeviceID   string `json:"deviceId"`
	DeviceName string `json:"deviceName"`
	Platform   string `json:"platform"`
	IPAddress  string `json:"ipAddress"`
	UserAgent  string `json:"userAgent"`
	// Location is optional: the client's approximate location as identity's trusted ingress saw it.
	Location string `json:"location"`
	// How the account signed in (optional; see session.NormalizeAssurance): RFC 8176 amr values, the
	// acr (aal1, aal2 or aal3; absent reads as aal1) and auth_time in Unix seconds (absent reads as now).
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
	AuthTime int64    `json:"authTime"`
}

type createSessionResponse struct {
	SessionID    string `json:"sessionId"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

// maxUserAgent is how much of a User-Agent a session keeps; longer ones are cut, not refused, since a
// sign-in should not fail over a browser's header.
const maxUserAgent = 512

// CreateSession starts a session: POST /internal/v1/sessions.
func (h *Handler) CreateSession(c *fiber.Ctx) error {
	var req createSessionRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	chk := wire.NewChecker()
	chk.Required("accountId", req.AccountID)
	chk.MaxLen("accountId", req.AccountID, 128)
	chk.MaxLen("deviceId", req.DeviceID, 128)
	chk.MaxLen("deviceName", req.DeviceName, 200)
	chk.MaxLen("platform", req.Platform, 64)
	chk.MaxLen("location", req.Location, httpx.MaxLocation)
	chk.Check(req.IPAddress == "" || net.ParseIP(req.IPAddress) != nil, "ipAddress", "value is not a valid IP address", "ip_any_address")
	chk.Check(req.AuthTime >= 0, "authTime", "Input should be greater than or equal to 0", "greater_than_equal")
	if err := chk.Err(); err != nil {
		return err
	}
	var authTime time.Time
	if req.AuthTime > 0 {
		authTime = time.Unix(req.AuthTime, 0)
	}
	issued, err := h.sessions.Create(c.UserContext(), req.AccountID, session.Device{
		// identity refused invisible text in what people typed; what it recorded is cleaned here.
		DeviceID:   wire.CleanText(req.DeviceID),
		DeviceName: wire.CleanText(req.DeviceName),
		Platform:   req.Platform,
		IPAddress:  req.IPAddress,
		UserAgent:  truncate(wire.CleanText(req.UserAgent), maxUserAgent),
		Location:   wire.CleanText(req.Location),
	}, session.Assurance{AMR: req.AMR, ACR: req.ACR, AuthTime: authTime})
	if err != nil {
		if fe, ok := invalidAssurance(err); ok {
			return wire.Invalid(fe)
		}
		return h.fail(c, err)
	}
	noStore(c)
	return wire.OK(c, http.StatusCreated, "Session created", createSessionResponse{
		SessionID:    issued.Session.ID,
		AccessToken:  issued.AccessToken,
		RefreshToken: issued.RefreshToken,
		TokenType:    "Bearer",
		ExpiresIn:    issued.ExpiresIn,
	})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type refreshResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	SessionID    string `json:"session_id"`
}

// Refresh exchanges a refresh token for new tokens: POST /api/v1/auth/refresh.
func (h *Handler) Refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	chk := wire.NewChecker()
	chk.Required("refresh_token", req.RefreshToken)
	chk.MaxLen("refresh_token", req.RefreshToken, 512)
	if err := chk.Err(); err != nil {
		return err
	}
	issued, err := h.sessions.RefreshFrom(c.UserContext(), req.RefreshToken, httpx.ClientIP(c), httpx.ClientLocation(c))
	if err != nil {
		return h.fail(c, err)
	}
	noStore(c)
	return wire.OK(c, http.StatusOK, "Token refreshed", refreshResponse{
		AccessToken:  issued.AccessToken,
		RefreshToken: issued.RefreshToken,
		TokenType:    "Bearer",
		ExpiresIn:    issued.ExpiresIn,
		SessionID:    issued.Session.ID,
	})
}

// Logout ends the caller's session: POST /api/v1/auth/logout (behind authn.Middleware). The session's
// access tokens are refused from then on, by this service at once and by the others within a second.
func (h *Handler) Logout(c *fiber.Ctx) error {
	if err := h.sessions.Logout(c.UserContext(), authn.MustPrincipal(c)); err != nil {
		return h.fail(c, err)
	}
	return wire.OK(c, http.StatusOK, "Logged out", nil)
}

// fail maps domain errors to client answers; anything unexpected is logged by the error handler and
// answered with a bare 500.
func (h *Handler) fail(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, session.ErrInvalidRefreshToken):
		return wire.Unauthorized("Invalid refresh token")
	case errors.Is(err, session.ErrNotFound):
		return wire.NotFound("Session not found")
	case errors.Is(err, session.ErrUnavailable):
		h.log.ErrorContext(c.UserContext(), "session store unavailable", "err", err)
		return wire.Unavailable("Service temporarily unavailable")
	}
	return err
}

// noStore keeps token responses out of caches (RFC 6749, section 5.1).
func noStore(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
}

func truncate(s string, n int) string {
	runes := 0
	for i := range s {
		if runes == n {
			return s[:i]
		}
		runes++
	}
	return s
}

// invalidAssurance is the 422 entry of a session.NormalizeAssurance refusal.
func invalidAssurance(err error) (wire.FieldError, bool) {
	for _, f := range []struct {
		err   error
		field string
	}{
		{session.ErrUnknownAMR, "amr"}, {session.ErrTooManyAMR, "amr"},
		{session.ErrUnknownACR, "acr"}, {session.ErrACRWithoutMFA, "acr"},
		{session.ErrFutureAuthTime, "authTime"},
	} {
		if errors.Is(err, f.err) {
			return wire.Body(f.field, "Value error, "+f.err.Error(), "value_error"), true
		}
	}
	return wire.FieldError{}, false
}
