// Package oauth is about the external sign-in providers an account can be linked to (Google, Apple,
// GitHub): the links themselves, and the verification of the OpenID Connect ID tokens that prove a
// person controls a provider account.
//
// ID tokens are verified for real: the signature against the provider's published JWKS (fetched
// and cached, refetched on an unknown kid), an algorithm allow-list (RS256, ES256), and the iss, aud
// (one of the configured client ids), exp, iat and nonce claims: a token with a nonce is accepted only
// from a client that sends that nonce back. A token is accepted once (see Identity.TokenKey).
package oauth

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Provider names, lower-case as stored and as the plain-style paths spell them.
const (
	Google = "google"
	Apple  = "apple"
	GitHub = "github"
)

// Providers lists every provider an account can be linked to.
var Providers = []string{Google, Apple, GitHub}

// Normalize returns the canonical (lower-case) name of a provider given in any case, and whether it
// is known.
func Normalize(name string) (string, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, p := range Providers {
		if n == p {
			return n, true
		}
	}
	return "", false
}

// Link records that an account may sign in with a provider account.
type Link struct {
	ID        string // UUID
	AccountID string
	Provider  string // lower-case provider name
	Subject   string // the provider's stable user id (the sub claim)
	Email     string // the provider account's e-mail when it gave one, lower-cased
	LinkedAt  time.Time
}

// Identity is what a verified ID token says about the person.
type Identity struct {
	Provider      string
	Subject       string
	Email         string // lower-cased; may be empty
	EmailVerified bool
	// TokenKey names the ID token itself (hex SHA-256 of its signed header and payload, which a
	// re-encoded signature cannot change), and ExpiresAt is when it stops verifying: an accepted
	// token is remembered under TokenKey until then, so that it is accepted once.
	TokenKey  string
	ExpiresAt time.Time
}

// Errors.
var (
	// ErrNotLinked: no link matches.
	ErrNotLinked = errors.New("provider not linked")
	// ErrAlreadyLinked: the account already has a link to this provider.
	ErrAlreadyLinked = errors.New("provider already linked to this account")
	// ErrLinkedElsewhere: the provider account is linked to another account.
	ErrLinkedElsewhere = errors.New("provider account linked to another account")
	// ErrProviderDisabled: the provider has no configuration (no client id) in this deployment.
	ErrProviderDisabled = errors.New("provider not enabled")
	// ErrInvalidToken: the ID token did not verify.
	ErrInvalidToken = errors.New("invalid ID token")
	// ErrTokenReplayed: the ID token verified but was accepted before. It is an ErrInvalidToken.
	ErrTokenReplayed = fmt.Errorf("%w: already used", ErrInvalidToken)
	// ErrKeysUnavailable: the provider's JWKS could not be fetched.
	ErrKeysUnavailable = errors.New("provider keys unavailable")
)
