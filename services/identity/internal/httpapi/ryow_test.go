package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// projections records the account events identity delivers synchronously.
type projections struct {
	mu  sync.Mutex
	got []events.Envelope
}

func (p *projections) Deliver(_ context.Context, ev events.Envelope) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, ev)
	return nil
}

func (p *projections) delivered() []events.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]events.Envelope(nil), p.got...)
}

// Read your own writes, identity's half: the account events of a change reach the projection before
// the change is answered — registration (account.created with the whole snapshot) and a username
// change (account.updated with the new name).
func TestAccountEventsDeliveredBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	proj := &projections{}
	h.svc.Projections = proj

	ada := h.signUp(t, "ada@example.com") // returns after the 201
	got := proj.delivered()
	if len(got) != 2 || got[0].Type != events.TypeAccountCreated || got[1].Type != events.TypeAccountUpdated || got[0].AccountID != ada.id {
		t.Fatalf("delivered before the 201 = %+v, want account.created then account.updated", got)
	}
	var created events.AccountCreated
	if err := got[0].Decode(&created); err != nil || created.Account == nil || !created.Account.EmailVerified || created.Account.Version != 1 {
		t.Errorf("account.created delivered = %s, want the whole snapshot with the verified email", got[0].Payload)
	}

	r := h.authed(t, "POST", "/api/v1/account/username/change", ada.token, map[string]any{"username": "ada_king"})
	if r.status != http.StatusOK {
		t.Fatalf("username change = %d %s", r.status, r.raw)
	}
	got = proj.delivered()
	var snap events.AccountSnapshot
	if last := got[len(got)-1]; last.Type != events.TypeAccountUpdated || last.Decode(&snap) != nil || snap.Username != "ada_king" || snap.Version < 2 {
		t.Errorf("last delivered before the change was answered = %+v (%+v), want account.updated with ada_king", last, snap)
	}
}

func TestInternalAccountSnapshot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	app, err := httpx.NewInternalApp(httpx.Options{Service: "identity", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.RegisterSnapshotInternal(app, httpx.RequireToken(internalToken), store.NewAccounts(h.db))
	for _, tc := range []struct {
		name, account, token string
		status               int
	}{
		{"no token", ada.id, "", 401},
		{"snapshot", ada.id, internalToken.Value(), 200},
		{"unknown account", "nobody", internalToken.Value(), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/internal/v1/accounts/"+tc.account+"/snapshot", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := app.Test(req, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, raw, tc.status)
			}
			if tc.status == 200 {
				var snap events.AccountSnapshot
				if err := json.Unmarshal(raw, &snap); err != nil || snap.Version < 1 || snap.Email != "ada@example.com" || !snap.EmailVerified ||
					snap.Status != events.AccountStatusActive || strings.Contains(string(raw), "passwordHash") {
					t.Errorf("snapshot = %s, want the account's facts (no hash)", raw)
				}
			}
		})
	}
}
