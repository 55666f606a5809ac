// Package token signs Latchkey access tokens and publishes the keys that verify them.
//
// Access tokens are EdDSA (Ed25519) JWTs. The Keyring holds every key the JWKS lists and signs with the
// newest, so a key can be rotated by publishing the next key first and retiring the old one only after
// the tokens it signed have expired. With file-based keys the operator names the signing key and any
// number of verification-only keys instead (NewKeyringWithSigner, LoadVerificationKeys). A key's id
// (kid) is derived from its public key, so every replica names the same key the same way.
package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
)

// Key is an Ed25519 signing key.
type Key struct {
	ID        string // kid: KeyID of the public key
	Private   ed25519.PrivateKey
	CreatedAt time.Time
}

// Public returns the key's public half.
func (k Key) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// KeyID is the kid of a public key: base64url of the first 16 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// NewKey generates a fresh signing key.
func NewKey(now time.Time) (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return keyOf(priv, now), nil
}

// KeyFromSeed rebuilds a key from its 32-byte seed (the form the key store keeps).
func KeyFromSeed(seed []byte, createdAt time.Time) (Key, error) {
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("ed25519 seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return keyOf(ed25519.NewKeyFromSeed(seed), createdAt), nil
}

func keyOf(priv ed25519.PrivateKey, createdAt time.Time) Key {
	return Key{ID: KeyID(priv.Public().(ed25519.PublicKey)), Private: priv, CreatedAt: createdAt.UTC()}
}

// LoadPEM reads an Ed25519 private key in PKCS#8 PEM ("BEGIN PRIVATE KEY", as `openssl genpkey
// -algorithm ed25519` writes it).
func LoadPEM(path string) (Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("read signing key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return Key{}, fmt.Errorf("signing key %s: want a PEM block of type PRIVATE KEY", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return Key{}, fmt.Errorf("signing key %s: want an Ed25519 key, got %T", path, parsed)
	}
	createdAt := time.Unix(0, 0)
	if st, err := os.Stat(path); err == nil {
		createdAt = st.ModTime()
	}
	return keyOf(priv, createdAt), nil
}

// KeyStore keeps the signing keys every replica shares.
type KeyStore interface {
	// EnsureActive stores candidate as the active signing key unless there already is one, and returns
	// the active key. Replicas starting at once must all get the same key.
	EnsureActive(ctx context.Context, candidate Key) (Key, error)
	// List returns every stored key: the active one and any published next to it.
	List(ctx context.Context) ([]Key, error)
}

// LoadKeyring returns a Keyring of the stored keys, creating the first key when there is none.
func LoadKeyring(ctx context.Context, store KeyStore) (*Keyring, error) {
	candidate, err := NewKey(time.Now())
	if err != nil {
		return nil, err
	}
	active, err := store.EnsureActive(ctx, candidate)
	if err != nil {
		return nil, fmt.Errorf("ensure signing key: %w", err)
	}
	keys, err := store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	if !slices.ContainsFunc(keys, func(k Key) bool { return k.ID == active.ID }) {
		keys = append(keys, active)
	}
	return NewKeyring(keys...)
}

// Keyring holds the signing keys: it signs with the newest and publishes all of them. It is safe for
// concurrent use; Replace swaps the whole set atomically.
type Keyring struct {
	state atomic.Pointer[keyringState]
}

type keyringState struct {
	signer Key
	set    authn.JWKSet
	jwks   []byte // the JWKS document, encoded once
}

// NewKeyring returns a keyring of keys (at least one).
func NewKeyring(keys ...Key) (*Keyring, error) {
	k := &Keyring{}
	if err := k.Replace(keys...); err != nil {
		return nil, err
	}
	return k, nil
}

// Replace installs a new set of keys (at least one); the newest signs from now on.
func (k *Keyring) Replace(keys ...Key) error {
	if len(keys) == 0 {
		return errors.New("keyring needs at least one key")
	}
	sorted := slices.Clone(keys)
	slices.SortStableFunc(sorted, func(a, b Key) int { return b.CreatedAt.Compare(a.CreatedAt) })
	for _, key := range sorted {
		if len(key.Private) != ed25519.PrivateKeySize {
			return fmt.Errorf("key %s is not an ed25519 private key", key.ID)
		}
	}
	pubs := make([]ed25519.PublicKey, 0, len(sorted)-1)
	for _, key := range sorted[1:] {
		pubs = append(pubs, key.Public())
	}
	return k.install(sorted[0], pubs)
}

// NewKeyringWithSigner returns a keyring that signs with signer and publishes, next to it, the
// verification-only keys: the file-based rotation (JWT_SIGNING_KEY_FILE plus
// JWT_VERIFICATION_KEY_FILES), where the operator, not the creation time, says which key signs. A
// verification key equal to the signer, or listed twice, is published once.
func NewKeyringWithSigner(signer Key, verification ...ed25519.PublicKey) (*Keyring, error) {
	if len(signer.Private) != ed25519.PrivateKeySize {
		return nil, errors.New("the signing key is not an ed25519 private key")
	}
	k := &Keyring{}
	if err := k.install(signer, verification); err != nil {
		return nil, err
	}
	return k, nil
}

// install makes signer the signing key and publishes it first, then every other key of pubs.
func (k *Keyring) install(signer Key, pubs []ed25519.PublicKey) error {
	st := &keyringState{signer: signer}
	st.set.Keys = append(st.set.Keys, authn.NewJWK(signer.ID, signer.Public()))
	seen := map[string]bool{signer.ID: true}
	for _, pub := range pubs {
		if len(pub) != ed25519.PublicKeySize {
			return errors.New("a verification key is not an ed25519 public key")
		}
		if kid := KeyID(pub); !seen[kid] {
			seen[kid] = true
			st.set.Keys = append(st.set.Keys, authn.NewJWK(kid, pub))
		}
	}
	raw, err := json.Marshal(st.set)
	if err != nil {
		return fmt.Errorf("encode jwks: %w", err)
	}
	st.jwks = raw
	k.state.Store(st)
	return nil
}

// Signer returns the key that signs new tokens.
func (k *Keyring) Signer() Key { return k.state.Load().signer }

// JWKS returns the published key set.
func (k *Keyring) JWKS() authn.JWKSet { return k.state.Load().set }

// JWKSJSON returns the published key set as the JSON document /.well-known/jwks.json serves.
func (k *Keyring) JWKSJSON() []byte { return k.state.Load().jwks }

// Source adapts the keyring to authn.VerifierConfig.Source, so the service verifies its own tokens
// without fetching its own JWKS over HTTP.
func (k *Keyring) Source(context.Context) (authn.JWKSet, error) { return k.JWKS(), nil }
