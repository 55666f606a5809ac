package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

// wellKnownApps are the session service's apps with nothing behind them but a keyring: the well-known
// documents need no database.
func wellKnownApps(t *testing.T, issuer string, keys *token.Keyring) (public, internal *fiber.App) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := httpx.Options{Service: "session", Logger: log, BodyLimit: 64 << 10}
	public, err := httpx.NewApp(opts)
	if err != nil {
		t.Fatal(err)
	}
	internal, err = httpx.NewInternalApp(opts)
	if err != nil {
		t.Fatal(err)
	}
	deny := func(c *fiber.Ctx) error { return fiber.ErrUnauthorized }
	httpapi.Routes(public, internal, httpapi.NewHandler(nil, keys.JWKSJSON, log, httpapi.Config{Issuer: issuer}), deny, deny)
	return public, internal
}

func get(t *testing.T, app *fiber.App, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	apispectest.CheckResponse(t, req, nil, resp, raw)
	return resp, raw
}

func TestOpenIDConfiguration(t *testing.T) {
	t.Parallel()
	keys, err := token.NewKeyring(newSigningKey(t))
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://accounts.example.com"
	public, _ := wellKnownApps(t, issuer, keys)

	resp, raw := get(t, public, "/.well-known/openid-configuration", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("Cache-Control = %q, want public, max-age=3600", got)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// The fields OpenID Connect Discovery 1.0 §3 requires of a provider that issues no ID tokens of
	// its own flows, and that Envoy, Istio, Kong and NGINX read.
	for field, want := range map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              issuer + "/.well-known/jwks.json",
		"id_token_signing_alg_values_supported": []any{"EdDSA"},
		"subject_types_supported":               []any{"public"},
		"response_types_supported":              []any{"token"},
		"acr_values_supported":                  []any{"aal1", "aal2", "aal3"},
	} {
		got, _ := json.Marshal(doc[field])
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("%s = %s, want %s", field, got, w)
		}
	}
	claims, _ := doc["claims_supported"].([]any)
	for _, c := range []string{"iss", "sub", "aud", "exp", "sid", "amr", "acr", "auth_time"} {
		if !slices.Contains(claims, any(c)) {
			t.Errorf("claims_supported = %v lacks %s", claims, c)
		}
	}
	for _, absent := range []string{"authorization_endpoint", "token_endpoint"} {
		if _, ok := doc[absent]; ok {
			t.Errorf("%s announced, but Latchkey has no OAuth endpoint", absent)
		}
	}

	// Conditional: the same document answers 304 without a body.
	resp, raw = get(t, public, "/.well-known/openid-configuration", map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	if resp.StatusCode != http.StatusNotModified || len(raw) != 0 {
		t.Errorf("conditional GET: status %d, body %q; want 304 and no body", resp.StatusCode, raw)
	}

	// Without an issuer there is nothing to discover.
	bare, _ := wellKnownApps(t, "", keys)
	if resp, _ := get(t, bare, "/.well-known/openid-configuration", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("no issuer: status %d, want 404", resp.StatusCode)
	}
}

// TestJWKSETag: the JWKS carries a strong ETag of its body; If-None-Match with it (alone, in a list,
// weak or "*") is answered 304 with the same ETag and Cache-Control, and once the keys change the old
// tag gets the new document.
func TestJWKSETag(t *testing.T) {
	t.Parallel()
	keys, err := token.NewKeyring(newSigningKey(t))
	if err != nil {
		t.Fatal(err)
	}
	public, internal := wellKnownApps(t, "https://accounts.example.com", keys)
	for name, app := range map[string]*fiber.App{"public": public, "internal": internal} {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, app, "/.well-known/jwks.json", nil)
			etag := resp.Header.Get("ETag")
			if resp.StatusCode != http.StatusOK || len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
				t.Fatalf("status %d, ETag %q; want 200 and a strong entity tag", resp.StatusCode, etag)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("Cache-Control = %q", got)
			}
			if again, _ := get(t, app, "/.well-known/jwks.json", nil); again.Header.Get("ETag") != etag {
				t.Errorf("ETag changed between two reads of the same keys: %q, %q", etag, again.Header.Get("ETag"))
			}
			for _, inm := range []string{etag, `"other", ` + etag, "W/" + etag, "*"} {
				resp, raw := get(t, app, "/.well-known/jwks.json", map[string]string{"If-None-Match": inm})
				if resp.StatusCode != http.StatusNotModified || len(raw) != 0 {
					t.Errorf("If-None-Match %s: status %d, body %q; want 304 and no body", inm, resp.StatusCode, raw)
				}
				if resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") != "public, max-age=300" {
					t.Errorf("If-None-Match %s: 304 with ETag %q, Cache-Control %q", inm, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
				}
			}
			if resp, raw := get(t, app, "/.well-known/jwks.json", map[string]string{"If-None-Match": `"stale"`}); resp.StatusCode != http.StatusOK || string(raw) != string(body) {
				t.Errorf("stale If-None-Match: status %d, want 200 and the document", resp.StatusCode)
			}
		})
	}

	// A new key: the old tag no longer matches, and the new document comes with a new tag.
	resp, _ := get(t, public, "/.well-known/jwks.json", nil)
	oldTag := resp.Header.Get("ETag")
	if err := keys.Replace(keys.Signer(), newSigningKey(t)); err != nil {
		t.Fatal(err)
	}
	resp, raw := get(t, public, "/.well-known/jwks.json", map[string]string{"If-None-Match": oldTag})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == oldTag {
		t.Fatalf("after a key change: status %d, ETag %q (was %q); want 200 and a new tag", resp.StatusCode, resp.Header.Get("ETag"), oldTag)
	}
	set, err := authn.ParseJWKS(raw)
	if err != nil || len(set) != 2 {
		t.Errorf("after a key change the JWKS holds %d keys (%v), want 2", len(set), err)
	}
}

func newSigningKey(t *testing.T) token.Key {
	t.Helper()
	k, err := token.NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
