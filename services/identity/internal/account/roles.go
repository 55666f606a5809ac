package account

import "slices"

// Operator roles. An account holding RoleSupport may read accounts and lock or unlock them through
// the admin API; RoleAdmin may do everything the admin API offers, setting roles included. Both are
// granted only by the operator command (identity admin grant), never by default.
const (
	RoleAdmin   = "ROLE_ADMIN"
	RoleSupport = "ROLE_SUPPORT"
)

// KnownRoles are the roles an account may hold.
var KnownRoles = []string{RoleUser, RoleSupport, RoleAdmin}

// IsKnownRole reports whether role is one of KnownRoles.
func IsKnownRole(role string) bool { return slices.Contains(KnownRoles, role) }

// HasRole reports whether the account holds role.
func (a Account) HasRole(role string) bool { return slices.Contains(a.EffectiveRoles(), role) }

// IsOperator reports whether the account holds RoleAdmin or RoleSupport.
func (a Account) IsOperator() bool { return a.HasRole(RoleAdmin) || a.HasRole(RoleSupport) }

// NormalizeRoles returns roles de-duplicated in the order of KnownRoles, with RoleUser always kept
// (every account holds it). Unknown roles are dropped: callers validate with IsKnownRole first.
func NormalizeRoles(roles []string) []string {
	out := []string{RoleUser}
	for _, r := range KnownRoles[1:] {
		if slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	return out
}
