package wire_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// fuzzRequest has the field types the services decode: strings, numbers, booleans, lists, objects.
type fuzzRequest struct {
	Email    string            `json:"email"`
	Password string            `json:"password"`
	Days     int               `json:"expires_in_days"`
	Remember bool              `json:"remember"`
	Scopes   []string          `json:"scopes"`
	Meta     map[string]string `json:"meta"`
	Nested   *struct {
		Locale string `json:"locale"`
	} `json:"nested"`
}

// FuzzDecode sends arbitrary bodies to a handler that decodes and validates them the way the
// services do: every answer is a 2xx or a 4xx in the path's wire style, never a 5xx.
func FuzzDecode(f *testing.F) {
	app := fiber.New(fiber.Config{ErrorHandler: wire.Render})
	handler := func(c *fiber.Ctx) error {
		var req fuzzRequest
		if err := wire.Decode(c, &req); err != nil {
			return err
		}
		check := wire.NewChecker()
		if check.Required("email", req.Email) {
			check.Email("email", req.Email)
		}
		check.MaxLen("password", req.Password, 128)
		check.Check(req.Days >= 0 && req.Days <= 365, "expires_in_days", "Input should be between 0 and 365", "value_error")
		for _, s := range req.Scopes {
			check.OneOf("scopes", s, "read", "write")
		}
		if err := check.Err(); err != nil {
			return err
		}
		return wire.OK(c, http.StatusOK, "ok", nil)
	}
	app.Post("/api/v1/auth/login", handler)              // plain style
	app.Post("/api/v1/account/password/change", handler) // envelope style
	serve := app.Handler()
	for _, seed := range []string{
		`{"email":"ada@example.com","password":"x","scopes":["read"]}`, `{}`, ``, `null`, `[]`, `"str"`, `{"email":5}`,
		`{"email":"a@b.c"} {}`, `{"email":"ada@example.com","expires_in_days":1e400}`, `{"nested":{"locale":[]}}`,
		`{"email":"\ud800@x.y"}`, `{"meta":{"a":1}}`, `{"email":"ada@example.com","scopes":["admin"]}`, "\xff\xfe",
		`{"email":"ada@example.com","expires_in_days":-1}`, `{"email":"` + string(bytes.Repeat([]byte("a"), 300)) + `@x.io"}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, envelope bool) {
		path := "/api/v1/auth/login"
		if envelope {
			path = "/api/v1/account/password/change"
		}
		var fctx fasthttp.RequestCtx
		fctx.Request.Header.SetMethod(http.MethodPost)
		fctx.Request.SetRequestURI(path)
		fctx.Request.Header.SetContentType("application/json")
		fctx.Request.SetBody(body)
		serve(&fctx)
		status := fctx.Response.StatusCode()
		if status >= 500 || (status != 200 && status != 400 && status != 422) {
			t.Fatalf("body %q: status %d: %s", body, status, fctx.Response.Body())
		}
		var out map[string]any
		if err := json.Unmarshal(fctx.Response.Body(), &out); err != nil {
			t.Fatalf("body %q: answer is not a JSON object: %q", body, fctx.Response.Body())
		}
		if status == 200 {
			return
		}
		if envelope {
			if out["success"] != false || out["message"] == nil {
				t.Fatalf("envelope path answered %s", fctx.Response.Body())
			}
		} else if out["detail"] == nil {
			t.Fatalf("plain path answered %s", fctx.Response.Body())
		}
	})
}

// FuzzValidEmail checks the e-mail rule on arbitrary strings: an accepted address has exactly one
// "@" with text on both sides and no spaces or angle brackets (no display-name forms).
func FuzzValidEmail(f *testing.F) {
	for _, seed := range []string{"ada@example.com", "Ada <ada@example.com>", "a@b", "@", "a@@b.c", " ada@example.com", "ada@exa mple.com", `"a b"@example.com`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !wire.ValidEmail(s) {
			return
		}
		at := bytes.LastIndexByte([]byte(s), '@')
		if at <= 0 || at == len(s)-1 || bytes.ContainsAny([]byte(s), " <>\t\r\n") {
			t.Fatalf("ValidEmail(%q) = true", s)
		}
	})
}
