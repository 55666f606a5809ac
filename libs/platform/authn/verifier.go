package authn

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/mongo"
)

// Defaults of the Verifier's timing.
const (
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway = 30 * time.Second
	// DefaultRefetchInterval is the least time between two JWKS fetches caused by unknown kids, so a
	// stream of forged kids cannot turn every request into a fetch.
	DefaultRefetchInterval = 30 * time.Second
	// DefaultRefreshInterval is how old the cached JWKS may get before it is refreshed in the background
	// (the session service serves it with max-age=300).
	DefaultRefreshInterval = 5 * time.Minute

	// DefaultCacheSize is how many verified tokens a Verifier remembers. A client sends the same access
	// token with every request for its whole lifetime, so most verifications are repeats; remembering
	// them spares an Ed25519 verification and the JSON decoding of the token each time.
	DefaultCacheSize = 10000

	// failedFetchRetry is how long requests wait before retrying a first fetch that failed; until one
	// succeeds there is nothing to verify with.
	failedFetchRetry = time.Second
	fetchTimeout     = 5 * time.Second
	maxJWKSBytes     = 1 << 20
	// maxTokenBytes refuses absurd tokens before any decoding; Latchkey's tokens are about 400 bytes.
	maxTokenBytes = 8 << 10
)

// Errors returned by Verify. Every problem with the token itself wraps ErrInvalidToken; a token that
// cannot be checked because no keys could be fetched wraps ErrKeysUnavailable.
var (
	ErrInvalidToken    = errors.New("invalid access token")
	ErrKeysUnavailable = errors.New("token signing keys unavailable")
)

// Principal is who a request speaks for: the account of an access token (SessionID and TokenID set)
// or of an API key (APIKeyID and Scopes set).
type Principal struct {
	AccountID string
	SessionID string
	TokenID   string
	ExpiresAt time.Time // zero for an API key that never expires
	// APIKeyID is the id of the API key the request came with; empty for an access token.
	APIKeyID string
	// APIKeyCreatedAt is when that key was created (zero when unknown).
	APIKeyCreatedAt time.Time
	// Scopes are the API key's scopes (zero for an access token, which is not scoped).
	Scopes Scope

	// AMR, ACR and AuthTime are how the access token's session was authenticated, from its amr
	// (RFC 8176 method references: pwd, otp, sms, hwk, swk, user, fed, mfa), acr (ACRSingleFactor,
	// ACRMultiFactor, ACRHardwareKey) and auth_time claims. A refresh keeps them: AuthTime is the
	// sign-in, not the token's issue. Empty and zero for an API key, and for a token that lacks them
	// (none satisfies RequireAssurance).
	AMR      []string
	ACR      string
	AuthTime time.Time
}

// IsAPIKey reports whether the principal was authenticated by an API key rather than a sign-in.
func (p Principal) IsAPIKey() bool { return p.APIKeyID != "" }

// VerifierConfig configures a Verifier. JWKSURL, Issuer and Audience are required.
type VerifierConfig struct {
	JWKSURL    string
	Issuer     string
	Audience   string
	HTTPClient *http.Client // default: a client with a 5s timeout
	Logger     *slog.Logger // default: slog.Default()

	// Source, when set, replaces fetching JWKSURL: the session service verifies its own tokens against
	// its key ring this way instead of calling itself over HTTP.
	Source func(ctx context.Context) (JWKSet, error)
	// RefetchInterval overrides DefaultRefetchInterval (tests shorten it).
	RefetchInterval time.Duration
	// RefreshInterval overrides DefaultRefreshInterval.
	RefreshInterval time.Duration
	// CacheSize is how many verified tokens are remembered (default DefaultCacheSize; negative turns
	// the cache off).
	CacheSize int

	// APIKeys, when set, makes Middleware accept API keys (Authorization: Bearer lk_... or
	// X-API-Key): NewAPIKeyClient(IDENTITY_INTERNAL_URL, INTERNAL_API_TOKEN, nil) in every service but
	// identity, which passes its own lookup. Without it, API keys are refused like bad tokens.
	APIKeys APIKeyLookup
	// APIKeyCacheTTL overrides DefaultAPIKeyCacheTTL (at most two minutes).
	APIKeyCacheTTL time.Duration
	// APIKeyRatePerMinute is each key's request budget on this replica (default
	// DefaultAPIKeyRatePerMinute), with a burst of a tenth of it.
	APIKeyRatePerMinute int
	// APIKeyLimitDB, when set, makes the replicas share each key's budget through its
	// APIKeyRateCollection (the service's own database); the service then runs
	// Verifier.ShareAPIKeyLimits as a background worker. See apikeylimit.go.
	APIKeyLimitDB *mongo.Database
}

