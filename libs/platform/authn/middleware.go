package authn

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// principalKey is the c.Locals and context key of the request's Principal.
type principalKey struct{}

// Middleware authenticates the request by an access token (`Authorization: Bearer <JWT>`) or an API
// key (`Authorization: Bearer lk_...` or `X-API-Key: lk_...`, when v has VerifierConfig.APIKeys).
//
// A missing credential is a 401 "Not authenticated" with `WWW-Authenticate: Bearer`; an invalid,
// expired or revoked one (d may be nil), API keys included, the same 401 "Invalid or expired token";
// when no signing keys can be fetched or identity cannot check a key, a 503. An API key is then held
// to its rate limit (429 with Retry-After), to its scopes and to its route's decision (403): alone,
// Middleware lets keys make safe requests only; SignedInOnly and KeysMayWrite, wrapped around it
// where a route is registered, close or open the route. Errors are *wire.Error values, so the app's
// error handler renders them in the path's wire style. On success the Principal is available through
// PrincipalFrom and, in the user context, FromContext.
func Middleware(v *Verifier, d *DenyList) fiber.Handler {
	return func(c *fiber.Ctx) error {
		raw, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
		keyHeader := false
		if !ok {
			if raw = strings.TrimSpace(c.Get(HeaderAPIKey)); raw != "" {
				ok, keyHeader = true, true
			}
		}
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
			return wire.Unauthorized("Not authenticated")
		}
		var (
			p   Principal
			err error
		)
		if keyHeader || IsAPIKeyShaped(raw) {
			p, err = v.VerifyAPIKey(c.UserContext(), raw)
			if err == nil && d != nil && d.APIKeyDenied(p.APIKeyID, p.AccountID, p.APIKeyCreatedAt) {
				v.ForgetAPIKey(raw)
				err = ErrInvalidToken
			}
		} else {
			p, err = v.Verify(c.UserContext(), raw)
			if err == nil && d != nil && d.Denied(p.SessionID) {
				err = ErrInvalidToken
			}
		}
		if errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrAPIKeysUnavailable) {
			return wire.Unavailable("Authentication is temporarily unavailable")
		}
		if err != nil {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
			return wire.Unauthorized("Invalid or expired token")
		}
		if p.IsAPIKey() {
			if ok, wait := v.allowAPIKey(p.APIKeyID, time.Now()); !ok {
				return wire.TooManyRequestsLimit("Too many requests for this API key", wait, v.limiter.status(wait))
			}
			if reason := apiKeyRefusal(c, p.Scopes); reason != "" {
				return wire.Forbidden(reason)
			}
		}
		c.Locals(principalKey{}, p)
		c.SetUserContext(WithPrincipal(c.UserContext(), p))
		return c.Next()
	}
}

// bearerToken extracts the credentials of a Bearer authorization header (the scheme is
// case-insensitive, RFC 7235).
func bearerToken(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimSpace(header[len(scheme):])
	return tok, tok != ""
}

// PrincipalFrom returns the principal Middleware authenticated.
func PrincipalFrom(c *fiber.Ctx) (Principal, bool) {
	p, ok := c.Locals(principalKey{}).(Principal)
	return p, ok
}

// MustPrincipal returns the principal Middleware authenticated and panics when the route is not behind
// Middleware: that is a wiring bug, not a client error (httpx recovers it as a 500).
func MustPrincipal(c *fiber.Ctx) Principal {
	p, ok := PrincipalFrom(c)
	if !ok {
		panic("authn: route is not behind authn.Middleware")
	}
	return p
}

// WithPrincipal returns ctx carrying p, for domain code that takes the caller from its context.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal carried by ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
