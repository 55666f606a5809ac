package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// FuzzPatchProfile sends arbitrary bodies to both profile-editing endpoints on the real store: no
// input yields a 5xx, errors are in the path's style, and a profile that was changed still reads.
func FuzzPatchProfile(f *testing.F) {
	fx := newFixture(f)
	if err := fx.service.ApplyAccountCreated(context.Background(), profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", Email: "jane@example.com", Username: "jane", FirstName: "Jane",
	}); err != nil {
		f.Fatal(err)
	}
	token := fx.keys.Token(f, "acc-1", "sess-1", nil)
	for _, s := range []string{
		`{}`, ``, `null`, `[]`, `{"first_name":"Ada"}`, `{"locale":"pt-br","timezone":"Europe/Berlin"}`, `{"timezone":"../../etc/passwd"}`,
		`{"phone":"0712345678","country_code":"+254"}`, `{"avatar_url":"javascript:alert(1)"}`, `{"bio":"` + strings.Repeat("é", 600) + `"}`,
		`{"first_name":null}`, `{"first_name":5}`, `{"display_name":"\u0000"}`, `{"firstName":"Ada","lastName":"L"}`, `{"locale":"en-"}`, "{\"a\":",
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, authMe bool, body []byte) {
		path := "/api/v1/me"
		if authMe {
			path = "/api/v1/auth/me"
		}
		req := httptest.NewRequest("PATCH", path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := fx.app.Test(req, 10_000)
		if err != nil {
			t.Fatalf("PATCH %s: %v", path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("PATCH %s %q: status %d: %s", path, body, resp.StatusCode, raw)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("PATCH %s %q: answer is not a JSON object: %s", path, body, raw)
		}
		if resp.StatusCode >= 400 && out["detail"] == nil && out["success"] != false {
			t.Fatalf("PATCH %s %q: %d %s, want an error in the path's style", path, body, resp.StatusCode, raw)
		}
		if status, _ := fx.do(t, "GET", "/api/v1/me", token); status != 200 {
			t.Fatalf("GET /api/v1/me after PATCH %q: status %d", body, status)
		}
	})
}
