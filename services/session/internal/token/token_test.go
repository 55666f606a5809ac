package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

func mustKey(t testing.TB, createdAt time.Time) token.Key {
	t.Helper()
	k, err := token.NewKey(createdAt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyID(t *testing.T) {
	k := mustKey(t, time.Now())
	again, err := token.KeyFromSeed(k.Private.Seed(), k.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != k.ID {
		t.Errorf("kid from seed = %q, want %q (the kid must depend on the key alone)", again.ID, k.ID)
	}
	if got, want := len(k.ID), 22; got != want { // 16 bytes base64url
		t.Errorf("len(kid) = %d, want %d", got, want)
	}
	if other := mustKey(t, time.Now()); other.ID == k.ID {
		t.Error("two keys share a kid")
	}
	if _, err := token.KeyFromSeed([]byte("short"), time.Now()); err == nil {
		t.Error("KeyFromSeed accepted a 5-byte seed")
	}
}

func TestLoadPEM(t *testing.T) {
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := mustKey(t, time.Now())
	edDER, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"ed25519 pkcs8", write("ed.pem", "PRIVATE KEY", edDER), ""},
		{"ecdsa key", write("ec.pem", "PRIVATE KEY", ecDER), "want an Ed25519 key"},
		{"wrong block type", write("pub.pem", "PUBLIC KEY", edDER), "PEM block of type PRIVATE KEY"},
		{"missing file", filepath.Join(dir, "nope.pem"), "read signing key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := token.LoadPEM(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != k.ID {
				t.Errorf("kid = %q, want %q", got.ID, k.ID)
			}
		})
	}
}

func TestKeyringSignsWithNewestAndPublishesAll(t *testing.T) {
	old := mustKey(t, time.Now().Add(-time.Hour))
	next := mustKey(t, time.Now())
	ring, err := token.NewKeyring(old, next)
	if err != nil {
		t.Fatal(err)
	}
	if got := ring.Signer().ID; got != next.ID {
		t.Errorf("signer = %q, want the newest key %q", got, next.ID)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(ring.JWKSJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	if got, want := len(doc.Keys), 2; got != want {
		t.Fatalf("JWKS lists %d keys, want %d", got, want)
	}
	for _, k := range doc.Keys {
		for field, want := range map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"} {
			if k[field] != want {
				t.Errorf("key %s: %s = %q, want %q", k["kid"], field, k[field], want)
			}
		}
		if k["x"] == "" || k["d"] != "" {
			t.Errorf("key %s: x = %q, d = %q; want the public key only", k["kid"], k["x"], k["d"])
		}
	}
	if _, err := token.NewKeyring(); err == nil {
		t.Error("NewKeyring() without keys succeeded")
	}
}

func TestIssue(t *testing.T) {
	ring, err := token.NewKeyring(mustKey(t, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	issuer := token.NewIssuer(ring, token.IssuerConfig{Issuer: authntest.Issuer, Audience: "latchkey", TTL: 15 * time.Minute})
	raw, exp, err := issuer.Issue(context.Background(), "acc-1", "sess-1", session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 14*time.Minute || d > 15*time.Minute+time.Second {
		t.Errorf("expiry in %s, want about 15m", d)
	}

	v := authn.NewVerifier(authn.VerifierConfig{Issuer: authntest.Issuer, Audience: "latchkey", Source: ring.Source})
	p, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.AccountID != "acc-1" || p.SessionID != "sess-1" || p.TokenID == "" || !p.ExpiresAt.Equal(exp) {
		t.Errorf("principal = %+v, want acc-1/sess-1 with a jti, expiring %s", p, exp)
	}

	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": ring.Signer().ID} {
		if tok.Header[field] != want {
			t.Errorf("header %s = %v, want %v", field, tok.Header[field], want)
		}
	}
	c := tok.Claims.(jwt.MapClaims)
	for _, field := range []string{"iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti"} {
		if _, ok := c[field]; !ok {
			t.Errorf("claim %s missing", field)
		}
	}
	if aud, _ := c.GetAudience(); len(aud) != 1 || aud[0] != "latchkey" {
		t.Errorf("aud = %v, want [latchkey]", aud)
	}
}

func BenchmarkIssue(b *testing.B) {
	ring, err := token.NewKeyring(mustKey(b, time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	issuer := token.NewIssuer(ring, token.IssuerConfig{Issuer: authntest.Issuer, Audience: "latchkey", TTL: 15 * time.Minute})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := issuer.Issue(ctx, "acc-1", "sess-1", session.Assurance{}); err != nil {
			b.Fatal(err)
		}
	}
}
