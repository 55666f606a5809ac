package httpapi_test

import (
	"log/slog"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
)

// TestRoutesMatchOpenAPI fails when the public app registers a route libs/platform/apispec/openapi.yaml
// does not document for notification, or the document gives notification an operation it does not
// register: with the development outbox (the local stack) and without it (production).
func TestRoutesMatchOpenAPI(t *testing.T) {
	for _, dev := range []bool{true, false} {
		app, err := httpx.NewApp(httpx.Options{Service: "notification", Logger: slog.New(slog.DiscardHandler), BodyLimit: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		outbox := devoutbox.New(testenv.New(t).Database("notification"))
		h := httpapi.NewHandler(outbox, slog.New(slog.DiscardHandler)).
			WithStatusCallback(httpapi.NewStatusCallback(providertestToken, callbackURL, nil))
		httpapi.Routes(app, h, dev)
		apispectest.CheckRoutes(t, "notification", routesOf(app), dev)
	}
}

func routesOf(app *fiber.App) []apispectest.Route {
	var out []apispectest.Route
	for _, r := range app.GetRoutes(true) {
		out = append(out, apispectest.Route{Method: r.Method, Path: r.Path})
	}
	return out
}

const providertestToken = "test-auth-token"
