package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// TestNamesRefuseInvisibleAndBidiCharacters: a name that would display as something else (a
// right-to-left override, a zero-width character, a control character) is a 422 on the field, in
// both styles, and the stored name does not change.
func TestNamesRefuseInvisibleAndBidiCharacters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.service.ApplyAccountCreated(context.Background(), profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe",
	}); err != nil {
		t.Fatal(err)
	}
	token := f.keys.Token(t, "acc-1", "sess-1", nil)
	for _, tc := range []struct {
		name, path, body, field string
	}{
		{"right-to-left override in a first name", "/api/v1/me", `{"first_name":"Jane\u202Egpj.exe"}`, "first_name"},
		{"zero-width space in a display name", "/api/v1/me", `{"display_name":"ad\u200Bmin"}`, "display_name"},
		{"isolate in a last name", "/api/v1/me", `{"last_name":"\u2067Doe"}`, "last_name"},
		{"byte order mark in a display name", "/api/v1/me", `{"display_name":"\uFEFFJD"}`, "display_name"},
		{"newline in a display name", "/api/v1/me", `{"display_name":"J\nD"}`, "display_name"},
		{"bidi override in a full name", "/api/v1/auth/me", `{"full_name":"Jane \u202DDoe"}`, "full_name"},
		{"zero-width joiner in a full name", "/api/v1/auth/me", `{"full_name":"Ja\u200Dne"}`, "full_name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.send(t, http.MethodPatch, tc.path, token, tc.body)
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422: %v", status, body)
			}
			if got := failedFields(body); strings.Join(got, ",") != tc.field {
				t.Errorf("failed fields = %v, want %s", got, tc.field)
			}
		})
	}
	// Names in any script still work, and nothing above was stored.
	status, body := f.send(t, http.MethodPatch, "/api/v1/me", token, `{"display_name":"Zoë 李 محمد"}`)
	if status != http.StatusOK || body["display_name"] != "Zoë 李 محمد" || body["first_name"] != "Jane" || body["last_name"] != "Doe" {
		t.Errorf("PATCH with a plain international name = %d %v", status, body)
	}
}
