package apidocs_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/apidocs"
)

// sampleDoc is a small OpenAPI 3.1 document standing in for the real one.
const sampleDoc = `{"openapi":"3.1.0","info":{"title":"Sample","version":"1.0.0"},"paths":{"/ping":{"get":{"responses":{"200":{"description":"pong"}}}}}}`

func newApp(t *testing.T) *fiber.App {
	t.Helper()
	app := fiber.New()
	apidocs.Register(app, func() []byte { return []byte(sampleDoc) }, apidocs.Options{Title: "Sample API"})
	return app
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, app *fiber.App, path string, header map[string]string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

func TestDocumentServed(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	got := get(t, app, "/openapi.json", nil)
	if got.status != http.StatusOK {
		t.Fatalf("GET /openapi.json: status %d", got.status)
	}
	if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if string(got.body) != sampleDoc {
		t.Errorf("body = %s, want the document", got.body)
	}
	if cc := got.header.Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("Cache-Control = %q, want public, max-age=3600", cc)
	}
	etag := got.header.Get("ETag")
	if !regexp.MustCompile(`^"[A-Za-z0-9_-]+"$`).MatchString(etag) {
		t.Fatalf("ETag = %q, want a strong entity tag", etag)
	}

	tests := []struct {
		name        string
		ifNoneMatch string
		want        int
	}{
		{"same tag", etag, http.StatusNotModified},
		{"weak form of the tag", "W/" + etag, http.StatusNotModified},
		{"in a list", `"other", ` + etag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"another tag", `"stale"`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := get(t, app, "/openapi.json", map[string]string{"If-None-Match": tc.ifNoneMatch})
			if got.status != tc.want {
				t.Fatalf("If-None-Match %s: status %d, want %d", tc.ifNoneMatch, got.status, tc.want)
			}
			if tc.want == http.StatusNotModified && len(got.body) != 0 {
				t.Errorf("304 with a body of %d bytes", len(got.body))
			}
			if got.header.Get("ETag") != etag {
				t.Errorf("ETag = %q, want %q", got.header.Get("ETag"), etag)
			}
		})
	}
}

func TestDocumentETagFollowsTheDocument(t *testing.T) {
	t.Parallel()
	other := fiber.New()
	apidocs.Register(other, func() []byte { return []byte(`{"openapi":"3.1.0","info":{"title":"Other","version":"2"},"paths":{}}`) }, apidocs.Options{})
	a := get(t, newApp(t), "/openapi.json", nil).header.Get("ETag")
	b := get(t, other, "/openapi.json", nil)
	if a == b.header.Get("ETag") {
		t.Fatalf("two documents share the ETag %s", a)
	}
	// A client holding the old release's tag gets the new document.
	if got := get(t, other, "/openapi.json", map[string]string{"If-None-Match": a}); got.status != http.StatusOK {
		t.Errorf("old ETag: status %d, want 200", got.status)
	}
}

func TestRegisterRefusesADocumentThatIsNotJSON(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"", "openapi: 3.1.0", `["a list"]`} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register accepted %q", doc)
				}
			}()
			apidocs.Register(fiber.New(), func() []byte { return []byte(doc) }, apidocs.Options{})
		}()
	}
}

var (
	srcOrHref  = regexp.MustCompile(`(?i)\b(?:src|href)="([^"]*)"`)
	cssURL     = regexp.MustCompile(`url\(\s*["']?([^"')]*)`)
	httpScheme = regexp.MustCompile(`(?i)https?:`)
)

// TestPageUsesOnlyEmbeddedAssets reads /docs as a browser would: every script, stylesheet and icon
// it loads is served here with its content type, and nothing names another host.
func TestPageUsesOnlyEmbeddedAssets(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	page := get(t, app, "/docs", nil)
	if page.status != http.StatusOK {
		t.Fatalf("GET /docs: status %d", page.status)
	}
	if ct := page.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	html := string(page.body)
	if !strings.Contains(html, "<title>Sample API</title>") {
		t.Errorf("page lacks the title from Options:\n%s", html)
	}
	if !strings.Contains(html, `data-document="/openapi.json"`) {
		t.Errorf("page does not point Swagger UI at /openapi.json:\n%s", html)
	}
	if httpScheme.MatchString(html) || strings.Contains(html, `"//`) {
		t.Errorf("page names another host:\n%s", html)
	}
	if strings.Contains(regexp.MustCompile(`(?s)<script[^>]*>(.*?)</script>`).ReplaceAllStringFunc(html, func(s string) string {
		if strings.HasSuffix(s, "></script>") {
			return ""
		}
		return "INLINE"
	}), "INLINE") {
		t.Errorf("page has an inline script, which its CSP refuses:\n%s", html)
	}

	wantTypes := map[string]string{".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
	refs := srcOrHref.FindAllStringSubmatch(html, -1)
	var loaded []string
	for _, m := range refs {
		ref := m[1]
		if ref == "/openapi.json" {
			continue // the <noscript> link to the document
		}
		if !strings.HasPrefix(ref, "/docs/") || strings.HasPrefix(ref, "//") {
			t.Errorf("page loads %q, want a same-origin path under /docs/", ref)
			continue
		}
		loaded = append(loaded, ref)
		name := strings.SplitN(strings.TrimPrefix(ref, "/docs/"), "?", 2)[0]
		ext := name[strings.LastIndex(name, "."):]
		got := get(t, app, strings.ReplaceAll(ref, "&amp;", "&"), nil)
		if got.status != http.StatusOK {
			t.Errorf("GET %s: status %d", ref, got.status)
			continue
		}
		if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, wantTypes[ext]) {
			t.Errorf("GET %s: Content-Type %q, want %s", ref, ct, wantTypes[ext])
		}
		if got.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", ref)
		}
		if ext == ".css" {
			for _, u := range cssURL.FindAllStringSubmatch(string(got.body), -1) {
				if !strings.HasPrefix(u[1], "data:") {
					t.Errorf("stylesheet loads %q, want data: URIs only", u[1])
				}
			}
		}
		if name == "docs.js" && httpScheme.Match(got.body) {
			t.Errorf("docs.js names another host:\n%s", got.body)
		}
	}
	for _, want := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "docs.js"} {
		found := false
		for _, ref := range loaded {
			found = found || strings.HasPrefix(ref, "/docs/"+want+"?v=")
		}
		if !found {
			t.Errorf("page does not load /docs/%s?v=<hash> (loads %v)", want, loaded)
		}
	}
}

func TestPageContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	for _, path := range []string{"/docs", "/docs/swagger-ui-bundle.js", "/docs/docs.js"} {
		got := get(t, app, path, nil)
		csp := got.header.Get("Content-Security-Policy")
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[name] = value
		}
		want := map[string]string{
			"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'",
			"img-src": "'self' data:", "frame-ancestors": "'none'", "base-uri": "'none'",
		}
		for name, value := range want {
			if directives[name] != value {
				t.Errorf("%s: CSP %s = %q, want %q (policy %q)", path, name, directives[name], value, csp)
			}
		}
		if strings.Contains(csp, "unsafe") || httpScheme.MatchString(csp) || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q allows more than the page's origin", path, csp)
		}
		if got.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options = %q", path, got.header.Get("X-Frame-Options"))
		}
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	tests := []struct {
		path   string
		status int
	}{
		{"/docs/swagger-ui-bundle.js", http.StatusOK},
		{"/docs/swagger-ui.css", http.StatusOK},
		{"/docs/favicon-32x32.png", http.StatusOK},
		{"/docs/docs.js", http.StatusOK},
		{"/docs/LICENSE", http.StatusNotFound},
		{"/docs/README.md", http.StatusNotFound},
		{"/docs/docs.html", http.StatusNotFound},
		{"/docs/..%2fapidocs.go", http.StatusNotFound},
		{"/docs/assets/swagger-ui.css", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got := get(t, app, tc.path, nil)
			if got.status != tc.status {
				t.Fatalf("GET %s: status %d, want %d", tc.path, got.status, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			if cc := got.header.Get("Cache-Control"); cc != "public, max-age=86400" {
				t.Errorf("Cache-Control = %q", cc)
			}
			etag := got.header.Get("ETag")
			if again := get(t, app, tc.path, map[string]string{"If-None-Match": etag}); again.status != http.StatusNotModified {
				t.Errorf("If-None-Match %s: status %d, want 304", etag, again.status)
			}
		})
	}
}

func TestLargeAssetsGzipped(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	plain := get(t, app, "/docs/swagger-ui-bundle.js", nil)
	if plain.header.Get("Content-Encoding") != "" {
		t.Fatalf("Content-Encoding %q without Accept-Encoding", plain.header.Get("Content-Encoding"))
	}
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"br", false},
	} {
		got := get(t, app, "/docs/swagger-ui-bundle.js", map[string]string{"Accept-Encoding": tc.accept})
		if (got.header.Get("Content-Encoding") == "gzip") != tc.gzip {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip %v", tc.accept, got.header.Get("Content-Encoding"), tc.gzip)
			continue
		}
		if !strings.Contains(got.header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: Vary = %q", tc.accept, got.header.Get("Vary"))
		}
		if !tc.gzip {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(got.body))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(unzipped, plain.body) || len(got.body) >= len(plain.body) {
			t.Errorf("gzipped bundle (%d bytes) does not unzip to the bundle (%d bytes)", len(got.body), len(plain.body))
		}
		// Its own entity tag, revalidated like the plain one.
		etag := got.header.Get("ETag")
		if etag == plain.header.Get("ETag") {
			t.Errorf("gzipped and plain bundle share the ETag %s", etag)
		}
		again := get(t, app, "/docs/swagger-ui-bundle.js", map[string]string{"Accept-Encoding": tc.accept, "If-None-Match": etag})
		if again.status != http.StatusNotModified {
			t.Errorf("If-None-Match %s with gzip: status %d, want 304", etag, again.status)
		}
		if plainAgain := get(t, app, "/docs/swagger-ui-bundle.js", map[string]string{"If-None-Match": etag}); plainAgain.status != http.StatusOK || plainAgain.header.Get("Content-Encoding") != "" {
			t.Errorf("gzip ETag without Accept-Encoding: status %d, Content-Encoding %q; want the plain bundle", plainAgain.status, plainAgain.header.Get("Content-Encoding"))
		}
	}
}

// TestVendoredAssets checks the vendored Swagger UI against assets/README.md, which records where
// the files come from: a file replaced without updating the record fails here.
func TestVendoredAssets(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("assets/README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| ([\w.-]+) \| ([0-9a-f]{64}) \|$`).FindAllStringSubmatch(string(readme), -1)
	if len(rows) != 3 {
		t.Fatalf("assets/README.md lists %d hashes, want 3", len(rows))
	}
	app := newApp(t)
	for _, row := range rows {
		got := get(t, app, "/docs/"+row[1], nil)
		sum := sha256.Sum256(got.body)
		if hex.EncodeToString(sum[:]) != row[2] {
			t.Errorf("/docs/%s: sha256 %x, assets/README.md says %s", row[1], sum, row[2])
		}
	}
	for _, name := range []string{"LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"} {
		if _, err := os.Stat("assets/" + name); err != nil {
			t.Errorf("licence file missing next to the vendored files: %v", err)
		}
	}
}
