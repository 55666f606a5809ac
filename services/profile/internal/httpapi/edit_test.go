package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

func (f *fixture) send(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, []byte(body), resp.StatusCode, resp.Header, raw)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
	}
	return resp.StatusCode, out
}

// failedFields lists the body fields of a plain 422's detail.
func failedFields(body map[string]any) []string {
	var out []string
	detail, _ := body["detail"].([]any)
	for _, d := range detail {
		loc, _ := d.(map[string]any)["loc"].([]any)
		if len(loc) > 0 {
			s, _ := loc[len(loc)-1].(string)
			out = append(out, s)
		}
	}
	return out
}

func TestPatchMe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.service.ApplyAccountCreated(context.Background(), profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe",
	}); err != nil {
		t.Fatal(err)
	}
	token := f.keys.Token(t, "acc-1", "sess-1", nil)
	long := strings.Repeat("x", 101)

	for _, tc := range []struct {
		name       string
		body       string
		wantStatus int
		wantFields []string       // 422: the fields reported
		want       map[string]any // 200: fields of the answer
	}{
		{"names, locale and timezone", `{"first_name":"  Janet ","display_name":"JD","locale":"pt-br","timezone":"America/Sao_Paulo","bio":"Hi","location":"Lisbon","avatar_url":"https://cdn.example.com/j.png"}`,
			200, nil, map[string]any{"first_name": "Janet", "last_name": "Doe", "display_name": "JD", "locale": "pt-BR", "timezone": "America/Sao_Paulo", "bio": "Hi", "location": "Lisbon", "avatar_url": "https://cdn.example.com/j.png", "email": "jane@example.com"}},
		{"null leaves a field, empty string clears it", `{"first_name":null,"display_name":"","bio":""}`,
			200, nil, map[string]any{"first_name": "Janet", "display_name": nil, "bio": nil}},
		{"unknown and read-only fields are ignored", `{"email":"evil@example.com","id":"acc-2","favourite_colour":"red"}`,
			200, nil, map[string]any{"email": "jane@example.com", "id": "acc-1"}},
		{"empty body object changes nothing", `{}`, 200, nil, map[string]any{"first_name": "Janet"}},
		{"locale not BCP 47", `{"locale":"en_US"}`, 422, []string{"locale"}, nil},
		{"timezone not IANA", `{"timezone":"Mars/Olympus"}`, 422, []string{"timezone"}, nil},
		{"phone not E.164", `{"phone":"0712345678"}`, 422, []string{"phone"}, nil},
		{"avatar not https", `{"avatar_url":"javascript:alert(1)"}`, 422, []string{"avatar_url"}, nil},
		{"every too-long field reported at once", `{"first_name":"` + long + `","last_name":"` + long + `","display_name":"` + long + `","bio":"` + strings.Repeat("b", 501) + `","location":"` + long + `"}`,
			422, []string{"first_name", "last_name", "display_name", "bio", "location"}, nil},
		{"control characters", `{"display_name":"a\u0000b"}`, 422, []string{"display_name"}, nil},
		{"wrong type", `{"first_name":42}`, 422, []string{"first_name"}, nil},
		{"not JSON", `{"first_name":`, 422, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.send(t, http.MethodPatch, "/api/v1/me", token, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %v", status, tc.wantStatus, body)
			}
			if tc.wantFields != nil {
				got := failedFields(body)
				if strings.Join(got, ",") != strings.Join(tc.wantFields, ",") {
					t.Errorf("failed fields = %v, want %v (%v)", got, tc.wantFields, body)
				}
			}
			for k, w := range tc.want {
				if body[k] != w {
					t.Errorf("%s = %#v, want %#v", k, body[k], w)
				}
			}
		})
	}
	// GET shows what PATCH stored.
	if status, body := f.do(t, http.MethodGet, "/api/v1/me", token); status != 200 || body["locale"] != "pt-BR" || body["first_name"] != "Janet" {
		t.Errorf("GET after PATCH: %d %v", status, body)
	}
}

func TestAuthMe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.service.ApplyAccountCreated(context.Background(), profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe",
	}); err != nil {
		t.Fatal(err)
	}
	token := f.keys.Token(t, "acc-1", "sess-1", nil)

	status, body := f.do(t, http.MethodGet, "/api/v1/auth/me", token)
	if status != 200 {
		t.Fatalf("GET: %d %v", status, body)
	}
	for _, field := range []string{"id", "email", "full_name", "is_active", "is_verified", "created_at", "updated_at", "image", "user_type", "audio_usage", "onboarding_completed", "referral_source", "phone_number", "country_code", "phone_verified"} {
		if _, ok := body[field]; !ok {
			t.Errorf("GET /api/v1/auth/me lacks %s: %v", field, body)
		}
	}
	if body["full_name"] != "Jane Doe" || body["onboarding_completed"] != true || body["is_active"] != true {
		t.Errorf("GET: %v", body)
	}
	// The AudioPod document's is_superuser: a bool, false (Latchkey has no superusers).
	if su, ok := body["is_superuser"].(bool); !ok || su {
		t.Errorf("is_superuser = %#v, want the bool false", body["is_superuser"])
	}

	for _, tc := range []struct {
		name       string
		body       string
		wantStatus int
		want       map[string]any
	}{
		{"documented fields", `{"full_name":"Ada  King Lovelace","user_type":"company","audio_usage":"voice_actor","referral_source":"podcast"}`,
			200, map[string]any{"full_name": "Ada King Lovelace", "user_type": "company", "audio_usage": "voice_actor", "referral_source": "podcast"}},
		{"user_type outside the enum", `{"user_type":"Company"}`, 422, nil},
		{"audio_usage outside the enum", `{"audio_usage":"gaming"}`, 422, nil},
		{"empty enum", `{"user_type":""}`, 422, nil},
		{"full_name too long", `{"full_name":"` + strings.Repeat("a", 202) + `"}`, 422, nil},
		{"invalid phone is a 400 with the documented cause", `{"phone_number":"12345"}`, 400, map[string]any{"detail": "Invalid phone number format. Use international format (+1234567890)"}},
		{"unsupported country code", `{"phone_number":"712345678","country_code":"+0"}`, 400, map[string]any{"detail": "Unsupported country code"}},
		{"country code without a number", `{"country_code":"+1"}`, 422, nil},
		{"clearing the name leaves onboarding incomplete", `{"full_name":""}`, 200, map[string]any{"full_name": nil, "onboarding_completed": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.send(t, http.MethodPatch, "/api/v1/auth/me", token, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %v", status, tc.wantStatus, body)
			}
			for k, w := range tc.want {
				if body[k] != w {
					t.Errorf("%s = %#v, want %#v", k, body[k], w)
				}
			}
		})
	}
}
