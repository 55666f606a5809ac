package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func slotTestKey(accountID string, now time.Time) apikey.Key {
	id := events.NewID()
	return apikey.Key{ID: id, AccountID: accountID, Name: "k", Prefix: "lk_live_x", Hash: id, Scopes: authn.ScopeRead,
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}

// TestAPIKeySlots: the cap holds, and a place comes back when a key is revoked (one or all) or
// expires; keys stored before slots take places too.
func TestAPIKeySlots(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := store.NewAPIKeys(db)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const max = 3
	var keys []apikey.Key
	for range max {
		k := slotTestKey("acc-1", now)
		if err := s.InsertCapped(ctx, k, max, now); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := s.InsertCapped(ctx, slotTestKey("acc-1", now), max, now); !errors.Is(err, apikey.ErrTooMany) {
		t.Fatalf("key over the cap = %v, want ErrTooMany", err)
	}
	if err := s.InsertCapped(ctx, slotTestKey("acc-2", now), max, now); err != nil {
		t.Fatalf("another account's key = %v, want its own places", err)
	}

	// Revoking one frees its place.
	if err := s.Revoke(ctx, "acc-1", keys[1].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertCapped(ctx, slotTestKey("acc-1", now), max, now); err != nil {
		t.Fatalf("after a revocation = %v, want a place", err)
	}

	// An expired key's place is reclaimed.
	later := now.Add(25 * time.Hour)
	if err := s.InsertCapped(ctx, slotTestKey("acc-1", later), max, later); err != nil {
		t.Fatalf("once the keys expired = %v, want a place", err)
	}

	// Revoking every key frees every place.
	if _, err := s.RevokeAll(ctx, "acc-1", later); err != nil {
		t.Fatal(err)
	}
	n, err := db.Collection(store.CollAPIKeySlots).CountDocuments(ctx, bson.M{"accountId": "acc-1"})
	if err != nil || n != 0 {
		t.Fatalf("slots after RevokeAll = %d (%v), want 0", n, err)
	}
	live, err := s.CountLive(ctx, "acc-1", later)
	if err != nil || live != 0 {
		t.Errorf("live keys after RevokeAll = %d (%v), want 0", live, err)
	}

	// Keys stored before slots (no slot) count against the cap.
	for range 2 {
		if err := s.Insert(ctx, slotTestKey("acc-3", now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.InsertCapped(ctx, slotTestKey("acc-3", now), max, now); err != nil {
		t.Fatalf("third key beside two old ones = %v, want a place", err)
	}
	if err := s.InsertCapped(ctx, slotTestKey("acc-3", now), max, now); !errors.Is(err, apikey.ErrTooMany) {
		t.Errorf("fourth key beside two old ones = %v, want ErrTooMany", err)
	}
}

// TestRevocationOrderKeepsAPIKeyFlags: a pending revocation that also ends the API keys (a password
// reset, a deactivation, a change that asked for it) survives in the account document, so a retry
// after a failure still revokes the keys.
func TestRevocationOrderKeepsAPIKeyFlags(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	accounts := store.NewAccounts(db)
	ctx := context.Background()
	a := newAccount(events.NewID(), "flags@example.com", "flags")
	if err := accounts.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	order := account.Revocation{ID: "r1", Reason: account.ReasonPasswordChanged, OrderedAt: time.Now().UTC(), APIKeys: true, SessionsKept: true}
	ok, err := accounts.ChangePassword(ctx, a.ID, a.PasswordHash, "$argon2id$y", time.Now().UTC(), &order)
	if err != nil || !ok {
		t.Fatalf("ChangePassword = %v, %v", ok, err)
	}
	got, err := accounts.ByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.PendingRevocation; p == nil || !p.APIKeys || !p.SessionsKept || p.ID != "r1" {
		t.Errorf("pending revocation = %+v, want the order with both flags", p)
	}
}
