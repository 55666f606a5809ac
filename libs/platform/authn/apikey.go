package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

// API keys are the second way to authenticate (docs/architecture.md, "API keys"). A key reads
//
//	lk_live_<40 base62 characters of randomness><6 base62 characters of CRC32 checksum>
//
// (lk_test_ in test deployments): the prefix lets secret scanners and this package recognise a key
// without a lookup, and the checksum catches typos and random strings before any network call.
const (
	// APIKeyPrefixLive and APIKeyPrefixTest start every API key.
	APIKeyPrefixLive = "lk_live_"
	APIKeyPrefixTest = "lk_test_"
	// apiKeyFamily is what every key prefix starts with; a credential starting with it is treated as
	// an API key (and refused as malformed when it is not a well-formed one), never as a JWT.
	apiKeyFamily = "lk_"
	// APIKeyRandomLen is the number of random base62 characters (≈238 bits).
	APIKeyRandomLen = 40
	// apiKeyChecksumLen is the base62 length of a CRC32 (62^6 > 2^32).
	apiKeyChecksumLen = 6
	// APIKeyLen is the length of a whole key.
	APIKeyLen = len(APIKeyPrefixLive) + APIKeyRandomLen + apiKeyChecksumLen
)

// HeaderAPIKey is the header that may carry an API key instead of Authorization.
const HeaderAPIKey = "X-API-Key"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors of API-key verification. An unknown, revoked or expired key, or one of an account that may
// not sign in, wraps ErrInvalidToken like a bad access token; a key that cannot be checked because
// identity does not answer wraps ErrAPIKeysUnavailable.
var (
	ErrAPIKeysUnavailable = errors.New("api key verification unavailable")
	// ErrUnknownAPIKey is what an APIKeyLookup returns for a key identity does not accept.
	ErrUnknownAPIKey = errors.New("unknown, revoked or expired api key")
)

// APIKeyChecksum returns the checksum that ends a key whose prefix and random part are body: the
// CRC32 (IEEE) of body in base62, left-padded with zeros to six characters.
func APIKeyChecksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	var out [apiKeyChecksumLen]byte
	for i := apiKeyChecksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out[:])
}

// IsAPIKeyShaped reports whether a credential claims to be an API key (it starts with "lk_"). Such a
// credential is verified as an API key only, and refused if malformed.
func IsAPIKeyShaped(raw string) bool { return strings.HasPrefix(raw, apiKeyFamily) }

// WellFormedAPIKey reports whether raw has a key prefix, the right length, only base62 characters and
// a matching checksum. It needs no lookup.
func WellFormedAPIKey(raw string) bool {
	if len(raw) != APIKeyLen || !(strings.HasPrefix(raw, APIKeyPrefixLive) || strings.HasPrefix(raw, APIKeyPrefixTest)) {
		return false
	}
	rest := raw[len(APIKeyPrefixLive):]
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(base62, rest[i]) < 0 {
			return false
		}
	}
	cut := len(raw) - apiKeyChecksumLen
	return APIKeyChecksum(raw[:cut]) == raw[cut:]
}

// Scope is a set of API-key permissions. Keys of access tokens have no scopes: a signed-in user may
// do everything the routes allow.
type Scope uint8

// Scopes an API key may hold.
const (
	// ScopeRead allows safe methods (GET, HEAD, OPTIONS).
	ScopeRead Scope = 1 << iota
	// ScopeWrite allows every other method.
	ScopeWrite
)

var scopeNames = []struct {
	s    Scope
	name string
}{{ScopeRead, "read"}, {ScopeWrite, "write"}}

