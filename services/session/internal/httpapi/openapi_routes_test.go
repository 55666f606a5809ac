package httpapi_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/apispec"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestRoutesMatchOpenAPI fails when the public app registers a route libs/platform/apispec/openapi.yaml
// does not document for session, or the document gives session an operation it does not register.
func TestRoutesMatchOpenAPI(t *testing.T) {
	// With the API description on, as the chart and the local stack run it.
	s := newStackWith(t, session.Options{}, httpapi.Config{APIDoc: apispec.JSON}, nil)
	var got []apispectest.Route
	for _, r := range s.public.GetRoutes(true) {
		got = append(got, apispectest.Route{Method: r.Method, Path: r.Path})
	}
	apispectest.CheckRoutes(t, "session", got, false)
}
