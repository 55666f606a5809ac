// Package account is the identity of a person in Latchkey: the account record, its sign-in
// identifiers (e-mail, phone, username) and the rules those identifiers follow.
package account

import (
	"errors"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// Status says whether an account may sign in.
type Status string

// Account statuses.
const (
	StatusActive      Status = "ACTIVE"
	StatusLocked      Status = "LOCKED"      // by operators or security rules
	StatusDeactivated Status = "DEACTIVATED" // by the owner; support can reactivate
)

// Account is one person's identity. E-mail and username are stored lower-cased: uniqueness is
// case-insensitive, and MongoDB-compatible servers without collation support can still enforce it
// with a plain unique index.
type Account struct {
	ID                string
	Email             string // lower-cased; empty for accounts without e-mail
	EmailVerified     bool
	Phone             string // E.164; empty when none
	PhoneVerified     bool
	Username          string // lower-cased; empty until chosen
	FirstName         string
	LastName          string
	PasswordHash      string // PHC argon2id; empty for passwordless accounts
	Status            Status
	TwoFactorEnabled  bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
	Roles             []string // authorization roles; DefaultRoles when none were stored
	// DeactivatedAt and DeactivationReason are set when the owner deactivated the account.
	DeactivatedAt      time.Time
	DeactivationReason string
	// PendingRevocation is a sign-out of the account's sessions that a credential change ordered and
	// the session service has not confirmed yet; nil when there is none.
	PendingRevocation *Revocation
	// Version counts the changes of the facts other services project (events.AccountSnapshot); the
	// store increments it with every such change, in the same write.
	Version int64
	// PendingPhone is a number the owner set through a profile path (E.164; empty when none). It is
	// only a wish: it never replaces or un-verifies Phone until the code sent to it is answered.
	PendingPhone string
	// PasswordResetRequired: the owner reported a sign-in or change as not theirs ("this wasn't me");
	// password login is refused until a new password is set (a reset, or a change in a session).
	PasswordResetRequired bool
}

// Revocation asks the session service to end the account's sessions, all of them or all but one.
// It is stored with the change that ordered it (one single-document write) and cleared once the
// session service confirmed it, so a session service outage delays the sign-out but never loses it.
type Revocation struct {
	ID              string // identifies this order, so a newer one is never cleared by mistake
	ExceptSessionID string // the caller's own session, kept; empty: end every session
	Reason          string // Reason* of the session service's revoke API
	OrderedAt       time.Time
	// APIKeys also revokes every API key of the account (password reset, deactivation, or a
	// password change that asked for it); SessionsKept, with it, ends no session.
	APIKeys      bool
	SessionsKept bool
}

// Reasons sent to the session service's revoke API.
const (
	ReasonPasswordChanged    = "password_changed"
	ReasonPasswordReset      = "password_reset"
	ReasonTwoFactorChanged   = "two_factor_changed"
	ReasonAccountDeactivated = "account_deactivated"
)

// RoleUser is the role every account holds.
const RoleUser = "ROLE_USER"

// DefaultRoles returns the roles of a new account (a fresh slice, so callers may append).
func DefaultRoles() []string { return []string{RoleUser} }

// EffectiveRoles returns the account's roles, DefaultRoles for an account stored before roles were
// recorded. The slice is the caller's to keep.
func (a Account) EffectiveRoles() []string {
	if len(a.Roles) == 0 {
		return DefaultRoles()
	}
	return append([]string(nil), a.Roles...)
}

// CanSignIn reports whether the account may sign in at all.
func (a Account) CanSignIn() bool { return a.Status == StatusActive }

// HasPassword reports whether the account can sign in with a password.
func (a Account) HasPassword() bool { return a.PasswordHash != "" }

// IsEmailVerified reports whether the account has an e-mail address and it is verified.
func (a Account) IsEmailVerified() bool { return a.Email != "" && a.EmailVerified }

// IsPhoneVerified reports whether the account has a phone number and it is verified.
func (a Account) IsPhoneVerified() bool { return a.Phone != "" && a.PhoneVerified }

// HasVerifiedChannel reports whether a one-time code can be sent to the owner.
func (a Account) HasVerifiedChannel() bool { return a.IsEmailVerified() || a.IsPhoneVerified() }

// PrimaryComplete reports whether the account has finished the primary onboarding step: a username
// and a first name.
func (a Account) PrimaryComplete() bool { return a.Username != "" && a.FirstName != "" }

// Errors of the account store.
var (
	ErrNotFound      = errors.New("account not found")
	ErrEmailTaken    = errors.New("email already registered")
	ErrUsernameTaken = errors.New("username already taken")
)

// NormalizeEmail trims and lower-cases an e-mail address and writes an internationalised domain in
// its ASCII form (IDNA 2008 / UTS #46 lookup: "Bücher.example" and "xn--bcher-kva.example" are one
// domain, so one account). A domain that is not a valid IDN is left as it is, for the validator to
// refuse.
func NormalizeEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	domain, err := idna.Lookup.ToASCII(s[at+1:])
	if err != nil || domain == "" {
		return s
	}
	return s[:at+1] + strings.ToLower(domain)
}
