package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// The e-mail goes only in a write that also finds a verified phone; of parallel removals one wins.
func TestAccountsRemoveEmailKeepsAVerifiedContact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewAccounts(newDB(t))
	withPhone := newAccount("b1", "bob@example.com", "bob")
	withPhone.Phone, withPhone.PhoneVerified = "+447700900123", true
	unverifiedPhone := newAccount("c1", "cyd@example.com", "cyd")
	unverifiedPhone.Phone = "+447700900124"
	for _, a := range []account.Account{newAccount("a1", "ada@example.com", "ada"), withPhone, unverifiedPhone} {
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for id, email := range map[string]string{"a1": "ada@example.com", "c1": "cyd@example.com"} {
		if ok, err := s.RemoveEmailKeepingVerifiedPhone(ctx, id, email); err != nil || ok {
			t.Errorf("%s: removed = %v, %v; want refused without a verified phone", id, ok, err)
		}
	}
	var wg sync.WaitGroup
	wins := make(chan bool, 4)
	for range 4 {
		wg.Go(func() {
			ok, err := s.RemoveEmailKeepingVerifiedPhone(ctx, "b1", "bob@example.com")
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d parallel removals succeeded, want 1", n)
	}
	if a, _ := s.ByID(ctx, "b1"); a.Email != "" || !a.IsPhoneVerified() {
		t.Errorf("bob = %+v, want no e-mail and the verified phone", a)
	}
	// A pending phone leaves the verified one as it is; verifying replaces it and clears the pending.
	if ok, err := s.SetPendingPhone(ctx, "b1", "+447700900999"); err != nil || !ok {
		t.Fatalf("SetPendingPhone = %v, %v", ok, err)
	}
	if a, _ := s.ByID(ctx, "b1"); a.Phone != "+447700900123" || !a.PhoneVerified || a.PendingPhone != "+447700900999" {
		t.Errorf("after SetPendingPhone: %+v", a)
	}
	if ok, err := s.SetVerifiedPhone(ctx, "b1", "+447700900999"); err != nil || !ok {
		t.Fatalf("SetVerifiedPhone = %v, %v", ok, err)
	}
	if a, _ := s.ByID(ctx, "b1"); a.Phone != "+447700900999" || !a.PhoneVerified || a.PendingPhone != "" {
		t.Errorf("after SetVerifiedPhone: %+v", a)
	}
}
