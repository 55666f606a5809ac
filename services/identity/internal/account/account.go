// Package account is the identity of a person in Latchkey: the account record, its sign-in
// identifiers (e-mail, phone, username) and the rules those identifiers follow.
package account

import (
	"errors"
	"strings"
	"time"
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
	// Version counts the changes of the facts other services project (events.AccountSnapshot); the
	// store increments it with every such change, in the same write.
	Version int64
}

// CanSignIn reports whether the account may sign in at all.
func (a Account) CanSignIn() bool { return a.Status == StatusActive }

// HasVerifiedChannel reports whether a one-time code can be sent to the owner.
func (a Account) HasVerifiedChannel() bool {
	return (a.Email != "" && a.EmailVerified) || (a.Phone != "" && a.PhoneVerified)
}

// PrimaryComplete reports whether the account has finished the primary onboarding step: a username
// and a first name.
func (a Account) PrimaryComplete() bool { return a.Username != "" && a.FirstName != "" }

// Errors of the account store.
var (
	ErrNotFound      = errors.New("account not found")
	ErrEmailTaken    = errors.New("email already registered")
	ErrUsernameTaken = errors.New("username already taken")
)

// NormalizeEmail trims and lower-cases an e-mail address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
