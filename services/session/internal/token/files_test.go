package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

// writePEM writes one PEM block to dir/name and returns the path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func privateDER(t *testing.T, k token.Key) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func publicDER(t *testing.T, k token.Key) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func kids(keys []ed25519.PublicKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, token.KeyID(k))
	}
	return out
}

func TestLoadVerificationKeys(t *testing.T) {
	a, b, c := mustKey(t, time.Now()), mustKey(t, time.Now()), mustKey(t, time.Now())
	files := t.TempDir()
	pubA := writePEM(t, files, "a.pub.pem", "PUBLIC KEY", publicDER(t, a))
	privB := writePEM(t, files, "b.pem", "PRIVATE KEY", privateDER(t, b))

	// A directory laid out like a mounted Secret: visible names are symlinks into ..data.
	secretDir := t.TempDir()
	data := filepath.Join(secretDir, "..2026_12_03_00_00_00.0001")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	writePEM(t, data, "c.pem", "PUBLIC KEY", publicDER(t, c))
	if err := os.Symlink(filepath.Base(data), filepath.Join(secretDir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "c.pem"), filepath.Join(secretDir, "c.pem")); err != nil {
		t.Fatal(err)
	}

	got, err := token.LoadVerificationKeys([]string{pubA, privB, secretDir})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a.ID, b.ID, c.ID}; !slices.Equal(kids(got), want) {
		t.Errorf("kids = %v, want %v (public file, public half of a private file, the Secret directory's key)", kids(got), want)
	}
	if got, err := token.LoadVerificationKeys(nil); err != nil || len(got) != 0 {
		t.Errorf("no paths: %v, %v; want no keys and no error", got, err)
	}
}

func TestLoadVerificationKeysRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"missing file", filepath.Join(dir, "nope.pem"), "nope.pem"},
		{"not PEM", notPEM, "no PEM block"},
		{"certificate", writePEM(t, dir, "cert.pem", "CERTIFICATE", []byte{1}), "PUBLIC KEY or PRIVATE KEY"},
		{"ECDSA key", writePEM(t, dir, "ec.pem", "PUBLIC KEY", ecDER), "want an Ed25519 key"},
		{"garbage DER", writePEM(t, dir, "bad.pem", "PUBLIC KEY", []byte("garbage")), "bad.pem"},
		{"empty directory", empty, "holds no key file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := token.LoadVerificationKeys([]string{tc.path})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestKeyringWithSigner: the operator's signing key signs even when a verification key is newer, and
// every key is published once; a token of either key verifies against the published set.
func TestKeyringWithSigner(t *testing.T) {
	old := mustKey(t, time.Now().Add(-time.Hour))
	next := mustKey(t, time.Now())
	ring, err := token.NewKeyringWithSigner(old, next.Public(), old.Public(), next.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got := ring.Signer().ID; got != old.ID {
		t.Errorf("signer = %s, want the configured signing key %s, not the newer %s", got, old.ID, next.ID)
	}
	var published []string
	for _, k := range ring.JWKS().Keys {
		published = append(published, k.Kid)
	}
	if want := []string{old.ID, next.ID}; !slices.Equal(published, want) {
		t.Errorf("JWKS kids = %v, want %v (signer first, each key once)", published, want)
	}

	// A token the next key signs (after the switch) verifies against this ring's JWKS.
	switched, err := token.NewKeyringWithSigner(next, old.Public())
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := token.NewIssuer(switched, token.IssuerConfig{Issuer: authntest.Issuer, Audience: authntest.Audience, TTL: time.Minute}).
		Issue(context.Background(), "acc-1", "sess-1", session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	v := authn.NewVerifier(authn.VerifierConfig{Issuer: authntest.Issuer, Audience: authntest.Audience, Source: ring.Source})
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Errorf("a token of the verification-only key is refused: %v", err)
	}

	if _, err := token.NewKeyringWithSigner(token.Key{}); err == nil {
		t.Error("NewKeyringWithSigner accepted an empty signing key")
	}
	if _, err := token.NewKeyringWithSigner(old, ed25519.PublicKey("short")); err == nil {
		t.Error("NewKeyringWithSigner accepted a malformed verification key")
	}
}
