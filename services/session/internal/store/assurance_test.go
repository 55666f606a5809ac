package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

// TestSessionAssurance: a session keeps its amr, acr and auth_time through a rotation, and a session
// stored before they were recorded reads as one factor (aal1, no amr) proven when it was created.
func TestSessionAssurance(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("session")
	s := store.NewSessions(db)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	signedIn := now.Add(-3 * time.Minute).Truncate(time.Second)

	sess := session.Session{
		ID: "11111111-1111-4111-8111-111111111111", AccountID: "acc-1", CreatedAt: now, LastActiveAt: now,
		ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour), RefreshHash: "h1",
		Assurance: session.Assurance{AMR: []string{"pwd", "otp", "mfa"}, ACR: "aal2", AuthTime: signedIn},
	}
	if err := s.Insert(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx, session.Rotation{SessionID: sess.ID, OldHash: "h1", NewHash: "h2", Rotated: []string{"h1"}, Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rotated, err := s.Get(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	for what, a := range map[string]session.Assurance{"rotated": rotated.Assurance, "read": got.Assurance} {
		if !slices.Equal(a.AMR, []string{"pwd", "otp", "mfa"}) || a.ACR != "aal2" || !a.AuthTime.Equal(signedIn) {
			t.Errorf("%s assurance = %+v, want [pwd otp mfa] aal2 %v", what, a, signedIn)
		}
	}

	// A document written before sessions recorded their assurance.
	legacyCreated := now.Add(-time.Hour)
	if _, err := db.Collection("sessions").InsertOne(ctx, bson.D{
		{Key: "_id", Value: "22222222-2222-4222-8222-222222222222"}, {Key: "accountId", Value: "acc-1"},
		{Key: "createdAt", Value: legacyCreated}, {Key: "lastActiveAt", Value: now},
		{Key: "expiresAt", Value: now.Add(time.Hour)}, {Key: "absoluteExpiresAt", Value: now.Add(time.Hour)},
		{Key: "revokedAt", Value: nil}, {Key: "refreshHash", Value: "h3"}, {Key: "rotatedRefreshHashes", Value: bson.A{}},
	}); err != nil {
		t.Fatal(err)
	}
	legacy, err := s.Get(ctx, "22222222-2222-4222-8222-222222222222")
	if err != nil {
		t.Fatal(err)
	}
	if legacy.Assurance.AMR != nil || legacy.Assurance.ACR != "aal1" || !legacy.Assurance.AuthTime.Equal(legacyCreated) {
		t.Errorf("legacy assurance = %+v, want no amr, aal1, auth time %v (createdAt)", legacy.Assurance, legacyCreated)
	}
}
