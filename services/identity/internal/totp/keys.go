package totp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// The environment variables of the encryption keys (internal/config reads them; errors name them).
const (
	EnvKeys  = "TOTP_ENCRYPTION_KEYS"
	EnvKeyID = "TOTP_ENCRYPTION_KEY_ID"
)

// keyIDPattern is what a key id may look like: it is stored with every secret.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// ErrUnknownKey: a stored secret names a key id the keyring no longer has.
var ErrUnknownKey = errors.New("totp: secret encrypted with an unknown key id")

// ErrDecrypt: a stored secret does not open (wrong key, other account, or tampered).
var ErrDecrypt = errors.New("totp: secret does not decrypt")

// Keyring holds the AES-256 keys that encrypt the secrets at rest, by key id, and the id of the one
// new secrets are encrypted with. Older keys stay so secrets sealed before a rotation still open.
type Keyring struct {
	keys    map[string]cipher.AEAD
	current string
}

// ParseKeys reads TOTP_ENCRYPTION_KEYS ("kid1:base64-of-32-bytes,kid2:...") and
// TOTP_ENCRYPTION_KEY_ID (the id to encrypt with; may be empty when there is exactly one key). Errors
// name the variable and never contain key material.
func ParseKeys(spec, currentID string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("%s is required: kid:base64-of-32-random-bytes[,kid:...]", EnvKeys)
	}
	k := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("%s: entry %d: want kid:base64-of-32-bytes with kid of letters, digits, '_', '.', '-'", EnvKeys, i+1)
		}
		raw, err := decodeKey(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("%s: key %q: want 32 bytes in base64", EnvKeys, id)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("%s: key id %q given twice", EnvKeys, id)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", EnvKeys, id, err)
		}
		k.keys[id] = aead
	}
	currentID = strings.TrimSpace(currentID)
	switch {
	case currentID == "" && len(k.keys) == 1:
		for id := range k.keys {
			currentID = id
		}
	case currentID == "":
		return nil, fmt.Errorf("%s is required when %s holds several keys", EnvKeyID, EnvKeys)
	case k.keys[currentID] == nil:
		return nil, fmt.Errorf("%s=%q: no such key in %s", EnvKeyID, currentID, EnvKeys)
	}
	k.current = currentID
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// CurrentID is the id of the key new secrets are encrypted with.
func (k *Keyring) CurrentID() string { return k.current }

// IDs lists the key ids, sorted.
func (k *Keyring) IDs() []string {
	out := make([]string, 0, len(k.keys))
	for id := range k.keys {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Sealed is an encrypted secret: the id of its key and nonce||ciphertext.
type Sealed struct {
	KeyID      string
	Ciphertext []byte
}

// aad binds a ciphertext to the account it belongs to: copied to another account it does not open.
func aad(accountID string) []byte { return []byte("latchkey/totp/v1/" + accountID) }

// Seal encrypts secret for accountID with the current key.
func (k *Keyring) Seal(accountID string, secret []byte) (Sealed, error) {
	aead := k.keys[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("totp: nonce: %w", err)
	}
	return Sealed{KeyID: k.current, Ciphertext: aead.Seal(nonce, nonce, secret, aad(accountID))}, nil
}

// Open decrypts s, sealed for accountID. ErrUnknownKey when its key id is not in the ring,
// ErrDecrypt when it does not open.
func (k *Keyring) Open(accountID string, s Sealed) ([]byte, error) {
	aead := k.keys[s.KeyID]
	if aead == nil {
		return nil, ErrUnknownKey
	}
	n := aead.NonceSize()
	if len(s.Ciphertext) < n+aead.Overhead() {
		return nil, ErrDecrypt
	}
	out, err := aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], aad(accountID))
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}
