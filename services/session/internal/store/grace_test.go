package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

// TestRotateKeepsRefreshGrace: the refresh grace is written by the rotation itself (one conditional
// write), read back by Get, replaced by the next rotation, and never listed.
func TestRotateKeepsRefreshGrace(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	sessions := store.NewSessions(env.Database("session"))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := sessions.Insert(ctx, newSession("s-1", "acc-1", now)); err != nil {
		t.Fatal(err)
	}
	until := now.Add(10 * time.Second)
	sealed := []byte{1, 2, 3, 4}
	if err := sessions.Rotate(ctx, session.Rotation{SessionID: "s-1", OldHash: "h0", NewHash: "h1", Rotated: []string{"h0"},
		Now: now, ExpiresAt: now.Add(time.Hour), GraceHash: "h0", GraceSealed: sealed, GraceUntil: until}); err != nil {
		t.Fatal(err)
	}
	got, err := sessions.Get(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.GraceHash != "h0" || !bytes.Equal(got.GraceSealed, sealed) || !got.GraceUntil.Equal(until) {
		t.Errorf("grace = %q %v %s, want h0 %v %s", got.GraceHash, got.GraceSealed, got.GraceUntil, sealed, until)
	}
	listed, err := sessions.ListUnrevoked(ctx, "acc-1", now)
	if err != nil || len(listed) != 1 {
		t.Fatalf("ListUnrevoked = %v, %v", listed, err)
	}
	if len(listed[0].GraceSealed) != 0 {
		t.Error("ListUnrevoked returns the sealed grace pair")
	}

	// A rotation without grace drops the previous one.
	if err := sessions.Rotate(ctx, session.Rotation{SessionID: "s-1", OldHash: "h1", NewHash: "h2", Rotated: []string{"h0", "h1"},
		Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, err = sessions.Get(ctx, "s-1"); err != nil {
		t.Fatal(err)
	}
	if got.GraceHash != "" || len(got.GraceSealed) != 0 {
		t.Errorf("after a rotation without grace: grace = %q %v, want none", got.GraceHash, got.GraceSealed)
	}
}
