// Package authntest issues access tokens for tests the way the session service
// does (EdDSA, kid in the header, iss/aud/sub/sid/iat/nbf/exp/jti) and serves their public key as a
// JWKS over HTTP, so tests exercise the real authn.Verifier (WithAssurance adds amr, acr and
// auth_time); APIKeys issues API keys and answers for them as identity's verification API does.
package authntest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
)

// Issuer and Audience are the claims the tokens carry (the services' defaults: the issuer is the local
// stack's gateway URL, config.DefaultIssuer).
const (
	Issuer   = config.DefaultIssuer
	Audience = "latchkey"
)

// Keys is a signing key and the JWKS server that publishes it.
type Keys struct {
	// JWKSURL is where the public key is served.
	JWKSURL string
	kid     string
	priv    ed25519.PrivateKey
}

// New generates a key and serves it until the test ends.
func New(t testing.TB) *Keys {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &Keys{kid: "test-" + rand.Text()[:8], priv: priv}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(authn.JWKSet{Keys: []authn.JWK{authn.NewJWK(k.kid, pub)}})
	}))
	t.Cleanup(srv.Close)
	k.JWKSURL = srv.URL + "/.well-known/jwks.json"
	return k
}

// Token returns a signed access token for the account and session, valid for 15 minutes; change, if
// not nil, edits the claims before signing.
func (k *Keys) Token(t testing.TB, accountID, sessionID string, change func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": Issuer, "aud": Audience, "sub": accountID, "sid": sessionID, "jti": "tok-" + rand.Text()[:10],
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	}
	if change != nil {
		change(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = k.kid
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// APIKeys stands in for identity's API-key lookup in handler tests of other services: Issue makes a
// well-formed key for an account, and Lookup (an authn.APIKeyLookup, for VerifierConfig.APIKeys)
// answers for the keys issued and not revoked.
type APIKeys struct {
	mu   sync.Mutex
	keys map[string]authn.APIKeyInfo
}

// NewAPIKeys returns an empty key set.
func NewAPIKeys() *APIKeys { return &APIKeys{keys: make(map[string]authn.APIKeyInfo)} }

// Issue returns a new key of the account with the scopes, valid until Revoke.
func (k *APIKeys) Issue(t testing.TB, accountID string, scopes authn.Scope) string {
	t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, authn.APIKeyRandomLen)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = base62[int(b[i])%len(base62)]
	}
	body := authn.APIKeyPrefixTest + string(b)
	key := body + authn.APIKeyChecksum(body)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key] = authn.APIKeyInfo{KeyID: "key-" + rand.Text()[:10], AccountID: accountID, Scopes: scopes, CreatedAt: time.Now()}
	return key
}

// Revoke makes Lookup refuse the key from now on (a Verifier may still hold a cached answer).
func (k *APIKeys) Revoke(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, key)
}

// Lookup answers as identity's internal API does.
func (k *APIKeys) Lookup(_ context.Context, key string) (authn.APIKeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	info, ok := k.keys[key]
	if !ok {
		return authn.APIKeyInfo{}, authn.ErrUnknownAPIKey
	}
	return info, nil
}

// WithAssurance is a change for Token that says how the session was signed in: the amr, acr and
// auth_time claims the session service signs (for tests of routes behind authn.RequireAssurance).
func WithAssurance(amr []string, acr string, authTime time.Time) func(jwt.MapClaims) {
	return func(c jwt.MapClaims) {
		c["amr"], c["acr"], c["auth_time"] = amr, acr, authTime.Unix()
	}
}
