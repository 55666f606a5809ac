package authntest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// KeyDecision is what a route decides about API keys, as CheckKeyPolicy observes it.
type KeyDecision string

const (
	KeysPublic   KeyDecision = "public"    // no credential needed
	KeysAllowed  KeyDecision = "keys"      // a key with both scopes gets past authentication
	KeysSignedIn KeyDecision = "signed-in" // a key is refused with 403: an access token is needed
)

var routeParam = regexp.MustCompile(`:[A-Za-z]+\??`)

// CheckKeyPolicy asks every route of app what it decides about API keys — without a credential (401
// means the route needs one), then with key, a read-write key (403 "API keys cannot..." means keys
// are refused) — and compares the answer with want, keyed "METHOD /path" as the app registers it. A
// route missing from want fails, and so does an entry naming no route: whoever adds a route decides
// what keys may do on it.
func CheckKeyPolicy(t *testing.T, app *fiber.App, key string, want map[string]KeyDecision) {
	t.Helper()
	call := func(method, path, cred string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	seen := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == "USE" {
			continue
		}
		id := r.Method + " " + r.Path
		if seen[id] {
			continue
		}
		seen[id] = true
		decision, ok := want[id]
		if !ok {
			t.Errorf("route %s has no API-key decision", id)
			continue
		}
		path := routeParam.ReplaceAllString(r.Path, "x")
		got := KeysAllowed
		if status, _ := call(r.Method, path, ""); status != http.StatusUnauthorized {
			got = KeysPublic
		} else if status, body := call(r.Method, path, key); status == http.StatusForbidden && strings.Contains(body, "API keys cannot") {
			got = KeysSignedIn
		} else if status == http.StatusUnauthorized {
			t.Errorf("%s refused a valid key with 401: %s", id, body)
		} else if status == http.StatusTooManyRequests {
			t.Errorf("%s: the key is over its rate limit (raise the app's APIKeyRatePerMinute for this test): %s", id, body)
			continue
		}
		if got != decision {
			t.Errorf("%s: API keys %s, want %s", id, got, decision)
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("the key policy names %s, which is not a route", id)
		}
	}
}
