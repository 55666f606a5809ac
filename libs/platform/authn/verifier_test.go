package authn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/libs/platform/authn"
)

const (
	testIssuer   = "https://accounts.example.com"
	testAudience = "latchkey"
)

// signingKey is a test key pair with its kid.
type signingKey struct {
	kid  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newKey(t testing.TB, kid string) signingKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, priv: priv, pub: pub}
}

// jwksServer serves a JWKS whose keys and status the test can change, and counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	keys   []signingKey
	status int
	hits   atomic.Int32
}

func newJWKSServer(t testing.TB, keys ...signingKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		var set authn.JWKSet
		for _, k := range s.keys {
			set.Keys = append(set.Keys, authn.NewJWK(k.kid, k.pub))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...signingKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
	if keys != nil {
		s.keys = keys
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newVerifier(s *jwksServer, tweak func(*authn.VerifierConfig)) *authn.Verifier {
	cfg := authn.VerifierConfig{JWKSURL: s.URL, Issuer: testIssuer, Audience: testAudience, Logger: quietLogger()}
	if tweak != nil {
		tweak(&cfg)
	}
	return authn.NewVerifier(cfg)
}

// validClaims are the claims the session service issues.
func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "acc-1", "sid": "sess-1", "jti": "tok-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	}
}

func sign(t testing.TB, k signingKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func with(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := validClaims()
	edit(c)
	return c
}

func TestVerify(t *testing.T) {
	key := newKey(t, "k1")
	other := newKey(t, "k1") // same kid, different key: a forger's guess
	srv := newJWKSServer(t, key)
	v := newVerifier(srv, nil)
	now := time.Now()

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	withHeader := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = "k1"
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	valid := sign(t, key, validClaims())
	parts := strings.Split(valid, ".")
	tamperedSig := parts[0] + "." + parts[1] + "." + flip(parts[2])
	forgedPayload := parts[0] + "." + sign2Payload(t, key, with(func(c jwt.MapClaims) { c["sub"] = "acc-2" })) + "." + parts[2]

	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"valid", valid, false},
		{"expired", sign(t, key, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), true},
		{"expired within leeway", sign(t, key, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() })), false},
		{"no exp", sign(t, key, with(func(c jwt.MapClaims) { delete(c, "exp") })), true},
		{"nbf in the future", sign(t, key, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), true},
		{"iat in the future", sign(t, key, with(func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() })), true},
		{"no iat", sign(t, key, with(func(c jwt.MapClaims) { delete(c, "iat") })), true},
		{"wrong issuer", sign(t, key, with(func(c jwt.MapClaims) { c["iss"] = "evil" })), true},
		{"no issuer", sign(t, key, with(func(c jwt.MapClaims) { delete(c, "iss") })), true},
		{"wrong audience", sign(t, key, with(func(c jwt.MapClaims) { c["aud"] = "other" })), true},
		{"audience list containing ours", sign(t, key, with(func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} })), false},
		{"no sid", sign(t, key, with(func(c jwt.MapClaims) { delete(c, "sid") })), true},
		{"no sub", sign(t, key, with(func(c jwt.MapClaims) { delete(c, "sub") })), true},
		{"no kid", sign(t, signingKey{priv: key.priv}, validClaims()), true},
		{"unknown kid", sign(t, signingKey{kid: "nope", priv: key.priv}, validClaims()), true},
		{"alg none", withHeader(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()), true},
		{"HS256 keyed with the public key", withHeader(jwt.SigningMethodHS256, []byte(key.pub), validClaims()), true},
		{"HS256 keyed with the JWK x", withHeader(jwt.SigningMethodHS256, []byte(authn.NewJWK("k1", key.pub).X), validClaims()), true},
		{"RS256", withHeader(jwt.SigningMethodRS256, rsaKey, validClaims()), true},
		{"signed by another key under our kid", sign(t, other, validClaims()), true},
		{"tampered signature", tamperedSig, true},
		{"tampered payload", forgedPayload, true},
		{"not a JWT", "abc.def", true},
		{"empty", "", true},
		{"oversized", strings.Repeat("a", 10<<10), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if tc.wantErr {
				if !errors.Is(err, authn.ErrInvalidToken) {
					t.Fatalf("err = %v, want ErrInvalidToken", err)
				}
				if !reflect.DeepEqual(p, authn.Principal{}) {
					t.Errorf("principal = %+v, want zero", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			want := authn.Principal{AccountID: "acc-1", SessionID: "sess-1", TokenID: "tok-1"}
			got := p
			got.ExpiresAt = time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("principal = %+v, want %+v", got, want)
			}
			if p.ExpiresAt.IsZero() {
				t.Error("ExpiresAt is zero")
			}
		})
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (unknown kids are rate-limited)", got)
	}
}

