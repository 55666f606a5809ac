package wire_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

type loginReq struct {
	Email string `json:"email"`
	Age   int    `json:"age"`
}

func newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		BodyLimit:    1024,
		ErrorHandler: func(c *fiber.Ctx, err error) error { return wire.Render(c, err) },
	})
	handler := func(c *fiber.Ctx) error {
		var req loginReq
		if err := wire.Decode(c, &req); err != nil {
			return err
		}
		chk := wire.NewChecker()
		if chk.Required("email", req.Email) {
			chk.Email("email", req.Email)
		}
		if err := chk.Err(); err != nil {
			return err
		}
		return wire.OK(c, fiber.StatusCreated, "Created", fiber.Map{"email": req.Email})
	}
	app.Post("/api/v1/auth/thing", handler)
	app.Post("/api/v1/account/thing", handler)
	app.Get("/api/v1/account/limited", func(c *fiber.Ctx) error {
		return wire.TooManyRequests("Too many attempts", 1500*time.Millisecond)
	})
	limitedWith := func(c *fiber.Ctx) error {
		return wire.TooManyRequestsLimit("Too many attempts", 90*time.Second, wire.RateLimit{Limit: 100, Remaining: 3, Reset: 100500 * time.Millisecond})
	}
	app.Get("/api/v1/account/limited-known", limitedWith)
	app.Get("/api/v1/auth/limited-known", limitedWith)
	app.Get("/api/v1/auth/boom", func(c *fiber.Ctx) error { return io.ErrUnexpectedEOF })
	return app
}

func do(t *testing.T, app *fiber.App, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, out
}

func TestPlainStyle(t *testing.T) {
	app := newApp()
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantLoc    string // joined loc of the first detail entry, for 422
		wantType   string
	}{
		{"malformed json", `{"email":`, 422, "body.9", "json_invalid"},
		{"trailing garbage", `{"email":"a@b.co"} x`, 422, "", "json_invalid"},
		{"empty body", ``, 422, "body", "missing"},
		{"wrong type", `{"email":"a@b.co","age":"x"}`, 422, "body.age", "integer_type"},
		{"not an object", `[1,2]`, 422, "body", "model_attributes_type"},
		{"missing field", `{}`, 422, "body.email", "missing"},
		{"bad email", `{"email":"nope"}`, 422, "body.email", "value_error"},
		{"ok", `{"email":"a@b.co","unknown":1}`, 201, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, app, "POST", "/api/v1/auth/thing", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if status == 201 {
				if body["email"] != "a@b.co" {
					t.Fatalf("body = %v, want the bare object", body)
				}
				return
			}
			detail, ok := body["detail"].([]any)
			if !ok || len(detail) == 0 {
				t.Fatalf("detail = %#v, want a non-empty list", body["detail"])
			}
			first := detail[0].(map[string]any)
			if first["type"] != tc.wantType {
				t.Errorf("type = %v, want %v", first["type"], tc.wantType)
			}
			if first["msg"] == "" {
				t.Errorf("msg is empty")
			}
			if tc.wantLoc != "" {
				var parts []string
				for _, p := range first["loc"].([]any) {
					parts = append(parts, p.(string))
				}
				if got := strings.Join(parts, "."); got != tc.wantLoc {
					t.Errorf("loc = %s, want %s", got, tc.wantLoc)
				}
			}
		})
	}
}

