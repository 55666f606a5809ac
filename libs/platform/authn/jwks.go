package authn

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// JWK is one public key of a JSON Web Key Set, as the session service publishes it (RFC 8037: an
// Ed25519 key is kty "OKP", crv "Ed25519", x the base64url public key).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// JWKSet is a JSON Web Key Set: the body of /.well-known/jwks.json.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// Algorithm is the only signing algorithm Latchkey issues and accepts.
const Algorithm = "EdDSA"

// NewJWK describes an Ed25519 public key as a JWK usable for verifying signatures.
func NewJWK(kid string, pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: kid, Alg: Algorithm, Use: "sig"}
}

// ParseJWKS decodes a JWKS document and returns its Ed25519 signature keys by kid. Keys of other types,
// algorithms or uses are skipped (a set may legitimately hold them); a document without a single usable
// key is an error, so a broken JWKS never replaces a working cache.
func ParseJWKS(raw []byte) (map[string]ed25519.PublicKey, error) {
	var set JWKSet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	return set.Ed25519Keys()
}

// Ed25519Keys returns the set's Ed25519 signature keys by kid (see ParseJWKS).
func (s JWKSet) Ed25519Keys() (map[string]ed25519.PublicKey, error) {
	keys := make(map[string]ed25519.PublicKey, len(s.Keys))
	for _, k := range s.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" {
			continue
		}
		if (k.Alg != "" && k.Alg != Algorithm) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks holds no usable Ed25519 key (%d keys listed)", len(s.Keys))
	}
	return keys, nil
}
