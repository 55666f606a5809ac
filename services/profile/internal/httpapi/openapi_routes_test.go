package httpapi_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
)

// TestRoutesMatchOpenAPI fails when the public app registers a route libs/platform/apispec/openapi.yaml
// does not document for profile, or the document gives profile an operation it does not register.
func TestRoutesMatchOpenAPI(t *testing.T) {
	f := newFixture(t)
	var got []apispectest.Route
	for _, r := range f.app.GetRoutes(true) {
		got = append(got, apispectest.Route{Method: r.Method, Path: r.Path})
	}
	apispectest.CheckRoutes(t, "profile", got, false)
}
