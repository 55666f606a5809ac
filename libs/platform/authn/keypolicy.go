package authn

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// What an API key may do is decided per route, where each service registers the route, by the
// handler it puts in front of the route's own:
//
//	app.Get("/api/v1/me", requireAuth, h.getMe)                                  // keys: read scope
//	app.Patch("/api/v1/me", authn.KeysMayWrite(requireAuth, "phone"), h.patchMe) // keys: write scope, never "phone"
//	app.Get("/api/v1/auth/api-keys", authn.SignedInOnly(requireAuth), h.list)    // no key, whatever its scopes
//
// requireAuth being Middleware(v, d). Middleware alone lets a key make a safe request (GET, HEAD,
// OPTIONS) with the read scope and refuses it every other method: a route that changes anything is
// closed to keys unless its registration opens it with KeysMayWrite. The decision belongs to the
// matched route, so no spelling of a path (case, slashes, escapes) reaches a route under another
// route's rule. Keys are credentials of the account, and never change credentials, contacts,
// factors, devices, usernames, sessions or keys (DESIGN.md, "Security rules").

// keyRule is one route's decision about API keys.
type keyRule struct {
	write  bool     // keys with the write scope may use the route whatever its method
	refuse bool     // no key may use the route
	fields []string // body fields a key may never send (top-level JSON keys, compared case-insensitively)
}

// keyRuleKey is the c.Locals key of the route's keyRule.
type keyRuleKey struct{}

// routeRule ties a rule to the route it was declared on, so that it never applies to another route
// the same request reaches through c.Next.
type routeRule struct {
	route *fiber.Route
	rule  *keyRule
}

// SignedInOnly wraps requireAuth (Middleware) for a route API keys may never use, safe methods
// included: answered 403 for any key.
func SignedInOnly(requireAuth fiber.Handler) fiber.Handler {
	return withKeyRule(requireAuth, &keyRule{refuse: true})
}

// KeysMayWrite wraps requireAuth (Middleware) for a route API keys with the write scope may use
// whatever its method. A request by a key whose JSON body has one of refusedFields (top-level, in
// any letter case) is refused as a whole with 403: the route may change other fields of the same
// resource, never these.
func KeysMayWrite(requireAuth fiber.Handler, refusedFields ...string) fiber.Handler {
	return withKeyRule(requireAuth, &keyRule{write: true, fields: refusedFields})
}

func withKeyRule(requireAuth fiber.Handler, r *keyRule) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(keyRuleKey{}, routeRule{route: c.Route(), rule: r})
		return requireAuth(c)
	}
}

// Messages of the refusals.
const (
	msgAPIKeyForbidden = "API keys cannot be used for this operation; sign in instead"
	msgAPIKeyField     = "API keys cannot change this field; sign in instead: "
	msgScopeRead       = "This API key lacks the read scope"
	msgScopeWrite      = "This API key lacks the write scope"
)

// apiKeyRefusal says why the API key with the given scopes may not make the request, or "" when
// it may, from the rule declared on the matched route (none: safe methods only).
func apiKeyRefusal(c *fiber.Ctx, scopes Scope) string {
	var rule keyRule
	if rr, ok := c.Locals(keyRuleKey{}).(routeRule); ok && rr.route == c.Route() {
		rule = *rr.rule
	}
	if rule.refuse {
		return msgAPIKeyForbidden
	}
	switch c.Method() {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if !scopes.Has(ScopeRead) {
			return msgScopeRead
		}
		return ""
	}
	if !rule.write {
		return msgAPIKeyForbidden
	}
	if !scopes.Has(ScopeWrite) {
		return msgScopeWrite
	}
	if f := refusedField(c.Body(), rule.fields); f != "" {
		return msgAPIKeyField + f
	}
	return ""
}

// refusedField returns the first of fields that body, a JSON object, has as a key in any letter
// case (encoding/json matches keys to fields that way), or "". A body that is not a JSON object
// has no fields: the route's handler refuses it.
func refusedField(body []byte, fields []string) string {
	if len(fields) == 0 {
		return ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	for _, f := range fields {
		for k := range obj {
			if strings.EqualFold(k, f) {
				return f
			}
		}
	}
	return ""
}
