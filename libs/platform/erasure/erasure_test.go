package erasure_test

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func envelope(t *testing.T, typ, accountID string, payload any) events.Envelope {
	t.Helper()
	ev, err := events.New(typ, accountID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// A projection that upserts: the guard must keep late events of an erased account from recreating it,
// also when the deletion lands between the guard's check and the write.
func TestGuardKeepsErasedAccountsErased(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("svc")
	ctx := context.Background()
	tombs := erasure.NewTombstones(db)
	coll := db.Collection("projection")
	erase := func(ctx context.Context, accountID string, _ events.AccountDeleted) error {
		_, err := coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: accountID}})
		return err
	}
	var during func() // runs inside the projection's write, to interleave a deletion
	upsert := func(ctx context.Context, ev events.Envelope) error {
		if ev.Type != events.TypeAccountUpdated {
			return nil
		}
		if during != nil {
			during()
		}
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.AccountID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "x@example.com"}}}}, optsUpsert())
		return err
	}
	h := erasure.Guard(tombs, erase, upsert)
	count := func(id string) int64 {
		t.Helper()
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := h(ctx, envelope(t, events.TypeAccountUpdated, "acc-1", events.AccountSnapshot{Version: 1})); err != nil {
		t.Fatal(err)
	}
	if got := count("acc-1"); got != 1 {
		t.Fatalf("before deletion: %d documents, want 1", got)
	}
	deleted := envelope(t, events.TypeAccountDeleted, "acc-1", events.AccountDeleted{})
	for i := range 2 { // the second delivery is a no-op
		if err := h(ctx, deleted); err != nil {
			t.Fatalf("account.deleted #%d: %v", i+1, err)
		}
		if got := count("acc-1"); got != 0 {
			t.Fatalf("after account.deleted #%d: %d documents, want 0", i+1, got)
		}
	}
	if err := h(ctx, envelope(t, events.TypeAccountUpdated, "acc-1", events.AccountSnapshot{Version: 2})); err != nil {
		t.Fatal(err)
	}
	if got := count("acc-1"); got != 0 {
		t.Fatalf("a late event recreated the erased account (%d documents)", got)
	}

	// The race: the deletion arrives while another event of the account is being applied.
	if err := h(ctx, envelope(t, events.TypeAccountUpdated, "acc-2", events.AccountSnapshot{Version: 1})); err != nil {
		t.Fatal(err)
	}
	during = func() {
		during = nil
		if err := h(ctx, envelope(t, events.TypeAccountDeleted, "acc-2", events.AccountDeleted{})); err != nil {
			t.Errorf("account.deleted: %v", err)
		}
	}
	if err := h(ctx, envelope(t, events.TypeAccountUpdated, "acc-2", events.AccountSnapshot{Version: 2})); err != nil {
		t.Fatal(err)
	}
	if got := count("acc-2"); got != 0 {
		t.Fatalf("an event racing the deletion left %d documents", got)
	}

	// Tombstones hold no account id.
	cur, err := db.Collection(erasure.Collection).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d tombstones, want 2", len(docs))
	}
	for _, d := range docs {
		if s, _ := d["_id"].(string); strings.Contains(s, "acc-") {
			t.Errorf("tombstone %v holds an account id", d)
		}
	}
}

func optsUpsert() *options.UpdateOptions { return options.Update().SetUpsert(true) }
