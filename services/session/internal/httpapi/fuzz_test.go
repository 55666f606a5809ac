package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// fuzzEndpoints are the session service's endpoints that read a request body, public and internal.
var fuzzEndpoints = []struct {
	method, path string
	internal     bool
}{
	{"POST", "/api/v1/auth/refresh", false},
	{"POST", "/api/v1/auth/sessions/revoke", false},
	{"POST", "/api/v1/auth/sessions/update-device-info", false},
	{"POST", "/api/v1/account/sessions/sign-out", false},
	{"POST", "/api/v1/account/sessions/sign-out-others", false},
	{"POST", "/api/v1/account/sessions/sign-out-all", false},
	{"DELETE", "/api/v1/account/sessions/%s", false},
	{"POST", "/internal/v1/sessions", true},
	{"POST", "/internal/v1/accounts/acc-fuzz/sessions/revoke", true},
}

// FuzzRequestBodies sends arbitrary bodies (and path ids) to every endpoint of the session service
// that reads one, signed in with a fresh session each time: no input yields a 5xx other than the
// documented 503 of re-authentication when identity cannot be asked (none is configured here), and
// every error is in the path's wire style.
func FuzzRequestBodies(f *testing.F) {
	s := newStack(f, session.Options{})
	// Every endpoint with the shapes every decoder must survive; the endpoint-specific bodies once each
	// (seeds run in make test, where each costs a session and a request on the race-enabled build).
	common := []string{``, `{}`, `null`, `[]`, "{\"a\":"}
	specific := []string{
		`{"refresh_token":"x"}`, `{"session_id":"current"}`, `{"session_id":5}`, `{"revoke_all_others":true}`,
		`{"device_name":"` + strings.Repeat("n", 300) + `","platform":"ios"}`, `{"password":"p"}`, `{"otp":"123456"}`,
		`{"accountId":"acc-fuzz","deviceId":"d","ipAddress":"not-an-ip","platform":"toaster"}`, `{"reason":"nope"}`,
	}
	const uuid = "00000000-0000-4000-8000-000000000000"
	for i := range fuzzEndpoints {
		for _, body := range common {
			f.Add(uint8(i), body, uuid)
		}
		f.Add(uint8(i), specific[i%len(specific)], uuid)
	}
	f.Add(uint8(6), ``, "not-a-uuid")
	f.Add(uint8(6), ``, "%2e%2e")
	f.Fuzz(func(t *testing.T, which uint8, body, id string) {
		ep := fuzzEndpoints[int(which)%len(fuzzEndpoints)]
		path := ep.path
		if strings.Contains(path, "%s") {
			if strings.ContainsAny(id, "/?#% ") || id == "" {
				return // not a single path segment
			}
			path = fmt.Sprintf(path, id)
			if _, err := url.ParseRequestURI(path); err != nil {
				return // no client can send it (control characters): not a request line
			}
		}
		created := s.createSession(t, "acc-fuzz")
		app, auth := s.public, "Bearer "+created.AccessToken
		if ep.internal {
			app, auth = s.internal, "Bearer "+internalToken
		}
		r := do(t, app, ep.method, path, auth, body)
		if r.status >= 500 && !(r.status == 503 && strings.HasSuffix(path, "/sign-out-others") || r.status == 503 && strings.HasSuffix(path, "/sign-out-all")) {
			t.Fatalf("%s %s %q: status %d: %s", ep.method, path, body, r.status, r.raw)
		}
		if r.status < 400 {
			return
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
			t.Fatalf("%s %s: error answer is not a JSON object: %s", ep.method, path, r.raw)
		}
		if wire.StyleFor(path) == wire.Envelope {
			if out["success"] != false {
				t.Fatalf("%s %s: %d %s, want the error envelope", ep.method, path, r.status, r.raw)
			}
		} else if out["detail"] == nil {
			t.Fatalf("%s %s: %d %s, want {\"detail\": ...}", ep.method, path, r.status, r.raw)
		}
	})
}