// flip changes one character in the middle of a base64url segment.
func flip(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// sign2Payload returns the payload segment of a token with other claims.
func sign2Payload(t *testing.T, k signingKey, c jwt.MapClaims) string {
	return strings.Split(sign(t, k, c), ".")[1]
}

func TestVerifyKeyRotation(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	srv := newJWKSServer(t, k1)
	v := newVerifier(srv, func(c *authn.VerifierConfig) { c.RefetchInterval = 20 * time.Millisecond })
	ctx := context.Background()

	if _, err := v.Verify(ctx, sign(t, k1, validClaims())); err != nil {
		t.Fatalf("k1 before rotation: %v", err)
	}
	time.Sleep(30 * time.Millisecond)
	if _, err := v.Verify(ctx, sign(t, k2, validClaims())); !errors.Is(err, authn.ErrInvalidToken) {
		t.Fatalf("k2 before it is published: err = %v, want ErrInvalidToken", err)
	}

	srv.set(http.StatusOK, k2, k1) // the session service rotates: k2 signs, k1 still verifies
	time.Sleep(30 * time.Millisecond)
	for _, k := range []signingKey{k2, k1} {
		if _, err := v.Verify(ctx, sign(t, k, validClaims())); err != nil {
			t.Errorf("%s after rotation: %v", k.kid, err)
		}
	}
	if got, want := srv.hits.Load(), int32(3); got != want {
		t.Errorf("JWKS fetched %d times, want %d", got, want)
	}
}

func TestVerifyFetchFailures(t *testing.T) {
	ctx := context.Background()

	t.Run("no cached keys", func(t *testing.T) {
		k := newKey(t, "k1")
		srv := newJWKSServer(t, k)
		srv.set(http.StatusInternalServerError)
		v := newVerifier(srv, nil)
		_, err := v.Verify(ctx, sign(t, k, validClaims()))
		if !errors.Is(err, authn.ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
		if errors.Is(err, authn.ErrInvalidToken) {
			t.Error("a fetch failure must not be reported as an invalid token")
		}
	})

	t.Run("cached keys outlive a failing JWKS", func(t *testing.T) {
		k := newKey(t, "k1")
		srv := newJWKSServer(t, k)
		v := newVerifier(srv, func(c *authn.VerifierConfig) {
			c.RefreshInterval = 10 * time.Millisecond
			c.RefetchInterval = 10 * time.Millisecond
		})
		if _, err := v.Verify(ctx, sign(t, k, validClaims())); err != nil {
			t.Fatal(err)
		}
		srv.set(http.StatusServiceUnavailable)
		for range 3 {
			time.Sleep(20 * time.Millisecond)
			if _, err := v.Verify(ctx, sign(t, k, validClaims())); err != nil {
				t.Fatalf("with a failing JWKS: %v, want the cached key to verify", err)
			}
			// an unknown kid makes a (failing) refetch and stays invalid, not unavailable
			if _, err := v.Verify(ctx, sign(t, newKey(t, "k9"), validClaims())); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("unknown kid with a failing JWKS: err = %v, want ErrInvalidToken", err)
			}
		}
		if got := srv.hits.Load(); got < 2 {
			t.Errorf("JWKS fetched %d times, want background refreshes", got)
		}
	})

	t.Run("malformed JWKS", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[{"kty":"RSA","kid":"k1","n":"abc","e":"AQAB"}]}`))
		}))
		t.Cleanup(srv.Close)
		v := authn.NewVerifier(authn.VerifierConfig{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience, Logger: quietLogger()})
		if _, err := v.Verify(ctx, sign(t, newKey(t, "k1"), validClaims())); !errors.Is(err, authn.ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
	})
}

func TestVerifyConcurrentFirstUseFetchesOnce(t *testing.T) {
	k := newKey(t, "k1")
	srv := newJWKSServer(t, k)
	v := newVerifier(srv, nil)
	tok := sign(t, k, validClaims())
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 50 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	if got := failures.Load(); got != 0 {
		t.Errorf("%d verifications failed, want 0", got)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
}

func TestVerifySource(t *testing.T) {
	k := newKey(t, "k1")
	v := authn.NewVerifier(authn.VerifierConfig{
		Issuer: testIssuer, Audience: testAudience, Logger: quietLogger(),
		Source: func(context.Context) (authn.JWKSet, error) {
			return authn.JWKSet{Keys: []authn.JWK{authn.NewJWK(k.kid, k.pub)}}, nil
		},
	})
	p, err := v.Verify(context.Background(), sign(t, k, validClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.AccountID, "acc-1"; got != want {
		t.Errorf("AccountID = %q, want %q", got, want)
	}
}

func TestVerifyWithdrawnKeyRefusesCachedTokens(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	srv := newJWKSServer(t, k1)
	v := newVerifier(srv, func(c *authn.VerifierConfig) { c.RefetchInterval = 10 * time.Millisecond })
	ctx := context.Background()
	old := sign(t, k1, validClaims())
	for range 2 { // the second time from the cache
		if _, err := v.Verify(ctx, old); err != nil {
			t.Fatal(err)
		}
	}

	srv.set(http.StatusOK, k2) // k1 withdrawn, e.g. after a leak
	time.Sleep(20 * time.Millisecond)
	if _, err := v.Verify(ctx, sign(t, k2, validClaims())); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := v.Verify(ctx, old); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("cached token of the withdrawn key: err = %v, want ErrInvalidToken", err)
	}
}

// BenchmarkVerify measures the common case: a client presenting the token it presented before.
func BenchmarkVerify(b *testing.B) { benchmarkVerify(b, 0) }

// BenchmarkVerifyUncached measures a full verification (a token seen for the first time).
func BenchmarkVerifyUncached(b *testing.B) { benchmarkVerify(b, -1) }

func benchmarkVerify(b *testing.B, cacheSize int) {
	k := newKey(b, "k1")
	v := authn.NewVerifier(authn.VerifierConfig{
		Issuer: testIssuer, Audience: testAudience, Logger: quietLogger(), CacheSize: cacheSize,
		Source: func(context.Context) (authn.JWKSet, error) {
			return authn.JWKSet{Keys: []authn.JWK{authn.NewJWK(k.kid, k.pub)}}, nil
		},
	})
	tok := sign(b, k, validClaims())
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