// Verifier checks access tokens against the session service's published keys. It is safe for
// concurrent use and makes no network call on the request path once its keys are cached.
type Verifier struct {
	cfg    VerifierConfig
	log    *slog.Logger
	parser *jwt.Parser

	keys       atomic.Pointer[keySet]
	refreshing atomic.Bool

	fetchMu     sync.Mutex // one fetch at a time; guards lastAttempt
	lastAttempt time.Time

	cache *verifiedCache // nil when disabled

	keyCache *apiKeyCache
	limiter  *rateLimiter
	shared   *sharedLimiter // nil unless APIKeyLimitDB
}

type keySet struct {
	keys      map[string]ed25519.PublicKey
	fetchedAt time.Time
}

// NewVerifier returns a Verifier; keys are fetched on first use.
func NewVerifier(cfg VerifierConfig) *Verifier {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: fetchTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = DefaultRefetchInterval
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	var cache *verifiedCache
	if cfg.CacheSize > 0 {
		cache = &verifiedCache{max: cfg.CacheSize, m: make(map[string]Principal)}
	}
	if cfg.APIKeyCacheTTL <= 0 {
		cfg.APIKeyCacheTTL = DefaultAPIKeyCacheTTL
	}
	cfg.APIKeyCacheTTL = min(cfg.APIKeyCacheTTL, maxAPIKeyCacheTTL)
	var shared *sharedLimiter
	if cfg.APIKeyLimitDB != nil {
		shared = newSharedLimiter(cfg.APIKeyLimitDB, cfg.APIKeyRatePerMinute, cfg.Logger)
	}
	return &Verifier{
		shared:   shared,
		keyCache: newAPIKeyCache(DefaultCacheSize),
		limiter:  newRateLimiter(cfg.APIKeyRatePerMinute),
		cache:    cache,
		cfg:      cfg,
		log:      cfg.Logger,
		// The parser is immutable after construction and shared by all requests. The algorithm
		// allow-list is checked before the key function runs, so "none" and HS256 never reach a key.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{Algorithm}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(Leeway),
			jwt.WithIssuedAt(),
			jwt.WithExpirationRequired(),
		),
	}
}

// claims are the access-token claims Latchkey issues; Validate adds the checks jwt does not know.
type claims struct {
	jwt.RegisteredClaims
	SessionID string           `json:"sid"`
	AMR       []string         `json:"amr,omitempty"`
	ACR       string           `json:"acr,omitempty"`
	AuthTime  *jwt.NumericDate `json:"auth_time,omitempty"`
}

// Validate requires the subject and session id every Latchkey token carries.
func (c *claims) Validate() error {
	if c.Subject == "" {
		return errors.New("token has no sub")
	}
	if c.SessionID == "" {
		return errors.New("token has no sid")
	}
	if c.IssuedAt == nil {
		return errors.New("token has no iat")
	}
	return nil
}

