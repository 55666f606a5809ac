package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// TestLockSignInMethods: the lease is exclusive per account, released by its holder, and taken over
// once a crashed holder's lease has run out.
func TestLockSignInMethods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	s := store.NewProviders(db)

	release, err := s.LockSignInMethods(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.LockSignInMethods(ctx, "a2") // another account is not held up
	if err != nil {
		t.Fatal(err)
	}
	other()
	var second atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err := s.LockSignInMethods(ctx, "a1")
		if err != nil {
			t.Error(err)
			return
		}
		second.Store(true)
		r()
	}()
	time.Sleep(150 * time.Millisecond)
	if second.Load() {
		t.Fatal("a second holder got the lease while the first held it")
	}
	release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the lease was not handed on after its release")
	}

	// A lease whose holder died is taken over once it has run out.
	if _, err := db.Collection(store.CollAccountLocks).InsertOne(ctx, bson.D{
		{Key: "_id", Value: "signin-methods:a3"}, {Key: "owner", Value: "dead"}, {Key: "until", Value: time.Now().Add(-time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := s.LockSignInMethods(ctx, "a3")
	if err != nil {
		t.Fatalf("take over an expired lease: %v", err)
	}
	r()
}