func TestEnvelopeStyle(t *testing.T) {
	app := newApp()
	tests := []struct {
		name        string
		body        string
		wantStatus  int
		wantName    string
		wantMessage string
	}{
		{"malformed json", `{"email":`, 400, "BAD_REQUEST", "Malformed JSON request body"},
		{"empty body", ``, 400, "BAD_REQUEST", "Request body is required"},
		{"validation", `{"email":"nope"}`, 422, "UNPROCESSABLE_ENTITY", "Validation failed"},
		{"ok", `{"email":"a@b.co"}`, 201, "CREATED", "Created"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, app, "POST", "/api/v1/account/thing", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if body["httpStatus"] != tc.wantName || body["message"] != tc.wantMessage {
				t.Errorf("envelope = %v, want httpStatus %s message %q", body, tc.wantName, tc.wantMessage)
			}
			if body["success"] != (status < 400) {
				t.Errorf("success = %v for status %d", body["success"], status)
			}
			at, _ := body["action_time"].(string)
			if _, err := time.Parse("2006-01-02T15:04:05", at); err != nil {
				t.Errorf("action_time %q: %v", at, err)
			}
			switch {
			case status == 422:
				data := body["data"].(map[string]any)
				if data["email"] != "value is not a valid email address" {
					t.Errorf("data = %v, want the field message", data)
				}
			case status >= 400:
				if body["data"] != tc.wantMessage {
					t.Errorf("data = %v, want the message repeated", body["data"])
				}
			default:
				if body["data"].(map[string]any)["email"] != "a@b.co" {
					t.Errorf("data = %v", body["data"])
				}
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	app := newApp()
	t.Run("429 has Retry-After rounded up", func(t *testing.T) {
		status, hdr, body := do(t, app, "GET", "/api/v1/account/limited", "")
		if status != 429 || hdr.Get("Retry-After") != "2" || body["httpStatus"] != "TOO_MANY_REQUESTS" {
			t.Fatalf("got %d Retry-After=%q %v", status, hdr.Get("Retry-After"), body)
		}
	})
	t.Run("429 has the X-RateLimit headers in both styles", func(t *testing.T) {
		for path, detail := range map[string]bool{"/api/v1/account/limited-known": false, "/api/v1/auth/limited-known": true} {
			status, hdr, body := do(t, app, "GET", path, "")
			if status != 429 || hdr.Get("Retry-After") != "90" || hdr.Get("X-RateLimit-Limit") != "100" ||
				hdr.Get("X-RateLimit-Remaining") != "0" || hdr.Get("X-RateLimit-Reset") != "101" {
				t.Errorf("GET %s: %d headers %v, want 429 with Retry-After 90, limit 100, remaining 0, reset 101 (delta seconds, rounded up)", path, status, hdr)
			}
			if detail && body["detail"] != "Too many attempts" || !detail && body["httpStatus"] != "TOO_MANY_REQUESTS" {
				t.Errorf("GET %s: body %v, want the path's style", path, body)
			}
		}
		// A 429 without a described limit still carries them: exhausted until Retry-After.
		_, hdr, _ := do(t, app, "GET", "/api/v1/account/limited", "")
		if hdr.Get("X-RateLimit-Remaining") != "0" || hdr.Get("X-RateLimit-Reset") != "2" || hdr.Get("X-RateLimit-Limit") != "1" {
			t.Errorf("plain 429 headers %v, want X-RateLimit-* with remaining 0 and reset 2", hdr)
		}
	})
	t.Run("unknown error is a bare 500", func(t *testing.T) {
		status, _, body := do(t, app, "GET", "/api/v1/auth/boom", "")
		if status != 500 || body["detail"] != "Internal server error" {
			t.Fatalf("got %d %v", status, body)
		}
	})
	t.Run("unknown route is a 404 in style", func(t *testing.T) {
		status, _, body := do(t, app, "GET", "/api/v1/account/nope", "")
		if status != 404 || body["httpStatus"] != "NOT_FOUND" {
			t.Fatalf("got %d %v", status, body)
		}
		status, _, body = do(t, app, "GET", "/api/v1/me/nope", "")
		if status != 404 || body["detail"] != "Not Found" {
			t.Fatalf("got %d %v", status, body)
		}
	})
}

func TestStatusName(t *testing.T) {
	tests := map[int]string{200: "OK", 400: "BAD_REQUEST", 422: "UNPROCESSABLE_ENTITY", 429: "TOO_MANY_REQUESTS", 503: "SERVICE_UNAVAILABLE"}
	for code, want := range tests {
		if got := wire.StatusName(code); got != want {
			t.Errorf("StatusName(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a@b.co", true}, {"first.last+tag@example.com", true}, {"nope", false}, {"a@b", false},
		{"Name <a@b.co>", false}, {"a b@c.co", false}, {"a@.co", false}, {strings.Repeat("a", 65) + "@b.co", false},
		// Internationalised domains in their ASCII form only; no IP-address domains.
		{"a@xn--bcher-kva.example", true}, {"a@bücher.example", false}, {"a@mail-1.example.co.uk", true},
		{"a@[127.0.0.1]", false}, {"a@127.0.0.1", false}, {"a@[IPv6:::1]", false}, {"a@10.0.0.1", false},
		{"a@-x.example", false}, {"a@x-.example", false}, {"a@x..example", false}, {"a@under_score.example", false},
	}
	for _, tc := range tests {
		if got := wire.ValidEmail(tc.in); got != tc.want {
			t.Errorf("ValidEmail(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestOneOfMessage(t *testing.T) {
	chk := wire.NewChecker()
	chk.OneOf("channel", "FAX", "SMS", "EMAIL")
	err := chk.Err().(*wire.Error)
	if err.Status != 422 || err.Fields[0].Msg != "Input should be 'SMS' or 'EMAIL'" || err.Fields[0].Type != "enum" {
		t.Fatalf("got %+v", err)
	}
}
