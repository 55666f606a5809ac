package token

import (
	"context"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

// Issuer signs access tokens.
type Issuer struct {
	keys     *Keyring
	issuer   string
	audience string
	ttl      time.Duration
}

// IssuerConfig configures an Issuer: the iss and aud claims every service checks, and the token
// lifetime (ACCESS_TOKEN_TTL).
type IssuerConfig struct {
	Issuer   string
	Audience string
	TTL      time.Duration
}

// NewIssuer returns an Issuer signing with the keyring's newest key.
func NewIssuer(keys *Keyring, cfg IssuerConfig) *Issuer {
	return &Issuer{keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, ttl: cfg.TTL}
}

// TTL is the lifetime of the tokens the Issuer signs.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// claims are the access-token claims authn.Verifier reads. amr, acr and auth_time say how the session
// was authenticated (OpenID Connect Core §2, RFC 8176); amr is left out when the session has none
// (sessions started before they were recorded).
type claims struct {
	jwt.RegisteredClaims
	SessionID string           `json:"sid"`
	AMR       []string         `json:"amr,omitempty"`
	ACR       string           `json:"acr,omitempty"`
	AuthTime  *jwt.NumericDate `json:"auth_time,omitempty"`
}

// Issue signs an access token for the account's session, with the session's assurance, and returns
// it with its expiry.
func (i *Issuer) Issue(_ context.Context, accountID, sessionID string, a session.Assurance) (string, time.Time, error) {
	now := time.Now()
	exp := now.Add(i.ttl)
	key := i.keys.Signer()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Audience:  jwt.ClaimStrings{i.audience},
			Subject:   accountID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        uuid.NewString(),
		},
		SessionID: sessionID,
		AMR:       a.AMR,
		ACR:       a.ACR,
	}
	if !a.AuthTime.IsZero() {
		c.AuthTime = jwt.NewNumericDate(a.AuthTime)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = key.ID
	raw, err := tok.SignedString(key.Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	// NumericDate has whole seconds: report the expiry the token carries.
	return raw, time.Unix(exp.Unix(), 0).UTC(), nil
}
