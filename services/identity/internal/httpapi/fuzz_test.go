package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// fuzzRoutes are identity's JSON endpoints: the anonymous ones and those of a signed-in account.
var fuzzRoutes = []struct {
	path   string
	signed bool
}{
	{"/api/v1/auth/initiate-registration", false},
	{"/api/v1/auth/verify-registration", false},
	{"/api/v1/auth/login", false},
	{"/api/v1/auth/verify-2fa", false},
	{"/api/v1/auth/forgot-password", false},
	{"/api/v1/auth/reset-password", false},
	{"/api/v1/account/device/verify", false},
	{"/api/v1/auth/oauth/google", false},
	{"/api/v1/auth/not-me", false},
	{"/api/v1/account/2fa/enable", true},
	{"/api/v1/account/2fa/disable", true},
	{"/api/v1/account/link/email/initiate", true},
	{"/api/v1/account/link/email/verify", true},
	{"/api/v1/account/link/oauth", true},
	{"/api/v1/account/password/change", true},
	{"/api/v1/account/password/change-with-otp/send-otp", true},
	{"/api/v1/account/password/change-with-otp/verify", true},
	{"/api/v1/account/password/set", true},
	{"/api/v1/account/username/change", true},
	{"/api/v1/auth/account-providers", true},
	{"/api/v1/auth/api-keys", true},
	{"/api/v1/auth/change-password", true},
	{"/api/v1/auth/reauth/send-otp", true},
	{"/api/v1/auth/send-phone-verification", true},
	{"/api/v1/auth/verify-phone", true},
	{"/api/v1/me/password", true},
	{"/api/v1/me/verify-email", true},
	{"/api/v1/me/verify-email/confirm", true},
	{"/api/v1/account/activity/00000000-0000-4000-8000-000000000000/not-me", true},
	{"/api/v1/account/deletion/cancel", true},
}

// fuzzTB lets the harness's stand-in session service mint tokens while the fuzz target runs:
// testing.F refuses its own Helper inside the target (and the stand-in only calls Helper there).
type fuzzTB struct{ testing.TB }

func (fuzzTB) Helper() {}

// FuzzRequestBodies posts arbitrary bodies to every JSON endpoint of identity, anonymous and signed
// in, on the real stores: no input yields a 5xx, and every error is in the path's wire style.
func FuzzRequestBodies(f *testing.F) {
	h := newHarness(fuzzTB{f})
	reg := h.register(f, "fuzz@example.com", map[string]any{"device_id": "fuzz-device", "username": "fuzzer"})
	token := reg.str("access_token")
	if token == "" {
		f.Fatalf("registration answered no token: %s", reg.raw)
	}
	seeds := []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"email":"fuzz@example.com"}`, `{"email":5}`, `{"identifier":"fuzz@example.com","password":"Tr4vel-Lamp-Orbit","device_id":"fuzz-device"}`,
		`{"otp_code":"123456","email":"x@example.com","password":"p"}`, `{"otp":"12","deviceVerificationToken":"","deviceId":"d"}`,
		`{"new_password":"` + strings.Repeat("a", 5000) + `"}`, `{"username":"@Admin"}`, `{"name":"ci","scopes":["root"],"expires_in_days":-5}`,
		`{"phone_number":"+254712345678","country_code":"KE"}`, `{"id_token":"a.b.c","provider":"google"}`, `{"email":"\u0000@x.y"}`, "{\"a\":1}{",
	}
	for i := range fuzzRoutes {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	ip := 0
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := request{path: r.path, body: string(body), ip: fmt.Sprintf("198.51.%d.%d", ip/250%250, 1+ip%250)}
		ip++
		if r.signed {
			req.token = token
		}
		resp := h.do(t, req)
		if resp.status >= 500 {
			t.Fatalf("POST %s %q: status %d: %s", r.path, body, resp.status, resp.raw)
		}
		if resp.status < 400 {
			return
		}
		var out map[string]any
		if err := json.Unmarshal(resp.raw, &out); err != nil {
			t.Fatalf("POST %s %q: error answer is not a JSON object: %s", r.path, body, resp.raw)
		}
		if wire.StyleFor(r.path) == wire.Envelope {
			if out["success"] != false {
				t.Fatalf("POST %s: %d %s, want the error envelope", r.path, resp.status, resp.raw)
			}
		} else if out["detail"] == nil {
			t.Fatalf("POST %s: %d %s, want {\"detail\": ...}", r.path, resp.status, resp.raw)
		}
	})
}
