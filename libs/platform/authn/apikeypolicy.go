package authn

import (
	"net/http"
	"net/url"
	"strings"
)

// apiKeyRule is one operation an API key may never perform. pattern is a path; a trailing "*" makes it
// a prefix ("/api/v1/account/password/*" also matches "/api/v1/account/password"). method, when set,
// limits the rule to that method.
type apiKeyRule struct {
	method  string
	pattern string
}

// apiKeyForbidden is THE list of what an API key can never do, whichever service serves the path and
// whether or not its route exists yet: Middleware refuses API keys there with a 403 in the path's wire
// style, so no route has to remember a wrapper. These are the account-security operations of the API
// documents: a leaked key must not let anyone take the account over or lock its owner out.
var apiKeyForbidden = []apiKeyRule{
	// Passwords.
	{pattern: "/api/v1/account/password/*"},
	{pattern: "/api/v1/me/password/*"},
	{pattern: "/api/v1/auth/change-password"},
	{pattern: "/api/v1/auth/reset-password*"},
	{pattern: "/api/v1/auth/forgot-password*"},
	// Two-factor authentication.
	{pattern: "/api/v1/account/2fa/*"},
	{pattern: "/api/v1/auth/verify-2fa"},
	{pattern: "/api/v1/auth/2fa/*"},
	// Email and phone.
	{pattern: "/api/v1/account/link/email*"},
	{pattern: "/api/v1/me/verify-email*"},
	{pattern: "/api/v1/auth/send-phone-verification"},
	{pattern: "/api/v1/auth/verify-phone"},
	// Linked providers.
	{pattern: "/api/v1/account/link/oauth*"},
	{pattern: "/api/v1/auth/account-providers*"},
	// API keys themselves: creating, listing and revoking keys needs a signed-in user.
	{pattern: "/api/v1/auth/api-keys*"},
	// Ending sessions. Signing out everywhere is forbidden outright, and so is ending any single
	// session (sign-out, DELETE /account/sessions/{id}, POST /auth/sessions/revoke whatever its body,
	// logout): otherwise a key could sign its owner out of every session one by one. A key has no
	// session of its own to sign out of.
	{pattern: "/api/v1/account/sessions/sign-out*"},
	{method: http.MethodDelete, pattern: "/api/v1/account/sessions/*"},
	{pattern: "/api/v1/auth/sessions/revoke*"},
	{pattern: "/api/v1/auth/logout"},
	// Deactivation.
	{pattern: "/api/v1/account/deactivate*"},
	// Re-authentication: a key is not a proof of the owner's presence.
	{pattern: "/api/v1/auth/reauth/*"},
}

// Messages of the refusals.
const (
	msgAPIKeyForbidden = "API keys cannot be used for this operation; sign in instead"
	msgScopeRead       = "This API key lacks the read scope"
	msgScopeWrite      = "This API key lacks the write scope"
)

// APIKeyRefusal says why an API key with the given scopes may not make the request, or "" when it
// may. path is the request path; route, when known, the pattern of the matched route. The request is
// refused when either matches a rule, after the path is lower-cased (routing ignores case), its
// percent-escapes decoded and repeated and trailing slashes dropped, so that spelling a path
// differently never gets around the list.
func APIKeyRefusal(method, route, path string, scopes Scope) string {
	for _, p := range []string{route, path} {
		if p != "" && apiKeyForbiddenPath(method, p) {
			return msgAPIKeyForbidden
		}
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if !scopes.Has(ScopeRead) {
			return msgScopeRead
		}
	default:
		if !scopes.Has(ScopeWrite) {
			return msgScopeWrite
		}
	}
	return ""
}

func apiKeyForbiddenPath(method, path string) bool {
	for _, p := range pathSpellings(path) {
		for _, r := range apiKeyForbidden {
			if r.method != "" && !strings.EqualFold(r.method, method) {
				continue
			}
			if matchPattern(r.pattern, p) {
				return true
			}
		}
	}
	return false
}

func matchPattern(pattern, path string) bool {
	prefix, isPrefix := strings.CutSuffix(pattern, "*")
	if !isPrefix {
		return path == pattern
	}
	if dir, ok := strings.CutSuffix(prefix, "/"); ok && path == dir {
		return true
	}
	return strings.HasPrefix(path, prefix)
}

// pathSpellings returns the normalized path, and its percent-decoded form when that differs.
func pathSpellings(path string) []string {
	out := []string{normalizePath(path)}
	if strings.Contains(path, "%") {
		if dec, err := url.PathUnescape(path); err == nil {
			out = append(out, normalizePath(dec))
		}
	}
	return out
}

func normalizePath(p string) string {
	p = strings.ToLower(p)
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	return p
}
