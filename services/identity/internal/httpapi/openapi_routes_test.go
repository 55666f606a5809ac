package httpapi_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
)

// TestRoutesMatchOpenAPI fails when the public app registers a route libs/platform/apispec/openapi.yaml
// does not document for identity, or the document gives identity an operation it does not register.
func TestRoutesMatchOpenAPI(t *testing.T) {
	h := newHarness(t)
	var got []apispectest.Route
	for _, r := range h.app.GetRoutes(true) {
		got = append(got, apispectest.Route{Method: r.Method, Path: r.Path})
	}
	apispectest.CheckRoutes(t, "identity", got, false)
}
