package account_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/account"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func event(t *testing.T, typ, accountID string, payload any) events.Envelope {
	t.Helper()
	ev, err := events.New(typ, accountID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestDirectoryAppliesEventsInAnyOrder(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	dir := account.NewDirectory(store.NewAccounts(env.Database("session")), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()

	created := event(t, events.TypeAccountCreated, "acc-1", events.AccountCreated{Email: "ada@example.com", EmailVerified: true, FirstName: "Ada", LastName: "Lovelace"})
	emailV2 := event(t, events.TypeAccountUpdated, "acc-1", events.AccountSnapshot{Version: 2, Email: "ada@new.example.com", EmailVerified: false})
	emailV1 := event(t, events.TypeAccountUpdated, "acc-1", events.AccountSnapshot{Version: 1, Email: "stale@example.com", EmailVerified: true})
	nameV0 := event(t, events.TypeProfileUpdated, "acc-1", events.ProfileSnapshot{Version: 0, DisplayName: "Countess"})
	other := event(t, events.TypeSecurityAlert, "acc-1", events.SecurityAlert{Kind: events.AlertPasswordChanged})
	malformed := events.Envelope{EventID: "e-bad", Type: events.TypeAccountUpdated, AccountID: "acc-1", Payload: []byte(`[1,2]`)}

	tests := []struct {
		name string
		ev   events.Envelope
		want account.Facts
	}{
		{"a profile snapshot before anything else", nameV0, account.Facts{FullName: "Countess"}},
		{"account.created fills email; the newer profile name stays", created, account.Facts{Email: "ada@example.com", EmailVerified: true, FullName: "Countess"}},
		{"a newer account snapshot", emailV2, account.Facts{Email: "ada@new.example.com", EmailVerified: false, FullName: "Countess"}},
		{"an older account snapshot arriving late", emailV1, account.Facts{Email: "ada@new.example.com", EmailVerified: false, FullName: "Countess"}},
		{"the same event again", emailV2, account.Facts{Email: "ada@new.example.com", EmailVerified: false, FullName: "Countess"}},
		{"account.created delivered again", created, account.Facts{Email: "ada@new.example.com", EmailVerified: false, FullName: "Countess"}},
		{"other event types are skipped", other, account.Facts{Email: "ada@new.example.com", EmailVerified: false, FullName: "Countess"}},
		{"a malformed payload is skipped", malformed, account.Facts{Email: "ada@new.example.com", EmailVerified: false, FullName: "Countess"}},
	}
	for _, tc := range tests { // in order: each step sees what the previous ones left
		if err := dir.Apply(ctx, tc.ev); err != nil {
			t.Fatalf("%s: Apply: %v", tc.name, err)
		}
		got, ok := dir.Account(ctx, "acc-1")
		if !ok || got != tc.want {
			t.Fatalf("%s: Account = %+v, %v; want %+v", tc.name, got, ok, tc.want)
		}
	}
	if _, ok := dir.Account(ctx, "acc-unknown"); ok {
		t.Error("an unknown account is known")
	}
}
