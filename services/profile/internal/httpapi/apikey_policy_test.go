package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// profileKeyPolicy is the decision for every route of the profile service. A route missing here
// fails the test: whoever adds a route decides what API keys may do on it.
var profileKeyPolicy = map[string]authntest.KeyDecision{
	"GET /api/v1/me":        authntest.KeysAllowed,
	"PATCH /api/v1/me":      authntest.KeysAllowed, // but never the phone: TestAPIKeyCannotChangePhone
	"GET /api/v1/auth/me":   authntest.KeysAllowed,
	"PATCH /api/v1/auth/me": authntest.KeysAllowed,
}

// TestAPIKeyRoutePolicy asks every route of the real app what it decides about API keys.
func TestAPIKeyRoutePolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	authntest.CheckKeyPolicy(t, f.app, f.apiKeys.Issue(t, "acc-1", authn.ScopeRead|authn.ScopeWrite), profileKeyPolicy)
}

// TestAPIKeyCannotChangePhone performs the attack of issue 13 item 2: a key changed the verified
// phone through PATCH /api/v1/me. A key may edit other profile fields, but a body naming a phone
// field, in any spelling, is refused whole.
func TestAPIKeyCannotChangePhone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.service.ApplyAccountCreated(context.Background(), profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe",
	}); err != nil {
		t.Fatal(err)
	}
	key := f.apiKeys.Issue(t, "acc-1", authn.ScopeRead|authn.ScopeWrite)
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/me", `{"phone":"+14155550100"}`},
		{"/api/v1/me", `{"first_name":"Eve","Phone":"+14155550100"}`},
		{"/api/v1/me", `{"ph\u006fne":"+14155550100"}`},
		{"/api/v1/auth/me", `{"phone_number":"4155550100","country_code":"+1"}`},
		{"/api/v1/auth/me", `{"full_name":"Eve","COUNTRY_CODE":"+1"}`},
		{"/API/V1/ME/", `{"phone":"+14155550100"}`},
	} {
		status, body := f.send(t, http.MethodPatch, tc.path, key, tc.body)
		if status != http.StatusForbidden || !strings.Contains(body["detail"].(string), "API keys cannot") {
			t.Errorf("PATCH %s %s with a key = %d %v, want 403", tc.path, tc.body, status, body)
		}
	}
	status, me := f.send(t, http.MethodGet, "/api/v1/me", key, "")
	if status != http.StatusOK || me["phone"] != nil || me["first_name"] != "Jane" {
		t.Errorf("after the refused edits: %d %v, want phone unset and first_name unchanged", status, me)
	}
	// Other fields remain open to a key with the write scope.
	if status, me := f.send(t, http.MethodPatch, "/api/v1/me", key, `{"first_name":"Janet"}`); status != http.StatusOK || me["first_name"] != "Janet" {
		t.Errorf("PATCH first_name with a key = %d %v, want 200", status, me)
	}
	readOnly := f.apiKeys.Issue(t, "acc-1", authn.ScopeRead)
	if status, _ := f.send(t, http.MethodPatch, "/api/v1/me", readOnly, `{"first_name":"Eve"}`); status != http.StatusForbidden {
		t.Errorf("PATCH with a read-only key = %d, want 403", status)
	}
}

// TestAPIKeyRefusedAfterAccountRecovery: identity revokes every key of an account on a password
// reset, deactivation or sign-out of every session, and publishes one api_key.revoked for all of
// them; profile refuses those keys from the moment it reads the event (401), while a key created
// after the recovery works.
func TestAPIKeyRefusedAfterAccountRecovery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.service.ApplyAccountCreated(context.Background(), profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", Email: "jane@example.com", Username: "jane",
	}); err != nil {
		t.Fatal(err)
	}
	stolen := f.apiKeys.Issue(t, "acc-1", authn.ScopeRead|authn.ScopeWrite)
	if status, _ := f.send(t, http.MethodGet, "/api/v1/me", stolen, ""); status != http.StatusOK {
		t.Fatalf("key before the reset = %d, want 200", status)
	}
	time.Sleep(5 * time.Millisecond)
	ev, err := events.New(events.TypeAPIKeyRevoked, "acc-1", events.APIKeyRevoked{AllKeys: true, Reason: "password_reset"})
	if err != nil {
		t.Fatal(err)
	}
	f.deny.Apply(context.Background(), ev, slog.New(slog.DiscardHandler))
	for _, m := range []string{http.MethodGet, http.MethodPatch} {
		if status, _ := f.send(t, m, "/api/v1/me", stolen, `{"first_name":"Eve"}`); status != http.StatusUnauthorized {
			t.Errorf("%s /api/v1/me with a key from before the reset = %d, want 401", m, status)
		}
	}
	time.Sleep(5 * time.Millisecond)
	fresh := f.apiKeys.Issue(t, "acc-1", authn.ScopeRead)
	if status, _ := f.send(t, http.MethodGet, "/api/v1/me", fresh, ""); status != http.StatusOK {
		t.Errorf("key created after the reset = %d, want 200", status)
	}
}
