package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verification limits.
const (
	// Leeway tolerates clock skew on exp, iat and nbf.
	Leeway = time.Minute
	// KeysMaxAge is how long fetched keys are used before they are fetched again.
	KeysMaxAge = time.Hour
	// RefetchInterval is the shortest time between two fetches caused by unknown kids, so forged kids
	// cannot make us hammer the provider.
	RefetchInterval = 10 * time.Second
	maxTokenBytes   = 16 << 10
	maxJWKSBytes    = 1 << 20
)

// ProviderConfig says how to verify one provider's ID tokens.
type ProviderConfig struct {
	Name      string   // lower-case provider name
	Issuers   []string // accepted iss values
	JWKSURL   string
	ClientIDs []string // accepted aud values; the provider is disabled when empty
}

// Enabled reports whether the provider can be used.
func (c ProviderConfig) Enabled() bool {
	return len(c.ClientIDs) > 0 && len(c.Issuers) > 0 && c.JWKSURL != ""
}

// Verifier verifies ID tokens of the configured providers. It is safe for concurrent use.
type Verifier struct {
	client    *http.Client
	providers map[string]*providerKeys
	now       func() time.Time
}

type providerKeys struct {
	cfg         ProviderConfig
	mu          sync.Mutex
	keys        map[string]crypto.PublicKey
	fetchedAt   time.Time
	lastAttempt time.Time
}

// NewVerifier returns a Verifier for the enabled providers among cfgs. client may be nil (a client
// with a 5 s timeout).
func NewVerifier(cfgs []ProviderConfig, client *http.Client) *Verifier {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	v := &Verifier{client: client, providers: map[string]*providerKeys{}, now: time.Now}
	for _, c := range cfgs {
		if c.Enabled() {
			v.providers[c.Name] = &providerKeys{cfg: c}
		}
	}
	return v
}

// Enabled reports whether provider is configured.
func (v *Verifier) Enabled(provider string) bool {
	_, ok := v.providers[provider]
	return ok
}

type idClaims struct {
	jwt.RegisteredClaims
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"` // Apple sends "true"/"false" strings
	Nonce         string `json:"nonce"`
}

// Verify checks raw, an ID token from provider, and returns the identity it asserts. The token's
// nonce claim and nonce must be equal (both may be absent): a client that asked for a nonce sends it
// back, and a token issued for a nonce is useless to whoever captured it without. Errors wrap ErrProviderDisabled, ErrInvalidToken or
// ErrKeysUnavailable.
func (v *Verifier) Verify(ctx context.Context, provider, raw, nonce string) (Identity, error) {
	pk, ok := v.providers[provider]
	if !ok {
		return Identity{}, ErrProviderDisabled
	}
	if raw == "" || len(raw) > maxTokenBytes {
		return Identity{}, fmt.Errorf("%w: empty or oversized", ErrInvalidToken)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "ES256"}),
		jwt.WithLeeway(Leeway),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(v.now),
	)
	var c idClaims
	_, err := parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		key, err := pk.key(ctx, v, kid)
		if err != nil {
			return nil, err
		}
		// Key confusion: the key's type must match the algorithm.
		switch key.(type) {
		case *rsa.PublicKey:
			if _, ok := t.Method.(*jwt.SigningMethodRSA); !ok {
				return nil, errors.New("algorithm does not match the key")
			}
		case *ecdsa.PublicKey:
			if _, ok := t.Method.(*jwt.SigningMethodECDSA); !ok {
				return nil, errors.New("algorithm does not match the key")
			}
		}
		return key, nil
	})
	if err != nil {
		if errors.Is(err, ErrKeysUnavailable) {
			return Identity{}, err
		}
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if !slices.Contains(pk.cfg.Issuers, c.Issuer) {
		return Identity{}, fmt.Errorf("%w: issuer %q not accepted", ErrInvalidToken, c.Issuer)
	}
	audOK := false
	for _, a := range c.Audience {
		if slices.Contains(pk.cfg.ClientIDs, a) {
			audOK = true
		}
	}
	if !audOK {
		return Identity{}, fmt.Errorf("%w: audience not accepted", ErrInvalidToken)
	}
	if c.Subject == "" || len(c.Subject) > 255 {
		return Identity{}, fmt.Errorf("%w: no usable sub", ErrInvalidToken)
	}
	if (nonce != "" || c.Nonce != "") && subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: nonce mismatch", ErrInvalidToken)
	}
	// The signature segment is malleable (ECDSA's s and n-s, base64 padding bits); the signed part
	// is not, so it names the token.
	signed := raw[:strings.LastIndexByte(raw, '.')]
	sum := sha256.Sum256([]byte(signed))
	id := Identity{Provider: provider, Subject: c.Subject, Email: strings.ToLower(strings.TrimSpace(c.Email)),
		TokenKey: hex.EncodeToString(sum[:]), ExpiresAt: c.ExpiresAt.Time.Add(Leeway)}
	switch ev := c.EmailVerified.(type) {
	case bool:
		id.EmailVerified = ev
	case string:
		id.EmailVerified = ev == "true"
	}
	return id, nil
}

// key returns the provider key named kid, fetching the JWKS when none is cached, the cache is old,
// or kid is unknown (at most once per RefetchInterval).
func (p *providerKeys) key(ctx context.Context, v *Verifier, kid string) (crypto.PublicKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := v.now()
	if k, ok := p.keys[kid]; ok && now.Sub(p.fetchedAt) < KeysMaxAge {
		return k, nil
	}
	if p.keys == nil || now.Sub(p.fetchedAt) >= KeysMaxAge || now.Sub(p.lastAttempt) >= RefetchInterval {
		p.lastAttempt = now
		keys, err := v.fetch(ctx, p.cfg.JWKSURL)
		if err != nil {
			if p.keys == nil {
				return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
			}
			// Keep using the old keys while the provider is unreachable.
		} else {
			p.keys, p.fetchedAt = keys, now
		}
	}
	if k, ok := p.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (v *Verifier) fetch(ctx context.Context, url string) (map[string]crypto.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if pub, err := k.publicKey(); err == nil {
			keys[k.Kid] = pub
		}
	}
	return keys, nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	dec := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "RSA":
		n, err1 := dec(k.N)
		e, err2 := dec(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		exp := new(big.Int).SetBytes(e)
		if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31 || len(n) < 256 {
			return nil, errors.New("unusable RSA key")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, errors.New("unsupported curve")
		}
		x, err1 := dec(k.X)
		y, err2 := dec(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !pub.Curve.IsOnCurve(pub.X, pub.Y) { //nolint:staticcheck // validating an untrusted point
			return nil, errors.New("point not on curve")
		}
		return pub, nil
	}
	return nil, errors.New("unsupported key type")
}
