package admin_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/admin"
)

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"admin", account.RoleAdmin, true},
		{" Support ", account.RoleSupport, true},
		{"ROLE_ADMIN", account.RoleAdmin, true},
		{"role_support", account.RoleSupport, true},
		{"user", "", false}, // every account holds ROLE_USER: not the command's to give or take
		{"ROLE_USER", "", false},
		{"root", "", false},
		{"", "", false},
	} {
		got, err := admin.ParseRole(tc.in)
		if got != tc.want || (err == nil) != tc.ok || (err != nil && !errors.Is(err, admin.ErrUnknownRole)) {
			t.Errorf("ParseRole(%q) = %q, %v; want %q (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestNormalizeRoles(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, []string{account.RoleUser}},
		{[]string{account.RoleAdmin, account.RoleAdmin}, []string{account.RoleUser, account.RoleAdmin}},
		{[]string{account.RoleAdmin, account.RoleSupport, "ROLE_ROOT"}, []string{account.RoleUser, account.RoleSupport, account.RoleAdmin}},
	} {
		if got := account.NormalizeRoles(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("NormalizeRoles(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// roleStore is an in-memory RoleStore.
type roleStore struct {
	accounts map[string]account.Account // by e-mail
	writes   int
}

func (s *roleStore) ByEmail(_ context.Context, email string) (account.Account, error) {
	a, ok := s.accounts[email]
	if !ok {
		return account.Account{}, account.ErrNotFound
	}
	return a, nil
}

func (s *roleStore) SetRoles(_ context.Context, id string, roles []string) (bool, error) {
	for e, a := range s.accounts {
		if a.ID == id {
			a.Roles = roles
			s.accounts[e] = a
			s.writes++
			return true, nil
		}
	}
	return false, nil
}

// TestGrantRevoke: the command's domain finds the account by normalised e-mail, writes only when
// something changes, and refuses unknown e-mails and roles without writing.
func TestGrantRevoke(t *testing.T) {
	ctx := context.Background()
	s := &roleStore{accounts: map[string]account.Account{"ada@example.com": {ID: "a1", Email: "ada@example.com"}}}
	steps := []struct {
		name, email, role string
		grant             bool
		wantRoles         []string
		wantChanged       bool
		wantErr           error
	}{
		{"grant", " ADA@example.com", "admin", true, []string{account.RoleUser, account.RoleAdmin}, true, nil},
		{"grant again", "ada@example.com", "admin", true, []string{account.RoleUser, account.RoleAdmin}, false, nil},
		{"revoke support not held", "ada@example.com", "support", false, []string{account.RoleUser, account.RoleAdmin}, false, nil},
		{"revoke", "ada@example.com", "admin", false, []string{account.RoleUser}, true, nil},
		{"unknown email", "bob@example.com", "admin", true, nil, false, admin.ErrUnknownAccount},
		{"unknown role", "ada@example.com", "owner", true, nil, false, admin.ErrUnknownRole},
	}
	writes := 0
	for _, st := range steps {
		change := admin.Grant
		if !st.grant {
			change = admin.Revoke
		}
		got, err := change(ctx, s, st.email, st.role)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err %v, want %v", st.name, err, st.wantErr)
		}
		if err != nil {
			continue
		}
		if got.Changed != st.wantChanged || !slices.Equal(got.Roles, st.wantRoles) || got.AccountID != "a1" {
			t.Errorf("%s: %+v, want roles %v changed %v", st.name, got, st.wantRoles, st.wantChanged)
		}
		if st.wantChanged {
			writes++
		}
		if s.writes != writes {
			t.Errorf("%s: %d writes, want %d", st.name, s.writes, writes)
		}
	}
}
