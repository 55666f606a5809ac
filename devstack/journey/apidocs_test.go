package journey_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestAPIDocs reads the API description through the gateway as a developer would: the OpenAPI
// document (cacheable, 304 on a conditional request), the docs page with its same-origin
// Content-Security-Policy, and the Swagger UI script it loads, embedded in the session service.
func TestAPIDocs(t *testing.T) {
	c := startStack(t)

	doc := c.do("GET", "/openapi.json", nil).want(t, 200, "OpenAPI document")
	if ct := doc.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("document Content-Type = %q, want application/json", ct)
	}
	if v := str(doc.Body, "openapi"); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want an OpenAPI 3.1 document", v)
	}
	if _, ok := doc.Body["paths"].(map[string]any); !ok {
		t.Errorf("document has no paths object: %.200s", doc.Raw)
	}
	etag := doc.Header.Get("ETag")
	if etag == "" || !strings.HasPrefix(doc.Header.Get("Cache-Control"), "public") {
		t.Fatalf("document without ETag or public Cache-Control: %v", doc.Header)
	}
	if r := c.do("GET", "/openapi.json", nil, "If-None-Match", etag).want(t, 304, "conditional document"); len(r.Raw) != 0 {
		t.Errorf("304 with a body: %q", r.Raw)
	}

	page := c.do("GET", "/docs", nil).want(t, 200, "docs page")
	if ct := page.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page Content-Type = %q, want text/html", ct)
	}
	csp := page.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("page CSP %q lacks %s", csp, want)
		}
	}
	if regexp.MustCompile(`(?i)https?:|"//`).Match(page.Raw) {
		t.Errorf("page names another host:\n%s", page.Raw)
	}
	bundle := regexp.MustCompile(`src="(/docs/swagger-ui-bundle\.js\?v=[^"]+)"`).FindSubmatch(page.Raw)
	if bundle == nil {
		t.Fatalf("page does not load Swagger UI from /docs/:\n%s", page.Raw)
	}

	script := c.do("GET", string(bundle[1]), nil).want(t, 200, "Swagger UI script")
	if ct := script.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("script Content-Type = %q, want text/javascript", ct)
	}
	if !strings.Contains(string(script.Raw), "SwaggerUIBundle") {
		t.Errorf("script (%d bytes) is not Swagger UI's bundle", len(script.Raw))
	}
	// Compressed end to end: the gateway passes the service's gzip through.
	zipped := c.do("GET", string(bundle[1]), nil, "Accept-Encoding", "gzip").want(t, 200, "gzipped script")
	if zipped.Header.Get("Content-Encoding") != "gzip" || len(zipped.Raw) >= len(script.Raw) {
		t.Errorf("Accept-Encoding gzip: Content-Encoding %q, %d bytes of %d", zipped.Header.Get("Content-Encoding"), len(zipped.Raw), len(script.Raw))
	}
}
