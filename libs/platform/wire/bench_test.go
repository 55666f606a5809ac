package wire_test

import (
	"errors"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// benchCtx returns a Fiber context for a request to path, as a handler would see it.
func benchCtx(b *testing.B, app *fiber.App, path string) (*fiber.Ctx, func()) {
	b.Helper()
	fctx := &fasthttp.RequestCtx{}
	fctx.Request.SetRequestURI(path)
	fctx.Request.Header.SetMethod(fiber.MethodGet)
	c := app.AcquireCtx(fctx)
	return c, func() { app.ReleaseCtx(c) }
}

// BenchmarkRender measures writing an answer in each wire style: a success envelope, an error
// envelope with field errors, and a plain (FastAPI-style) validation error.
func BenchmarkRender(b *testing.B) {
	app := fiber.New()
	data := map[string]any{"id": "0d9f4c1e-7c55-4b8e-9c1a-2f1f0e6d3b21", "username": "ada", "email": "ada@example.com", "twoFactorEnabled": false}
	fieldErr := wire.Invalid(wire.Body("email", "Invalid email", "value_error"), wire.Body("password", "Field required", "missing"))
	cases := []struct {
		name string
		path string
		run  func(c *fiber.Ctx) error
	}{
		{"envelope OK", "/api/v1/account/security-info", func(c *fiber.Ctx) error { return wire.OK(c, 200, "Security info", data) }},
		{"envelope error", "/api/v1/account/password/change", func(c *fiber.Ctx) error { return wire.Render(c, fieldErr) }},
		{"plain OK", "/api/v1/me", func(c *fiber.Ctx) error { return wire.OK(c, 200, "", data) }},
		{"plain error", "/api/v1/auth/login", func(c *fiber.Ctx) error { return wire.Render(c, fieldErr) }},
		{"unknown error", "/api/v1/auth/login", func(c *fiber.Ctx) error { return wire.Render(c, errors.New("boom")) }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c, release := benchCtx(b, app, tc.path)
			defer release()
			b.ReportAllocs()
			for b.Loop() {
				c.Response().Reset()
				if err := tc.run(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
