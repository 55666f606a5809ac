package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// keyUser is an account of the API-key tests with an access token.
type keyUser struct {
	id    string
	token string
}

func (h *harness) newKeyUser(t *testing.T, name string) keyUser {
	t.Helper()
	id := events.NewID()
	now := time.Now().UTC()
	if err := store.NewAccounts(h.db).Create(context.Background(), account.Account{
		ID: id, Email: name + "@example.com", EmailVerified: true, Status: account.StatusActive, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	return keyUser{id: id, token: h.sessions.keys.Token(t, id, events.NewID(), nil)}
}

// keyCall sends a request to app with the headers (name, value, ...) and decodes a JSON object or array.
func keyCall(t *testing.T, app *fiber.App, method, path, body string, headers ...string) (int, http.Header, any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	withStepUp(t, app, req)
	resp, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, []byte(body), resp.StatusCode, resp.Header, raw)
	var out any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func keyObj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func (h *harness) createKey(t *testing.T, u keyUser, body string) map[string]any {
	t.Helper()
	status, _, out := keyCall(t, h.app, "POST", "/api/v1/auth/api-keys", body, "Authorization", "Bearer "+u.token)
	if status != http.StatusCreated {
		t.Fatalf("create api key = %d %v", status, out)
	}
	return keyObj(out)
}

func TestAPIKeyCreateListRevoke(t *testing.T) {
	h := newHarness(t)
	ada, bob := h.newKeyUser(t, "ada"), h.newKeyUser(t, "bob")
	auth := func(u keyUser) []string { return []string{"Authorization", "Bearer " + u.token} }

	status, header, out := keyCall(t, h.app, "POST", "/api/v1/auth/api-keys", `{"name":" deploy bot ","scopes":["read","write"],"expires_in_days":30}`, auth(ada)...)
	if status != http.StatusCreated {
		t.Fatalf("create = %d %v", status, out)
	}
	created := keyObj(out)
	secret, _ := created["key"].(string)
	if !authn.WellFormedAPIKey(secret) || !strings.HasPrefix(secret, authn.APIKeyPrefixLive) {
		t.Fatalf("key = %q, want a well-formed lk_live_ key", secret)
	}
	if created["name"] != "deploy bot" || created["prefix"] != secret[:16] || fmt.Sprint(created["scopes"]) != "[read write]" {
		t.Errorf("created = %v, want trimmed name, 16-character prefix and both scopes", created)
	}
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(created["expires_at"]))
	if err != nil || exp.Sub(time.Now()) < 29*24*time.Hour || exp.Sub(time.Now()) > 30*24*time.Hour+time.Minute {
		t.Errorf("expires_at = %v, want about 30 days ahead", created["expires_at"])
	}
	if header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", header.Get("Cache-Control"))
	}

	t.Run("stored only as a hash", func(t *testing.T) {
		var doc bson.M
		if err := h.db.Collection(store.CollAPIKeys).FindOne(context.Background(), bson.M{"_id": created["id"]}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc["hash"] != apikey.Hash(secret) {
			t.Errorf("hash = %v, want the SHA-256 of the key", doc["hash"])
		}
		raw, _ := bson.MarshalExtJSON(doc, false, false)
		if strings.Contains(string(raw), secret[16:]) {
			t.Error("the stored document contains the secret part of the key")
		}
	})

	t.Run("list without secrets, last use recorded", func(t *testing.T) {
		if status, _, out := keyCall(t, h.app, "GET", "/api/v1/auth/whoami", "", "X-API-Key", secret); status != 200 || keyObj(out)["auth_method"] != "api_key" || keyObj(out)["user_id"] != ada.id {
			t.Fatalf("whoami with the key = %d %v", status, out)
		}
		status, _, out := keyCall(t, h.app, "GET", "/api/v1/auth/api-keys", "", auth(ada)...)
		list, _ := out.([]any)
		if status != 200 || len(list) != 1 {
			t.Fatalf("list = %d %v, want one key", status, out)
		}
		item := keyObj(list[0])
		for _, field := range []string{"id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at"} {
			if _, ok := item[field]; !ok {
				t.Errorf("list item lacks %s: %v", field, item)
			}
		}
		if _, ok := item["key"]; ok {
			t.Error("list shows the key")
		}
		if item["last_used_at"] == nil {
			t.Error("last_used_at is null after the key was used")
		}
		if status, _, out := keyCall(t, h.app, "GET", "/api/v1/auth/api-keys", "", auth(bob)...); status != 200 || len(out.([]any)) != 0 {
			t.Errorf("another account's list = %d %v, want empty", status, out)
		}
	})

	t.Run("keys cannot manage keys", func(t *testing.T) {
		for _, r := range [][3]string{{"GET", "/api/v1/auth/api-keys", ""}, {"POST", "/api/v1/auth/api-keys", `{"name":"x"}`}, {"DELETE", "/api/v1/auth/api-keys/" + fmt.Sprint(created["id"]), ""}} {
			if status, _, out := keyCall(t, h.app, r[0], r[1], r[2], "Authorization", "Bearer "+secret); status != 403 {
				t.Errorf("%s %s with an API key = %d %v, want 403", r[0], r[1], status, out)
			}
		}
	})

	t.Run("another account's key is not found", func(t *testing.T) {
		if status, _, out := keyCall(t, h.app, "DELETE", "/api/v1/auth/api-keys/"+fmt.Sprint(created["id"]), "", auth(bob)...); status != 404 || keyObj(out)["detail"] != "API key not found" {
			t.Errorf("bob revoking ada's key = %d %v, want 404", status, out)
		}
		if status, _, _ := keyCall(t, h.app, "GET", "/api/v1/auth/whoami", "", "X-API-Key", secret); status != 200 {
			t.Errorf("ada's key after bob's attempt = %d, want 200", status)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		id := fmt.Sprint(created["id"])
		if status, _, out := keyCall(t, h.app, "DELETE", "/api/v1/auth/api-keys/"+id, "", auth(ada)...); status != 204 {
			t.Fatalf("revoke = %d %v, want 204", status, out)
		}
		if status, _, _ := keyCall(t, h.app, "DELETE", "/api/v1/auth/api-keys/"+id, "", auth(ada)...); status != 404 {
			t.Errorf("second revoke = %d, want 404", status)
		}
		if _, _, out := keyCall(t, h.app, "GET", "/api/v1/auth/api-keys", "", auth(ada)...); len(out.([]any)) != 0 {
			t.Errorf("list after revoke = %v, want empty", out)
		}
		var revoked []events.APIKeyRevoked
		for _, ev := range h.queued(t, events.TopicAccountEvents) {
			if ev.Type == events.TypeAPIKeyRevoked && ev.AccountID == ada.id {
				var p events.APIKeyRevoked
				if err := ev.Decode(&p); err != nil {
					t.Fatal(err)
				}
				revoked = append(revoked, p)
			}
		}
		if len(revoked) != 1 || revoked[0].KeyID != id {
			t.Errorf("api_key.revoked events = %+v, want one for %s", revoked, id)
		}
		if status, _, out := keyCall(t, h.internal, "POST", "/internal/v1/api-keys/verify", jsonBody(t, map[string]string{"key": secret}), "Authorization", "Bearer "+internalToken.Value()); status != 404 || keyObj(out)["error"] != "invalid_api_key" {
			t.Errorf("internal verify of a revoked key = %d %v, want 404 invalid_api_key", status, out)
		}
	})
}

func TestAPIKeyCreateValidation(t *testing.T) {
	h := newHarness(t)
	u := h.newKeyUser(t, "val")
	tests := []struct {
		name      string
		body      string
		wantField string
	}{
		{"missing name", `{}`, "name"},
		{"blank name", `{"name":"   "}`, "name"},
		{"long name", jsonBody(t, map[string]string{"name": strings.Repeat("n", 101)}), "name"},
		{"unknown scope", `{"name":"k","scopes":["admin"]}`, "scopes"},
		{"no scopes", `{"name":"k","scopes":[]}`, "scopes"},
		{"zero days", `{"name":"k","expires_in_days":0}`, "expires_in_days"},
		{"too many days", `{"name":"k","expires_in_days":366}`, "expires_in_days"},
		{"fractional days", `{"name":"k","expires_in_days":1.5}`, "expires_in_days"},
		{"scopes not a list", `{"name":"k","scopes":"read"}`, "scopes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := keyCall(t, h.app, "POST", "/api/v1/auth/api-keys", tc.body, "Authorization", "Bearer "+u.token)
			if status != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(keyObj(out)["detail"]), tc.wantField) {
				t.Errorf("answer = %d %v, want 422 naming %s", status, out, tc.wantField)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		k := h.createKey(t, u, `{"name":"reader"}`)
		exp, err := time.Parse(time.RFC3339, fmt.Sprint(k["expires_at"]))
		if fmt.Sprint(k["scopes"]) != "[read]" || err != nil || time.Until(exp) < 89*24*time.Hour || time.Until(exp) > 90*24*time.Hour+time.Minute {
			t.Errorf("defaults = %v, want read scope and an expiry 90 days ahead", k)
		}
	})
	t.Run("no credential", func(t *testing.T) {
		if status, _, _ := keyCall(t, h.app, "POST", "/api/v1/auth/api-keys", `{"name":"k"}`); status != 401 {
			t.Errorf("status = %d, want 401", status)
		}
	})
}

func TestAPIKeyLimitPerAccount(t *testing.T) {
	h := newHarness(t)
	u := h.newKeyUser(t, "many")
	for i := range apikey.DefaultMaxPerAccount {
		h.createKey(t, u, jsonBody(t, map[string]string{"name": fmt.Sprintf("key %d", i)}))
	}
	status, _, out := keyCall(t, h.app, "POST", "/api/v1/auth/api-keys", `{"name":"one too many"}`, "Authorization", "Bearer "+u.token)
	if status != http.StatusConflict {
		t.Errorf("key %d = %d %v, want 409", apikey.DefaultMaxPerAccount+1, status, out)
	}
}

// TestInternalVerify covers identity's internal API that every other service's authn calls.
func TestInternalVerify(t *testing.T) {
	h := newHarness(t)
	u := h.newKeyUser(t, "int")
	valid := h.createKey(t, u, `{"name":"a","scopes":["write"],"expires_in_days":1}`)
	expired := h.createKey(t, u, `{"name":"b","expires_in_days":1}`)
	if _, err := h.db.Collection(store.CollAPIKeys).UpdateOne(context.Background(), bson.M{"_id": expired["id"]},
		bson.M{"$set": bson.M{"expiresAt": time.Now().Add(-time.Second)}}); err != nil {
		t.Fatal(err)
	}
	other := h.newKeyUser(t, "gone")
	ofDeactivated := h.createKey(t, other, `{"name":"c"}`)
	if _, err := h.db.Collection(store.CollAccounts).UpdateOne(context.Background(), bson.M{"_id": other.id},
		bson.M{"$set": bson.M{"status": string(account.StatusDeactivated)}}); err != nil {
		t.Fatal(err)
	}
	token := internalToken.Value()
	tests := []struct {
		name       string
		key        string
		token      string
		wantStatus int
	}{
		{"valid", fmt.Sprint(valid["key"]), token, 200},
		{"expired", fmt.Sprint(expired["key"]), token, 404},
		{"deactivated account", fmt.Sprint(ofDeactivated["key"]), token, 404},
		{"malformed", "lk_live_nope", token, 404},
		{"empty", "", token, 404},
		{"wrong internal token", fmt.Sprint(valid["key"]), "not-the-token", 401},
	}
	lastUsed := func() time.Time {
		var doc struct {
			LastUsedAt time.Time `bson:"lastUsedAt"`
		}
		if err := h.db.Collection(store.CollAPIKeys).FindOne(context.Background(), bson.M{"_id": valid["id"]}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.LastUsedAt
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := keyCall(t, h.internal, "POST", "/internal/v1/api-keys/verify", jsonBody(t, map[string]string{"key": tc.key}), "Authorization", "Bearer "+tc.token)
			if status != tc.wantStatus {
				t.Fatalf("status = %d %v, want %d", status, out, tc.wantStatus)
			}
			if status == 200 {
				m := keyObj(out)
				if m["keyId"] != valid["id"] || m["accountId"] != u.id || fmt.Sprint(m["scopes"]) != "[write]" || m["expiresAt"] == nil {
					t.Errorf("answer = %v, want the key's id, owner, scopes and expiry", m)
				}
			}
		})
	}
	t.Run("last use written at most once a minute", func(t *testing.T) {
		first := lastUsed()
		if first.IsZero() {
			t.Fatal("lastUsedAt not recorded by a verification")
		}
		keyCall(t, h.internal, "POST", "/internal/v1/api-keys/verify", jsonBody(t, map[string]string{"key": fmt.Sprint(valid["key"])}), "Authorization", "Bearer "+token)
		if again := lastUsed(); !again.Equal(first) {
			t.Errorf("lastUsedAt moved from %s to %s within a minute", first, again)
		}
	})
}
