package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// TestNamesAndDevicesRefuseInvisibleText: names and device fields that would display as something
// else (bidirectional overrides, zero-width and control characters) are refused with 422 on the
// field, before anything is created or a session starts.
func TestNamesAndDevicesRefuseInvisibleText(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fieldsOf := func(r response) string {
		var out []string
		list, _ := r.at("detail").([]any)
		for _, d := range list {
			loc, _ := d.(map[string]any)["loc"].([]any)
			if len(loc) > 0 {
				s, _ := loc[len(loc)-1].(string)
				out = append(out, s)
			}
		}
		return strings.Join(out, ",")
	}

	// Registration: the code is right, the names are not.
	if r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "eve@example.com"}); r.status != http.StatusAccepted {
		t.Fatalf("initiate-registration = %d %s", r.status, r.raw)
	}
	code := h.lastCode(t, "eve@example.com")
	r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "eve@example.com", "otp_code": code, "password": goodPassword,
		"first_name": "Eve\u202Egpj.exe", "last_name": "ad\u200Bmin", "device_id": "lap\u2066top", "device_name": "Eve's\x1b[2J Mac"})
	if r.status != http.StatusUnprocessableEntity || fieldsOf(r) != "first_name,last_name,device_id,device_name" {
		t.Fatalf("verify-registration with invisible text = %d %s, want 422 on the four fields", r.status, r.raw)
	}
	if r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "eve@example.com", "otp_code": code, "password": goodPassword,
		"first_name": "Ève", "last_name": "李", "device_id": "laptop", "device_name": "Ève's Mac"}); r.status != http.StatusCreated {
		t.Fatalf("verify-registration with plain international names = %d %s, want 201", r.status, r.raw)
	}

	// Sign-in: a device name with a bidi override starts no session.
	r = h.post(t, "/api/v1/auth/login", map[string]any{"identifier": account.NormalizeEmail("eve@example.com"), "password": goodPassword,
		"device_id": "laptop", "device_name": "\u202EcaM s'evE"})
	if r.status != http.StatusUnprocessableEntity || fieldsOf(r) != "device_name" || r.str("access_token") != "" {
		t.Errorf("login with a bidi device name = %d %s, want 422 on device_name", r.status, r.raw)
	}
}
