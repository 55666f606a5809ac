package subscriber_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
	"github.com/latchkey/latchkey/services/profile/internal/subscriber"
)

func mustEvent(t *testing.T, typ, accountID string, payload any) events.Envelope {
	t.Helper()
	ev, err := events.New(typ, accountID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// account.deleted removes the profile; a second delivery and late account events (which create a
// profile when there is none) leave it removed; another account keeps its profile.
func TestAccountDeletedErasesProfile(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("profile")
	ctx := context.Background()
	profiles := store.NewProfiles(db)
	service := profile.NewService(profiles, profile.Options{})
	handle := subscriber.ErasingAccountEvents(service, profiles, erasure.NewTombstones(db), slog.New(slog.DiscardHandler))

	for _, acc := range []string{"acc-gone", "acc-kept"} {
		if err := handle(ctx, mustEvent(t, events.TypeAccountCreated, acc, events.AccountCreated{Email: acc + "@example.com", Username: acc, FirstName: "Ada"})); err != nil {
			t.Fatal(err)
		}
		if _, err := profiles.Find(ctx, acc); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	deleted := mustEvent(t, events.TypeAccountDeleted, "acc-gone", events.AccountDeleted{Emails: []string{"acc-gone@example.com"}})
	for i := range 2 {
		if err := handle(ctx, deleted); err != nil {
			t.Fatalf("account.deleted #%d: %v", i+1, err)
		}
	}
	late := []events.Envelope{
		mustEvent(t, events.TypeAccountUpdated, "acc-gone", events.AccountSnapshot{Version: 7, Email: "acc-gone@example.com", Status: events.AccountStatusActive}),
		mustEvent(t, events.TypeAccountCreated, "acc-gone", events.AccountCreated{Email: "acc-gone@example.com", FirstName: "Late"}),
	}
	for _, ev := range late {
		if err := handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := profiles.Find(ctx, "acc-gone"); !errors.Is(err, profile.ErrNotFound) {
		t.Fatalf("the erased profile: %v, want ErrNotFound", err)
	}
	n, err := db.Collection(store.Collection).CountDocuments(ctx, bson.D{{Key: "email", Value: "acc-gone@example.com"}})
	if err != nil || n != 0 {
		t.Fatalf("%d profiles with the erased address (%v)", n, err)
	}
	if _, err := profiles.Find(ctx, "acc-kept"); err != nil {
		t.Errorf("the other profile: %v", err)
	}
}
