package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// seedAccountData writes one document of each kind identity keeps for an account, keyed the way the
// stores key them, and returns the documents' collections.
func seedAccountData(t *testing.T, db *mongo.Database, id, email, phone string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	docs := map[string][]bson.D{
		store.CollAccounts: {{{Key: "_id", Value: id}, {Key: "email", Value: email}, {Key: "phone", Value: phone}, {Key: "username", Value: "u" + id[len(id)-4:]},
			{Key: "status", Value: "ACTIVE"}, {Key: "deleteAt", Value: now.Add(-time.Minute)}}},
		store.CollChallenges: {
			{{Key: "_id", Value: "registration:" + email}, {Key: "challengeId", Value: "ch-reg-" + id}, {Key: "destination", Value: email}},
			{{Key: "_id", Value: "phone:" + phone}, {Key: "challengeId", Value: "ch-ph-" + id}, {Key: "destination", Value: phone}, {Key: "accountId", Value: id}},
		},
		store.CollChallengeUses:       {{{Key: "_id", Value: "ch-reg-" + id + "|used"}, {Key: "challengeId", Value: "ch-reg-" + id}}},
		store.CollTwoFactorChallenges: {{{Key: "_id", Value: "tf-" + id}, {Key: "accountId", Value: id}, {Key: "codeDestination", Value: phone}}},
		store.CollStepUpTokens:        {{{Key: "_id", Value: "hash-su-" + id}, {Key: "accountId", Value: id}}},
		store.CollEmailReverts:        {{{Key: "_id", Value: "hash-rv-" + id}, {Key: "accountId", Value: id}, {Key: "oldEmail", Value: "old-" + email}, {Key: "newEmail", Value: email}}},
		store.CollEmailRevertUsage:    {{{Key: "_id", Value: "hash-rv-" + id}, {Key: "at", Value: now}}},
		store.CollTrustedDevices:      {{{Key: "_id", Value: "dev-" + id}, {Key: "accountId", Value: id}, {Key: "deviceId", Value: "laptop"}}},
		store.CollDeviceSessions:      {{{Key: "_id", Value: "sess-" + id}, {Key: "accountId", Value: id}}},
		store.CollProviders:           {{{Key: "_id", Value: "lp-" + id}, {Key: "accountId", Value: id}, {Key: "provider", Value: "google"}, {Key: "subject", Value: "sub-" + id}, {Key: "email", Value: email}}},
		store.CollAPIKeys:             {{{Key: "_id", Value: "key-" + id}, {Key: "accountId", Value: id}}},
		store.CollAPIKeySlots:         {{{Key: "_id", Value: id + "|1"}, {Key: "accountId", Value: id}}},
		store.CollUsernameHistory:     {{{Key: "_id", Value: "uh-" + id}, {Key: "accountId", Value: id}, {Key: "oldUsername", Value: "old" + id[len(id)-4:]}, {Key: "reservedUntil", Value: now.Add(time.Hour)}}},
		store.CollRecoveryCodeSets:    {{{Key: "_id", Value: "rs-" + id}, {Key: "accountId", Value: id}}},
		store.CollRecoveryCodeUses:    {{{Key: "_id", Value: "rs-" + id + "|h"}, {Key: "accountId", Value: id}}},
		store.CollAuthenticators:      {{{Key: "_id", Value: id}}},
		store.CollAuthenticatorSteps:  {{{Key: "_id", Value: "en-" + id + "|1"}, {Key: "accountId", Value: id}}},
		store.CollPasskeys:            {{{Key: "_id", Value: "pk-" + id}, {Key: "accountId", Value: id}}},
		store.CollPasskeyUsers:        {{{Key: "_id", Value: id}}},
		store.CollPasskeyCeremonies:   {{{Key: "_id", Value: "registration:" + id + "-c"}, {Key: "accountId", Value: id}}},
		store.CollCredentialClaims:    {{{Key: "_id", Value: id + "|password|abc"}}},
		store.CollAccountLocks:        {{{Key: "_id", Value: "signin-methods:" + id}}},
	}
	for coll, ds := range docs {
		for _, d := range ds {
			if _, err := db.Collection(coll).InsertOne(ctx, d); err != nil {
				t.Fatalf("seed %s: %v", coll, err)
			}
		}
	}
}

func mentions(t *testing.T, db *mongo.Database, needles ...string) []string {
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

// Every identity collection that holds an account's id, address or number is covered by the erasure,
// and nothing of another account is touched.
func TestDeletionsEraseEveryCollection(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("identity")
	ctx := context.Background()
	const gone, kept = "0b6c1d7e-gone-4a1f", "5e2a9c31-kept-7d0b"
	seedAccountData(t, db, gone, "gone@example.com", "+15550001111")
	seedAccountData(t, db, kept, "kept@example.com", "+15550002222")
	// An address the erased account once used that is another account's now.
	if _, err := db.Collection(store.CollEmailReverts).InsertOne(ctx, bson.D{{Key: "_id", Value: "hash-rv2-" + gone}, {Key: "accountId", Value: gone},
		{Key: "oldEmail", Value: "kept@example.com"}, {Key: "newEmail", Value: "gone@example.com"}}); err != nil {
		t.Fatal(err)
	}
	d := store.NewDeletions(db)
	if err := d.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}

	due, err := d.Due(ctx, time.Now(), 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("Due = %v, %v; want both seeded accounts", due, err)
	}
	emails, phones, err := d.Contacts(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(emails, ",") != "gone@example.com,old-gone@example.com" || strings.Join(phones, ",") != "+15550001111" {
		t.Fatalf("Contacts = %v %v", emails, phones)
	}
	for i := range 2 { // idempotent
		if err := d.Erase(ctx, gone, append(emails, phones...), time.Hour, time.Now()); err != nil {
			t.Fatalf("Erase #%d: %v", i+1, err)
		}
	}
	if err := d.DeleteAccount(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if found := mentions(t, db, gone, "gone@example.com", "+15550001111", "15550001111"); len(found) > 0 {
		t.Fatalf("left after the erasure:\n%s", strings.Join(found, "\n"))
	}
	if found := mentions(t, db, kept); len(found) < 20 {
		t.Errorf("the other account kept %d documents, want all of them", len(found))
	}
	for _, name := range []string{"u" + gone[len(gone)-4:], "old" + gone[len(gone)-4:]} {
		holder, err := store.NewUsernames(db).ReservedFor(ctx, name, time.Now())
		if err != nil || holder != store.ErasedUsernameHolder {
			t.Errorf("%s reserved for %q (%v), want the anonymous holder", name, holder, err)
		}
	}
}
