package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func TestAccountsChangePasswordIsConditional(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewAccounts(newDB(t))
	a := newAccount("a1", "ada@example.com", "ada")
	if err := s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	revoke := &account.Revocation{ID: "r1", ExceptSessionID: "s1", Reason: account.ReasonPasswordChanged, OrderedAt: at}

	// Of concurrent changes from the same old hash exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 5)
	for i := range 5 {
		wg.Go(func() {
			h := "$argon2id$new" + string(rune('a'+i))
			if ok, err := s.ChangePassword(ctx, a.ID, a.PasswordHash, h, at, revoke); err != nil {
				t.Error(err)
			} else if ok {
				wins <- h
			}
		})
	}
	wg.Wait()
	close(wins)
	var won []string
	for h := range wins {
		won = append(won, h)
	}
	if len(won) != 1 {
		t.Fatalf("%d concurrent changes won, want exactly 1", len(won))
	}
	got, _ := s.ByID(ctx, a.ID)
	if got.PasswordHash != won[0] || !got.PasswordChangedAt.Equal(at) || got.PendingRevocation == nil || *got.PendingRevocation != *revoke {
		t.Fatalf("stored %+v, want the winner's hash, the change time and the revocation", got)
	}
	pending, err := s.RevocationsPending(ctx, at.Add(time.Second), 10)
	if err != nil || len(pending) != 1 || pending[0].ID != a.ID {
		t.Fatalf("RevocationsPending = %v, %v; want the account", pending, err)
	}
	if err := s.ClearRevocation(ctx, a.ID, "another-order"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ByID(ctx, a.ID); got.PendingRevocation == nil {
		t.Fatal("ClearRevocation of another order cleared this one")
	}
	if err := s.ClearRevocation(ctx, a.ID, "r1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ByID(ctx, a.ID); got.PendingRevocation != nil {
		t.Fatal("pending revocation still there after ClearRevocation")
	}

	// A first password only when there is none; never on a deactivated account.
	b := newAccount("b1", "bob@example.com", "bob")
	b.PasswordHash = ""
	if err := s.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ChangePassword(ctx, b.ID, "", "$argon2id$first", at, nil); err != nil || !ok {
		t.Fatalf("first password = %v, %v; want stored", ok, err)
	}
	if ok, _ := s.ChangePassword(ctx, b.ID, "", "$argon2id$second", at, nil); ok {
		t.Fatal("a second 'first' password was stored")
	}
	if ok, err := s.Deactivate(ctx, b.ID, "bye", at, account.Revocation{ID: "r2", Reason: account.ReasonAccountDeactivated, OrderedAt: at}); err != nil || !ok {
		t.Fatalf("Deactivate = %v, %v", ok, err)
	}
	if ok, _ := s.ChangePassword(ctx, b.ID, "$argon2id$first", "$argon2id$third", at, nil); ok {
		t.Fatal("password changed on a deactivated account")
	}
	if ok, _ := s.Deactivate(ctx, b.ID, "", at, account.Revocation{ID: "r3"}); ok {
		t.Fatal("deactivated twice")
	}
	got, _ = s.ByID(ctx, b.ID)
	if got.Status != account.StatusDeactivated || got.DeactivationReason != "bye" || got.Version != 2 || got.Email != "bob@example.com" {
		t.Fatalf("deactivated account = %+v, want status, reason and a new version, data kept", got)
	}
}

func TestAccountsSetTwoFactor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewAccounts(newDB(t))
	a := newAccount("a1", "ada@example.com", "ada")
	if err := s.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		enable      bool
		wantMatched bool
		wantVersion int64
	}{
		{true, true, 2},
		{true, false, 2}, // already on
		{false, true, 3},
		{false, false, 3}, // already off
	}
	for i, st := range steps {
		ok, err := s.SetTwoFactor(ctx, a.ID, st.enable, nil)
		got, _ := s.ByID(ctx, a.ID)
		if err != nil || ok != st.wantMatched || got.TwoFactorEnabled != st.enable || got.Version != st.wantVersion {
			t.Fatalf("step %d: SetTwoFactor(%v) = %v, %v; account 2FA %v version %d", i, st.enable, ok, err, got.TwoFactorEnabled, got.Version)
		}
	}
	pending, err := s.SnapshotUnpublished(ctx, time.Now().Add(time.Second), 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("SnapshotUnpublished = %v, %v; want the account (its snapshot is pending)", pending, err)
	}
}
