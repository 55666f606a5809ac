package httpapi_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// sessionKeyPolicy is the decision for every public route of the session service. A route missing
// here fails the test: whoever adds a route decides what API keys may do on it. Keys may read the
// account's sessions but never end one (a key could otherwise sign its owner out everywhere).
var sessionKeyPolicy = map[string]authntest.KeyDecision{
	"GET /.well-known/jwks.json":                    authntest.KeysPublic,
	"GET /.well-known/openid-configuration":         authntest.KeysPublic,
	"POST /api/v1/auth/refresh":                     authntest.KeysPublic,
	"POST /api/v1/auth/logout":                      authntest.KeysSignedIn,
	"GET /api/v1/account/sessions":                  authntest.KeysAllowed,
	"POST /api/v1/account/sessions/sign-out":        authntest.KeysSignedIn,
	"POST /api/v1/account/sessions/sign-out-others": authntest.KeysSignedIn,
	"POST /api/v1/account/sessions/sign-out-all":    authntest.KeysSignedIn,
	"DELETE /api/v1/account/sessions/:sessionId":    authntest.KeysSignedIn,
	"GET /api/v1/auth/sessions":                     authntest.KeysAllowed,
	"POST /api/v1/auth/sessions/revoke":             authntest.KeysSignedIn,
	"POST /api/v1/auth/sessions/update-device-info": authntest.KeysSignedIn,
	"GET /api/v1/auth/session/validate":             authntest.KeysSignedIn,
	"GET /api/v1/auth/token-health":                 authntest.KeysSignedIn,
	// The API description (API_DOCS_ENABLED): public, the same for everyone.
	"GET /openapi.json": authntest.KeysPublic,
	"GET /docs":         authntest.KeysPublic,
	"GET /docs/:asset":  authntest.KeysPublic,
}

// TestAPIKeyRoutePolicy asks every public route of the real app what it decides about API keys.
func TestAPIKeyRoutePolicy(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, session.Options{}, httpapi.Config{APIDoc: sampleAPIDoc}, nil)
	authntest.CheckKeyPolicy(t, s.public, s.apiKeys.Issue(t, "acc-1", authn.ScopeRead|authn.ScopeWrite), sessionKeyPolicy)
}
