package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
)

// A request of an erased account (its token not yet refused here) creates no profile again.
func TestErasedAccountGetsNoNewProfile(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("profile")
	ctx := context.Background()
	tombstones := erasure.NewTombstones(db)
	svc := profile.NewService(erasureAwareProfiles{Profiles: store.NewProfiles(db), tombstones: tombstones}, profile.Options{Wait: time.Millisecond})

	if _, err := svc.Get(ctx, "acc-live"); err != nil {
		t.Fatalf("a live account's missing profile: %v, want it created", err)
	}
	if err := tombstones.Mark(ctx, "acc-erased", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, "acc-erased"); !errors.Is(err, profile.ErrNotFound) {
		t.Errorf("GET of an erased account: %v, want ErrNotFound", err)
	}
	if _, err := svc.Update(ctx, "acc-erased", profile.Changes{}); !errors.Is(err, profile.ErrNotFound) {
		t.Errorf("PATCH of an erased account: %v, want ErrNotFound", err)
	}
	n, err := db.Collection(store.Collection).CountDocuments(ctx, bson.D{{Key: "_id", Value: "acc-erased"}})
	if err != nil || n != 0 {
		t.Fatalf("%d profiles of the erased account (%v)", n, err)
	}
}
