package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// ErrProviderAccountMismatch: the provider account the proof names is not the provider_account_id
// the client claimed. Nothing is linked or signed in.
var ErrProviderAccountMismatch = errors.New("provider account does not match the proof")

// AccessTokens proves who holds a provider's access token (see oauth.UserInfo).
type AccessTokens interface {
	VerifyAccessToken(ctx context.Context, provider, token string) (oauth.Identity, error)
}

// ProviderProof is what a client sends to prove it controls a provider account: an ID token (with
// its nonce, when one was asked for), or else an access token, which the provider's user-info
// endpoint resolves. AccountID, the provider_account_id the client claims, is never believed: when
// given it must equal the proven subject.
type ProviderProof struct {
	IDToken     string
	Nonce       string
	AccessToken string
	AccountID   string
}

// proveProvider verifies p and returns the provider account it proves. An accepted ID token is
// claimed (each serves once). oauth.ErrProviderDisabled when the proof's kind is not available for
// provider, oauth.ErrInvalidToken when it does not verify, ErrProviderAccountMismatch when it proves
// another account than p.AccountID.
func (s *Service) proveProvider(ctx context.Context, provider string, p ProviderProof) (oauth.Identity, error) {
	var (
		id  oauth.Identity
		err error
	)
	switch {
	case p.IDToken != "":
		id, err = s.IDTokens.Verify(ctx, provider, p.IDToken, p.Nonce)
	case p.AccessToken != "":
		if s.AccessTokens == nil {
			return oauth.Identity{}, oauth.ErrProviderDisabled
		}
		id, err = s.AccessTokens.VerifyAccessToken(ctx, provider, p.AccessToken)
	default:
		return oauth.Identity{}, fmt.Errorf("%w: no token", oauth.ErrInvalidToken)
	}
	if err != nil {
		return oauth.Identity{}, err
	}
	if p.AccountID != "" && subtle.ConstantTimeCompare([]byte(p.AccountID), []byte(id.Subject)) != 1 {
		return oauth.Identity{}, ErrProviderAccountMismatch
	}
	if id.TokenKey != "" {
		if err := s.Providers.ClaimIDToken(ctx, id, s.now()); err != nil { // each ID token serves once
			return oauth.Identity{}, err
		}
	}
	return id, nil
}
