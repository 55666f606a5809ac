package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// RoleStore is what the operator command needs of the account store (store.Accounts).
type RoleStore interface {
	ByEmail(ctx context.Context, email string) (account.Account, error)
	SetRoles(ctx context.Context, id string, roles []string) (bool, error)
}

// Errors of the operator command.
var (
	ErrUnknownRole    = errors.New(`unknown role: use "admin" or "support"`)
	ErrUnknownAccount = errors.New("no account has this email address")
)

// ParseRole reads an operator role as the command takes it: "admin" or "support" (any case, with or
// without the ROLE_ prefix).
func ParseRole(s string) (string, error) {
	switch strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "ROLE_") {
	case "ADMIN":
		return account.RoleAdmin, nil
	case "SUPPORT":
		return account.RoleSupport, nil
	}
	return "", ErrUnknownRole
}

// RoleChange is what Grant or Revoke did.
type RoleChange struct {
	AccountID string
	Roles     []string // the roles the account holds now
	Changed   bool     // false: the account already was in the asked state
}

// Grant gives the account with e-mail email the operator role (see ParseRole). The change goes
// through the store's versioned update, so the account's version and pending snapshot are kept.
func Grant(ctx context.Context, accounts RoleStore, email, role string) (RoleChange, error) {
	return changeRole(ctx, accounts, email, role, true)
}

// Revoke takes the operator role from the account with e-mail email.
func Revoke(ctx context.Context, accounts RoleStore, email, role string) (RoleChange, error) {
	return changeRole(ctx, accounts, email, role, false)
}

func changeRole(ctx context.Context, accounts RoleStore, email, role string, grant bool) (RoleChange, error) {
	r, err := ParseRole(role)
	if err != nil {
		return RoleChange{}, err
	}
	a, err := accounts.ByEmail(ctx, account.NormalizeEmail(email))
	if errors.Is(err, account.ErrNotFound) {
		return RoleChange{}, ErrUnknownAccount
	}
	if err != nil {
		return RoleChange{}, fmt.Errorf("find account: %w", err)
	}
	roles := a.EffectiveRoles()
	has := slices.Contains(roles, r)
	if has == grant {
		return RoleChange{AccountID: a.ID, Roles: account.NormalizeRoles(roles)}, nil
	}
	if grant {
		roles = append(roles, r)
	} else {
		roles = slices.DeleteFunc(roles, func(x string) bool { return x == r })
	}
	roles = account.NormalizeRoles(roles)
	ok, err := accounts.SetRoles(ctx, a.ID, roles)
	if err != nil {
		return RoleChange{}, fmt.Errorf("set roles: %w", err)
	}
	if !ok {
		return RoleChange{}, ErrUnknownAccount
	}
	return RoleChange{AccountID: a.ID, Roles: roles, Changed: true}, nil
}
