package httpapi_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestRoutesMatchOpenAPI fails when the public app registers a route libs/platform/apispec/openapi.yaml
// does not document for session, or the document gives session an operation it does not register.
func TestRoutesMatchOpenAPI(t *testing.T) {
	s := newStack(t, session.Options{})
	var got []apispectest.Route
	for _, r := range s.public.GetRoutes(true) {
		got = append(got, apispectest.Route{Method: r.Method, Path: r.Path})
	}
	apispectest.CheckRoutes(t, "session", got, false)
}
