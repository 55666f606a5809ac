package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// sampleAPIDoc stands in for Latchkey's OpenAPI document.
func sampleAPIDoc() []byte {
	return []byte(`{"openapi":"3.1.0","info":{"title":"Latchkey","version":"test"},"paths":{}}`)
}

// TestAPIDocs checks the description is served by the session service's public app, through its
// middleware (which marks every other answer no-store), only when configured (API_DOCS_ENABLED).
func TestAPIDocs(t *testing.T) {
	t.Parallel()
	paths := []string{"/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"}

	t.Run("on", func(t *testing.T) {
		t.Parallel()
		s := newStackWith(t, session.Options{}, httpapi.Config{APIDoc: sampleAPIDoc}, nil)
		for _, path := range paths {
			got := getRaw(t, s.public, path)
			if got.status != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", path, got.status)
				continue
			}
			if cc := got.header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
				t.Errorf("GET %s: Cache-Control %q, want public caching", path, cc)
			}
			if p := got.header.Get("Pragma"); p != "" {
				t.Errorf("GET %s: Pragma %q left by the API's no-store default", path, p)
			}
		}
		if got := getRaw(t, s.public, "/openapi.json"); got.raw != string(sampleAPIDoc()) {
			t.Errorf("GET /openapi.json = %s, want the configured document", got.raw)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		s := newStackWith(t, session.Options{}, httpapi.Config{}, nil)
		for _, path := range paths {
			if got := getRaw(t, s.public, path); got.status != http.StatusNotFound {
				t.Errorf("GET %s with the docs off: status %d, want 404", path, got.status)
			}
		}
	})
}

// getRaw GETs path from app: the docs page and its assets are not JSON, which do expects.
func getRaw(t *testing.T, app *fiber.App, path string) response {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
}