// Verify checks raw (a compact JWS) and returns the principal it names. Errors wrap ErrInvalidToken or
// ErrKeysUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if raw == "" || len(raw) > maxTokenBytes {
		return Principal{}, fmt.Errorf("%w: empty or oversized", ErrInvalidToken)
	}
	if p, ok := v.cache.get(raw, time.Now()); ok {
		return p, nil
	}
	var c claims
	_, err := v.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		// Defence in depth: the parser already enforced the allow-list.
		if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
			return nil, fmt.Errorf("unexpected signing method %s", t.Method.Alg())
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		return v.key(ctx, kid)
	})
	if err != nil {
		if errors.Is(err, ErrKeysUnavailable) {
			return Principal{}, err
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	p := Principal{
		AccountID: c.Subject,
		SessionID: c.SessionID,
		TokenID:   c.ID,
		ExpiresAt: c.ExpiresAt.Time,
		AMR:       c.AMR,
		ACR:       c.ACR,
	}
	if c.AuthTime != nil {
		p.AuthTime = c.AuthTime.Time
	}
	v.cache.put(raw, p)
	return p, nil
}

// key returns the public key named kid, fetching the JWKS when it is not cached yet or kid is unknown.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	ks := v.keys.Load()
	if ks != nil {
		if k, ok := ks.keys[kid]; ok {
			if time.Since(ks.fetchedAt) > v.cfg.RefreshInterval {
				v.refreshInBackground()
			}
			return k, nil
		}
	}
	ks, err := v.refetch(ctx, ks)
	if ks == nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	if k, ok := ks.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// refetch fetches the JWKS unless another caller did so since seen was loaded or the last attempt is
// too recent. It returns the newest key set it has (nil when there has never been one).
func (v *Verifier) refetch(ctx context.Context, seen *keySet) (*keySet, error) {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if cur := v.keys.Load(); cur != seen {
		return cur, nil // refreshed while we waited for the lock
	}
	gap := v.cfg.RefetchInterval
	if seen == nil {
		gap = failedFetchRetry
	}
	if !v.lastAttempt.IsZero() && time.Since(v.lastAttempt) < gap {
		return seen, errors.New("jwks fetched too recently")
	}
	return v.fetchLocked(ctx)
}

// Refresh fetches the JWKS now. Services may call it at start-up to warm the cache; Verify never needs it.
func (v *Verifier) Refresh(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	_, err := v.fetchLocked(ctx)
	return err
}

func (v *Verifier) refreshInBackground() {
	if !v.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer v.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		_ = v.Refresh(ctx)
	}()
}

// fetchLocked fetches and installs the key set; on failure the cached set (if any) stays in use.
func (v *Verifier) fetchLocked(ctx context.Context) (*keySet, error) {
	v.lastAttempt = time.Now()
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := v.fetch(ctx)
	if err != nil {
		cached := v.keys.Load()
		v.log.WarnContext(ctx, "jwks fetch failed", "url", v.cfg.JWKSURL, "err", err, "cached", cached != nil)
		return cached, err
	}
	ks := &keySet{keys: keys, fetchedAt: time.Now()}
	if old := v.keys.Swap(ks); old != nil && !sameKeys(old.keys, keys) {
		// A key may have been withdrawn (compromised): tokens it verified must be checked again.
		v.cache.clear()
	}
	return ks, nil
}

func sameKeys(a, b map[string]ed25519.PublicKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid, k := range a {
		if other, ok := b[kid]; !ok || !k.Equal(other) {
			return false
		}
	}
	return true
}

// verifiedCache remembers the principals of tokens that verified, by the exact token text, until the
// tokens expire. Only a byte-identical token hits, so a forged or altered token is always verified.
type verifiedCache struct {
	mu  sync.RWMutex
	m   map[string]Principal
	max int
}

func (c *verifiedCache) get(raw string, now time.Time) (Principal, bool) {
	if c == nil {
		return Principal{}, false
	}
	c.mu.RLock()
	p, ok := c.m[raw]
	c.mu.RUnlock()
	if !ok || !now.Before(p.ExpiresAt.Add(Leeway)) {
		return Principal{}, false
	}
	return p, true
}

func (c *verifiedCache) put(raw string, p Principal) {
	if c == nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Full: drop expired tokens, and then, if that was not enough, an arbitrary tenth.
		for k, old := range c.m {
			if !now.Before(old.ExpiresAt.Add(Leeway)) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max-c.max/10 {
				break
			}
			delete(c.m, k)
		}
	}
	// The key is copied: raw may point into a request buffer that the HTTP server reuses.
	c.m[strings.Clone(raw)] = p
}

func (c *verifiedCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

func (v *Verifier) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	if v.cfg.Source != nil {
		set, err := v.cfg.Source(ctx)
		if err != nil {
			return nil, fmt.Errorf("read key source: %w", err)
		}
		return set.Ed25519Keys()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))
		return nil, fmt.Errorf("get jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("read jwks: %w", err)
	}
	return ParseJWKS(body)
}
