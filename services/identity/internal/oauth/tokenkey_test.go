package oauth

import (
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// TestTokenKeyIgnoresSignatureEncoding: an ES256 token whose signature is re-encoded as (r, n-s)
// still verifies, and has the same TokenKey, so the replay guard recognises it. Two tokens for the
// same person have different keys.
func TestTokenKeyIgnoresSignatureEncoding(t *testing.T) {
	iss := oidctest.New(t)
	v := NewVerifier([]ProviderConfig{{Name: Google, Issuers: []string{iss.URL}, JWKSURL: iss.JWKSURL, ClientIDs: []string{"c"}}}, nil)
	ctx := context.Background()
	tok := iss.MustSign(t, oidctest.ES256, oidctest.Claims{Subject: "g-1", Audience: "c"})
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	s := new(big.Int).SetBytes(sig[32:])
	flipped := append(append([]byte{}, sig[:32]...), new(big.Int).Sub(elliptic.P256().Params().N, s).FillBytes(make([]byte, 32))...)
	other := tok[:i+1] + base64.RawURLEncoding.EncodeToString(flipped)
	if other == tok {
		t.Fatal("malleated token equals the original")
	}
	a, err := v.Verify(ctx, Google, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(ctx, Google, other, "")
	if err != nil {
		t.Fatalf("re-encoded signature: %v, want it to verify (it is the case the key must cover)", err)
	}
	if a.TokenKey != b.TokenKey {
		t.Error("re-encoded signature changes the token key")
	}
	c, err := v.Verify(ctx, Google, iss.MustSign(t, oidctest.ES256, oidctest.Claims{Subject: "g-1", Audience: "c"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenKey == a.TokenKey {
		t.Error("two tokens of one person share a key")
	}
}
