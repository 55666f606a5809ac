package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/account"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

func mustEvent(t *testing.T, typ, accountID string, payload any) events.Envelope {
	t.Helper()
	ev, err := events.New(typ, accountID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// findIn returns "collection: document" for every document of db mentioning one of needles.
func findIn(t *testing.T, db *mongo.Database, needles ...string) []string {
	t.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			js, _ := bson.MarshalExtJSON(d, false, false)
			for _, n := range needles {
				if strings.Contains(strings.ToLower(string(js)), strings.ToLower(n)) {
					out = append(out, name+": "+string(js))
				}
			}
		}
	}
	return out
}

// The account events consumer as main wires it: account.deleted erases the account's sessions,
// revocation records, refresh-token uses and projection; a second delivery and late events change
// nothing; another account is untouched. The revocation records and refresh-token uses are of the
// legacy collections, which earlier versions wrote.
func TestAccountDeletedErasesSessions(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("session")
	ctx := context.Background()
	sessions := store.NewSessions(db)
	if err := sessions.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	accounts := store.NewAccounts(db)
	dir := account.NewDirectory(accounts, slog.New(slog.DiscardHandler))
	apply := erasure.Guard(erasure.NewTombstones(db), accountEraser(sessions, accounts), dir.Apply)

	now := time.Now().UTC()
	const gone, kept = "acc-gone-3f9a", "acc-kept-7c21"
	for _, acc := range []string{gone, kept} {
		if err := apply(ctx, mustEvent(t, events.TypeAccountCreated, acc, events.AccountCreated{Email: acc + "@example.com", FirstName: "Ada"})); err != nil {
			t.Fatal(err)
		}
		for _, sid := range []string{"s1-" + acc, "s2-" + acc} {
			if err := sessions.Insert(ctx, session.Session{ID: sid, AccountID: acc, DeviceName: "laptop", IPAddress: "203.0.113.9", CreatedAt: now,
				LastActiveAt: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour), RefreshHash: "h-" + sid}); err != nil {
				t.Fatal(err)
			}
		}
		// Records of the legacy collections, written by earlier versions for a used refresh token and a
		// revocation: still erased with the account.
		if _, err := db.Collection("refresh_token_uses").InsertOne(ctx, bson.D{{Key: "_id", Value: "used-" + acc},
			{Key: "sessionId", Value: "s1-" + acc}, {Key: "usedAt", Value: now}, {Key: "keepUntil", Value: now.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection("session_revocations").InsertOne(ctx, bson.D{{Key: "_id", Value: "s2-" + acc},
			{Key: "accountId", Value: acc}, {Key: "reason", Value: "signed_out"}, {Key: "revokedAt", Value: now}, {Key: "keepUntil", Value: now.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := sessions.Revoke(ctx, "s2-"+acc, acc, "signed_out", now); err != nil {
			t.Fatal(err)
		}
	}
	if found := findIn(t, db, gone); len(found) < 5 {
		t.Fatalf("setup: %d documents of the account, want sessions, uses, revocations and projection", len(found))
	}

	deleted := mustEvent(t, events.TypeAccountDeleted, gone, events.AccountDeleted{DeletedAt: now, Emails: []string{gone + "@example.com"}})
	for i := range 2 {
		if err := apply(ctx, deleted); err != nil {
			t.Fatalf("account.deleted #%d: %v", i+1, err)
		}
		if found := findIn(t, db, gone, "used-"+gone); len(found) > 0 {
			t.Fatalf("after account.deleted #%d:\n%s", i+1, strings.Join(found, "\n"))
		}
	}
	// Late events that would upsert the projection again.
	for _, ev := range []events.Envelope{
		mustEvent(t, events.TypeAccountUpdated, gone, events.AccountSnapshot{Version: 99, Email: gone + "@example.com"}),
		mustEvent(t, events.TypeProfileUpdated, gone, events.ProfileSnapshot{Version: 99, FirstName: "Late"}),
		mustEvent(t, events.TypeAccountCreated, gone, events.AccountCreated{Email: gone + "@example.com"}),
	} {
		if err := apply(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if found := findIn(t, db, gone); len(found) > 0 {
		t.Fatalf("late events recreated the account:\n%s", strings.Join(found, "\n"))
	}
	if _, ok := dir.Account(ctx, gone); ok {
		t.Error("the erased account is still in the projection")
	}
	if found := findIn(t, db, kept); len(found) < 5 {
		t.Errorf("the other account lost data: %d documents left", len(found))
	}
}
