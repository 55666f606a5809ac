package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestAPIDocsSetting runs the service as configured: API_DOCS_ENABLED=true serves the document and
// the docs page, and without it both answer 404.
func TestAPIDocsSetting(t *testing.T) {
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	env := baseEnv(t)
	env["API_DOCS_ENABLED"] = "true"
	on := start(t, env)
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	getJSON(t, on.public+"/openapi.json", &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("GET /openapi.json: openapi %q, want an OpenAPI 3.1 document", doc.OpenAPI)
	}
	if got := status(on.public + "/docs"); got != http.StatusOK {
		t.Errorf("GET /docs with API_DOCS_ENABLED=true: status %d, want 200", got)
	}

	off := start(t, baseEnv(t))
	for _, path := range []string{"/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"} {
		if got := status(off.public + path); got != http.StatusNotFound {
			t.Errorf("GET %s without API_DOCS_ENABLED: status %d, want 404", path, got)
		}
	}
}
