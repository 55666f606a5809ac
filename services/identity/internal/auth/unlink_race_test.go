package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// TestParallelUnlinksLeaveASignInMethod: two unlinks at once of an account's last two sign-in
// methods (two providers; a provider and the e-mail the password is entered with) must leave one.
// Before the sign-in-method lock, both passed the "not the last one" check and the account was left
// with no way in, 5 tries out of 5.
func TestParallelUnlinksLeaveASignInMethod(t *testing.T) {
	t.Parallel()
	db := testenv.New(t).Database("identity")
	ctx := context.Background()
	if err := store.EnsureIndexes(ctx, db); err != nil {
		t.Fatal(err)
	}
	accounts, providers := store.NewAccounts(db), store.NewProviders(db)
	svc := auth.NewService(auth.Config{}, auth.Deps{
		Accounts: accounts, Devices: store.NewDevices(db), Limiter: throttle.New(store.NewCounters(db)),
		Sessions: sessions{}, Outbox: &outbox{}, Providers: providers,
	})

	cases := []struct {
		name     string
		account  func(id string) account.Account
		links    []string
		unlinkA  func(id string) error
		unlinkB  func(id string) error
		refusals []error // what the losing unlink may answer
	}{
		{
			name: "two providers of a passwordless account",
			account: func(id string) account.Account {
				return account.Account{ID: id, Email: id + "@example.com", EmailVerified: true, Status: account.StatusActive}
			},
			links:   []string{oauth.Google, oauth.GitHub},
			unlinkA: func(id string) error { return svc.UnlinkProvider(ctx, id, oauth.Google) },
			unlinkB: func(id string) error { return svc.UnlinkProvider(ctx, id, oauth.GitHub) },
		},
		{
			name: "a provider and the e-mail of the password",
			account: func(id string) account.Account {
				return account.Account{ID: id, Email: id + "@example.com", EmailVerified: true, PasswordHash: "h",
					Phone: "+254712345678", PhoneVerified: true, Status: account.StatusActive}
			},
			links:   []string{oauth.Google},
			unlinkA: func(id string) error { return svc.UnlinkProvider(ctx, id, oauth.Google) },
			unlinkB: func(id string) error { return svc.UnlinkEmail(ctx, id) },
		},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const tries = 20
			for i := range tries {
				id := fmt.Sprintf("race-%d-%d", ci, i)
				a := tc.account(id)
				if a.Phone != "" {
					a.Phone = fmt.Sprintf("+2547123%05d", ci*100+i)
				}
				a.CreatedAt, a.UpdatedAt = time.Now(), time.Now()
				if err := accounts.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
				for _, p := range tc.links {
					if err := providers.Link(ctx, oauth.Link{ID: id + "-" + p, AccountID: id, Provider: p, Subject: id + "-" + p, LinkedAt: time.Now()}); err != nil {
						t.Fatal(err)
					}
				}
				var errA, errB error
				var wg sync.WaitGroup
				wg.Go(func() { errA = tc.unlinkA(id) })
				wg.Go(func() { errB = tc.unlinkB(id) })
				wg.Wait()

				after, err := accounts.ByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				links, err := providers.ListByAccount(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if n := auth.SignInMethods(after, len(links)); n < 1 {
					t.Fatalf("try %d: %d sign-in methods left after parallel unlinks (errors %v, %v)", i, n, errA, errB)
				}
				// Exactly one unlink wins; the other is told it would remove the last method.
				if (errA == nil) == (errB == nil) {
					t.Fatalf("try %d: unlink errors %v and %v, want exactly one to succeed", i, errA, errB)
				}
				if lost := errors.Join(errA, errB); !errors.Is(lost, auth.ErrLastSignInMethod) {
					t.Fatalf("try %d: losing unlink: %v, want ErrLastSignInMethod", i, lost)
				}
			}
		})
	}
}
