package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestDeviceInfoRefusesInvisibleText: device fields that would display as something else in the
// owner's session list are refused (422, the session keeps its name); a User-Agent, which is recorded
// rather than chosen, is stored without such characters.
func TestDeviceInfoRefusesInvisibleText(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	created := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
	for _, body := range []string{
		`{"device_name":"Ada\u202Eenohpi"}`,
		`{"device_name":"Ada\u200B's iPhone"}`,
		`{"device_id":"lap\u0000top"}`,
	} {
		r := doH(t, s.public, http.MethodPost, "/api/v1/auth/sessions/update-device-info", "Bearer "+created.AccessToken, body, nil)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("update-device-info %s = %d %s, want 422", body, r.status, r.raw)
		}
	}
	r := doH(t, s.public, http.MethodPost, "/api/v1/auth/sessions/update-device-info", "Bearer "+created.AccessToken, "",
		map[string]string{"User-Agent": "Mozilla/5.0 \u202E(X11; Linux x86_64)\u200B"})
	if r.status != http.StatusOK {
		t.Fatalf("update-device-info = %d %s", r.status, r.raw)
	}
	if ua, _ := r.body["user_agent"].(string); ua != "Mozilla/5.0 (X11; Linux x86_64)" {
		t.Errorf("stored user agent %q, want it without the invisible characters", ua)
	}
	if dev := r.body["device"].(map[string]any); dev["device_name"] != "laptop" {
		t.Errorf("device name %v, want the refused changes not applied", dev["device_name"])
	}
	if strings.ContainsRune(r.raw, '\u202E') {
		t.Error("answer carries the override")
	}
}