// ParseScopes turns scope names ("read", "write") into a Scope; an unknown name is an error.
func ParseScopes(names []string) (Scope, error) {
	var s Scope
	for _, n := range names {
		found := false
		for _, sn := range scopeNames {
			if n == sn.name {
				s |= sn.s
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown scope %q", n)
		}
	}
	return s, nil
}

// Has reports whether s includes every scope of x.
func (s Scope) Has(x Scope) bool { return s&x == x }

// Names returns the scope names of s in a fixed order.
func (s Scope) Names() []string {
	out := []string{}
	for _, sn := range scopeNames {
		if s.Has(sn.s) {
			out = append(out, sn.name)
		}
	}
	return out
}

// APIKeyInfo is what identity says about a valid key.
type APIKeyInfo struct {
	KeyID     string
	AccountID string
	Scopes    Scope
	ExpiresAt time.Time // zero: never expires (identity gives every key an expiry)
	// CreatedAt lets the deny-list refuse the keys an account had when all of them were revoked
	// while accepting the ones created after; zero (an older identity) counts as before.
	CreatedAt time.Time
}

// APIKeyLookup asks identity about a well-formed key: the key's details, an error wrapping
// ErrUnknownAPIKey when it is not (or no longer) valid, or any other error when identity cannot answer.
// Identity passes its own function; every other service uses NewAPIKeyClient.
type APIKeyLookup func(ctx context.Context, key string) (APIKeyInfo, error)

// VerifyAPIKeyRequest and VerifyAPIKeyResponse are the bodies of identity's
// POST /internal/v1/api-keys/verify (docs/architecture.md). An unacceptable key answers 404
// {"error": "invalid_api_key"}.
type VerifyAPIKeyRequest struct {
	Key string `json:"key"`
}

// VerifyAPIKeyResponse is the 200 answer of POST /internal/v1/api-keys/verify.
type VerifyAPIKeyResponse struct {
	KeyID     string     `json:"keyId"`
	AccountID string     `json:"accountId"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expiresAt"`
	CreatedAt *time.Time `json:"createdAt,omitempty"`
}

// NewAPIKeyClient returns an APIKeyLookup calling identity's internal API at baseURL (e.g.
// http://identity:9081) with the shared internal token. hc nil means a client with a 5s timeout.
func NewAPIKeyClient(baseURL, internalToken string, hc *http.Client) APIKeyLookup {
	if hc == nil {
		hc = &http.Client{Timeout: fetchTimeout}
	}
	url := strings.TrimRight(baseURL, "/") + "/internal/v1/api-keys/verify"
	return func(ctx context.Context, key string) (APIKeyInfo, error) {
		body, err := json.Marshal(VerifyAPIKeyRequest{Key: key})
		if err != nil {
			return APIKeyInfo{}, fmt.Errorf("encode api key verification: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return APIKeyInfo{}, fmt.Errorf("api key verification request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+internalToken)
		resp, err := hc.Do(req)
		if err != nil {
			return APIKeyInfo{}, fmt.Errorf("verify api key: %w", err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return APIKeyInfo{}, fmt.Errorf("read api key verification: %w", err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			return APIKeyInfo{}, ErrUnknownAPIKey
		default:
			return APIKeyInfo{}, fmt.Errorf("verify api key: status %d", resp.StatusCode)
		}
		var out VerifyAPIKeyResponse
		if err := json.Unmarshal(raw, &out); err != nil {
			return APIKeyInfo{}, fmt.Errorf("decode api key verification: %w", err)
		}
		scopes, err := ParseScopes(out.Scopes)
		if err != nil || out.KeyID == "" || out.AccountID == "" {
			return APIKeyInfo{}, fmt.Errorf("api key verification answer incomplete (scopes %v): %w", out.Scopes, err)
		}
		info := APIKeyInfo{KeyID: out.KeyID, AccountID: out.AccountID, Scopes: scopes}
		if out.ExpiresAt != nil {
			info.ExpiresAt = *out.ExpiresAt
		}
		if out.CreatedAt != nil {
			info.CreatedAt = *out.CreatedAt
		}
		return info, nil
	}
}

// Defaults of API-key verification.
const (
	// DefaultAPIKeyCacheTTL is how long a verified key is trusted without asking identity again. It
	// bounds how stale a service can be if a revocation event never arrives; revocations normally
	// reach every service through Kafka within a second (see DenyList).
	DefaultAPIKeyCacheTTL = 30 * time.Second
	// maxAPIKeyCacheTTL keeps the cache well inside APIKeyDenyWindow.
	maxAPIKeyCacheTTL = 2 * time.Minute
	// apiKeyNegativeTTL is how long a refused key is refused without asking identity again. A key
	// can never become valid after being refused (keys are unguessable and shown only when created).
	apiKeyNegativeTTL = time.Minute
	// DefaultAPIKeyRatePerMinute is each key's request budget per service: per replica, and for all
	// replicas together when they share it (VerifierConfig.APIKeyLimitDB).
	DefaultAPIKeyRatePerMinute = 600
)

// apiKeyCache remembers identity's answers by the SHA-256 of the key, bounded in size.
type apiKeyCache struct {
	mu  sync.Mutex
	m   map[[32]byte]apiKeyEntry
	max int
}

type apiKeyEntry struct {
	info  APIKeyInfo
	valid bool
	until time.Time
}

func newAPIKeyCache(max int) *apiKeyCache {
	return &apiKeyCache{m: make(map[[32]byte]apiKeyEntry), max: max}
}

func (c *apiKeyCache) get(h [32]byte, now time.Time) (apiKeyEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	if !ok || !now.Before(e.until) {
		return apiKeyEntry{}, false
	}
	return e, true
}

func (c *apiKeyCache) put(h [32]byte, e apiKeyEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, old := range c.m {
			if !now.Before(old.until) {
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
	c.m[h] = e
}

// forget drops the cached answer about a key.
func (c *apiKeyCache) forget(h [32]byte) {
	c.mu.Lock()
	delete(c.m, h)
	c.mu.Unlock()
}

// VerifyAPIKey checks an API key: its format locally, then identity's answer (cached). It returns
// the principal the key acts as: its owner, with APIKeyID and Scopes set. Errors wrap ErrInvalidToken
// or ErrAPIKeysUnavailable. The deny-list (revocations) is the Middleware's business.
func (v *Verifier) VerifyAPIKey(ctx context.Context, raw string) (Principal, error) {
	if !WellFormedAPIKey(raw) {
		return Principal{}, fmt.Errorf("%w: malformed api key", ErrInvalidToken)
	}
	if v.cfg.APIKeys == nil {
		return Principal{}, fmt.Errorf("%w: api keys are not accepted here", ErrInvalidToken)
	}
	h := sha256.Sum256([]byte(raw))
	now := time.Now()
	e, ok := v.keyCache.get(h, now)
	if !ok {
		info, err := v.cfg.APIKeys(ctx, raw)
		switch {
		case errors.Is(err, ErrUnknownAPIKey):
			e = apiKeyEntry{until: now.Add(apiKeyNegativeTTL)}
		case err != nil:
			return Principal{}, fmt.Errorf("%w: %w", ErrAPIKeysUnavailable, err)
		default:
			until := now.Add(v.cfg.APIKeyCacheTTL)
			if !info.ExpiresAt.IsZero() && info.ExpiresAt.Before(until) {
				until = info.ExpiresAt
			}
			e = apiKeyEntry{info: info, valid: true, until: until}
		}
		v.keyCache.put(h, e, now)
	}
	if !e.valid {
		return Principal{}, fmt.Errorf("%w: api key refused by identity", ErrInvalidToken)
	}
	if !e.info.ExpiresAt.IsZero() && !now.Before(e.info.ExpiresAt) {
		return Principal{}, fmt.Errorf("%w: api key expired", ErrInvalidToken)
	}
	return Principal{
		AccountID:       e.info.AccountID,
		APIKeyID:        e.info.KeyID,
		Scopes:          e.info.Scopes,
		ExpiresAt:       e.info.ExpiresAt,
		APIKeyCreatedAt: e.info.CreatedAt,
	}, nil
}

// ForgetAPIKey drops the cached answer about a key (the key itself, not its id), so that its next use
// asks identity again.
func (v *Verifier) ForgetAPIKey(raw string) { v.keyCache.forget(sha256.Sum256([]byte(raw))) }

// rateLimiter is a per-key GCRA limiter (a token bucket without a timer): each request advances the
// key's theoretical arrival time by interval; a request that would put it more than burst intervals
// ahead of now is refused.
type rateLimiter struct {
	mu        sync.Mutex
	interval  time.Duration
	tolerance time.Duration
	tat       map[string]time.Time
	lastSweep time.Time
}

func newRateLimiter(perMinute int) *rateLimiter {
	if perMinute <= 0 {
		perMinute = DefaultAPIKeyRatePerMinute
	}
	interval := time.Minute / time.Duration(perMinute)
	burst := max(perMinute/10, 1)
	return &rateLimiter{interval: interval, tolerance: interval * time.Duration(burst-1), tat: make(map[string]time.Time), lastSweep: time.Now()}
}

// status describes a refused key for the X-RateLimit-* headers: the burst, and the whole allowance
// back once the key's arrival time (wait + tolerance ahead) has passed.
func (r *rateLimiter) status(wait time.Duration) wire.RateLimit {
	return wire.RateLimit{Limit: int(r.tolerance/r.interval) + 1, Reset: wait + r.tolerance}
}

// allow reports whether the key may make a request now, and otherwise how long to wait.
func (r *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) >= time.Minute {
		r.lastSweep = now
		for k, t := range r.tat {
			if t.Before(now) {
				delete(r.tat, k)
			}
		}
	}
	tat := r.tat[key]
	if tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > r.tolerance {
		return false, ahead - r.tolerance
	}
	r.tat[key] = tat.Add(r.interval)
	return true, 0
}

// undo gives back the interval a request that was then refused elsewhere (the shared limit) took.
func (r *rateLimiter) undo(key string) {
	r.mu.Lock()
	if tat, ok := r.tat[key]; ok {
		r.tat[key] = tat.Add(-r.interval)
	}
	r.mu.Unlock()
}
