package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// TestAdminCommand runs `identity admin grant|revoke` against the embedded server as an operator
// would: it finds the account by e-mail (any case), changes its roles through the versioned store
// write, says what it did, and fails clearly on an unknown e-mail or role.
func TestAdminCommand(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	db := env.Database("identity")
	ctx := context.Background()
	accounts := store.NewAccounts(db)
	now := time.Now().UTC()
	ada := account.Account{ID: events.NewID(), Email: "ada@example.com", EmailVerified: true, Status: account.StatusActive,
		CreatedAt: now, UpdatedAt: now, Roles: account.DefaultRoles()}
	if err := accounts.Create(ctx, ada); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"MONGODB_URI": env.MongoURI, "MONGODB_DATABASE": db.Name()}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runAdminCommand(ctx, args, platformconfig.NewLoaderFrom(vars), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	roles := func() ([]string, int64) {
		a, err := accounts.ByID(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		return a.EffectiveRoles(), a.Version
	}
	_, v0 := roles()

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   string // in stdout (code 0) or stderr
		wantRoles []string
	}{
		{"grant admin", []string{"grant", "--email", "ADA@example.com", "--role", "admin"}, 0, "ROLE_ADMIN granted to account " + ada.ID, []string{account.RoleUser, account.RoleAdmin}},
		{"grant again", []string{"grant", "--email", "ada@example.com", "--role", "admin"}, 0, "already held by", []string{account.RoleUser, account.RoleAdmin}},
		{"grant support", []string{"grant", "--email", "ada@example.com", "--role", "ROLE_SUPPORT"}, 0, "roles now: ROLE_USER, ROLE_SUPPORT, ROLE_ADMIN", []string{account.RoleUser, account.RoleSupport, account.RoleAdmin}},
		{"revoke admin", []string{"revoke", "--email", "ada@example.com", "--role", "admin"}, 0, "ROLE_ADMIN revoked from", []string{account.RoleUser, account.RoleSupport}},
		{"unknown email", []string{"grant", "--email", "nobody@example.com", "--role", "admin"}, 1, "no account has the email address nobody@example.com", []string{account.RoleUser, account.RoleSupport}},
		{"unknown role", []string{"grant", "--email", "ada@example.com", "--role", "root"}, 2, "unknown role", []string{account.RoleUser, account.RoleSupport}},
		{"no email", []string{"grant", "--role", "admin"}, 2, "usage:", []string{account.RoleUser, account.RoleSupport}},
		{"unknown subcommand", []string{"promote", "--email", "ada@example.com"}, 2, "usage:", []string{account.RoleUser, account.RoleSupport}},
	}
	for _, tc := range tests {
		code, out, errOut := run(tc.args...)
		if code != tc.wantCode {
			t.Errorf("%s: exit %d (stdout %q, stderr %q), want %d", tc.name, code, out, errOut, tc.wantCode)
		}
		got := out
		if tc.wantCode != 0 {
			got = errOut
		}
		if !strings.Contains(got, tc.wantOut) {
			t.Errorf("%s: output %q, want it to say %q", tc.name, got, tc.wantOut)
		}
		if r, _ := roles(); !slices.Equal(r, tc.wantRoles) {
			t.Errorf("%s: roles %v, want %v", tc.name, r, tc.wantRoles)
		}
	}
	// Three changes (grant admin, grant support, revoke admin), each a versioned write with its
	// account.updated snapshot left pending for the service's republisher.
	if _, v := roles(); v != v0+3 {
		t.Errorf("version %d, want %d", v, v0+3)
	}
	pending, err := accounts.SnapshotUnpublished(ctx, time.Now().Add(time.Minute), 10)
	if err != nil || len(pending) != 1 || pending[0].ID != ada.ID {
		t.Errorf("pending snapshots = %v (%v), want ada's", pending, err)
	}
}
