package authn

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// principalKey is the c.Locals and context key of the request's Principal.
type principalKey struct{}

// Middleware authenticates the request's `Authorization: Bearer <access token>`: a missing token is a
// 401 "Not authenticated" with `WWW-Authenticate: Bearer`; an invalid, expired or revoked one (d may be
// nil) a 401 "Invalid or expired token"; when no signing keys can be fetched, a 503. Errors are
// *wire.Error values, so the app's error handler renders them in the path's wire style. On success the
// Principal is available through PrincipalFrom and, in the user context, FromContext.
func Middleware(v *Verifier, d *DenyList) fiber.Handler {
	return func(c *fiber.Ctx) error {
		raw, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
			return wire.Unauthorized("Not authenticated")
		}
		p, err := v.Verify(c.UserContext(), raw)
		if errors.Is(err, ErrKeysUnavailable) {
			return wire.Unavailable("Authentication is temporarily unavailable")
		}
		if err != nil || (d != nil && d.Denied(p.SessionID)) {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
			return wire.Unauthorized("Invalid or expired token")
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
