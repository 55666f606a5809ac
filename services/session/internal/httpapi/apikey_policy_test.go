package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// Key decisions of a route, as TestAPIKeyRoutePolicy observes them.
const (
	keysPublic   = "public"    // no credential needed
	keysAllowed  = "keys"      // a key with both scopes gets past authentication
	keysSignedIn = "signed-in" // a key is refused with 403; an access token is needed
)

// sessionKeyPolicy is the decision for every public route of the session service. A route missing
// here fails the test: whoever adds a route decides what API keys may do on it. Keys may read the
// account's sessions but never end one (a key could otherwise sign its owner out everywhere).
var sessionKeyPolicy = map[string]string{
	"GET /.well-known/jwks.json":                    keysPublic,
	"POST /api/v1/auth/refresh":                     keysPublic,
	"POST /api/v1/auth/logout":                      keysSignedIn,
	"GET /api/v1/account/sessions":                  keysAllowed,
	"POST /api/v1/account/sessions/sign-out":        keysSignedIn,
	"POST /api/v1/account/sessions/sign-out-others": keysSignedIn,
	"POST /api/v1/account/sessions/sign-out-all":    keysSignedIn,
	"DELETE /api/v1/account/sessions/:sessionId":    keysSignedIn,
	"GET /api/v1/auth/sessions":                     keysAllowed,
	"POST /api/v1/auth/sessions/revoke":             keysSignedIn,
	"POST /api/v1/auth/sessions/update-device-info": keysSignedIn,
	"GET /api/v1/auth/session/validate":             keysAllowed,
	"GET /api/v1/auth/token-health":                 keysAllowed,
}

var routeParam = regexp.MustCompile(`:[A-Za-z]+\??`)

// TestAPIKeyRoutePolicy asks every public route of the real app what it decides about API keys:
// without a credential (401 means the route needs one), then with a read-write key (403 "API keys
// cannot..." means keys are refused).
func TestAPIKeyRoutePolicy(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	key := s.apiKeys.Issue(t, "acc-1", authn.ScopeRead|authn.ScopeWrite)
	call := func(method, path, cred string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := s.public.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	seen := map[string]bool{}
	for _, r := range s.public.GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == "USE" {
			continue
		}
		id := r.Method + " " + r.Path
		if seen[id] {
			continue
		}
		seen[id] = true
		want, ok := sessionKeyPolicy[id]
		if !ok {
			t.Errorf("route %s has no API-key decision in sessionKeyPolicy", id)
			continue
		}
		path := routeParam.ReplaceAllString(r.Path, "x")
		got := keysAllowed
		if status, _ := call(r.Method, path, ""); status != http.StatusUnauthorized {
			got = keysPublic
		} else if status, body := call(r.Method, path, key); status == http.StatusForbidden && strings.Contains(body, "API keys cannot") {
			got = keysSignedIn
		}
		if got != want {
			t.Errorf("%s: API keys %s, want %s", id, got, want)
		}
	}
	for id := range sessionKeyPolicy {
		if !seen[id] {
			t.Errorf("sessionKeyPolicy names %s, which is not a route", id)
		}
	}
}
