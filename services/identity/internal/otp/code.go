// Package otp issues and checks one-time codes: registration codes, new-device verification codes
// and, later, 2FA, password-change and linking codes.
//
// A code is 6 digits from crypto/rand and is stored only as HMAC-SHA256(pepper, challengeId|code), so
// a database leak reveals no live code. A challenge is single use, expires (every query filters on
// expiresAt: FerretDB has no TTL indexes), allows a bounded number of tries (each try is claimed
// before the code is compared, so parallel guesses cannot exceed the limit), and is sent subject to a resend cooldown and hourly limits per destination and per account. A flow that
// spans two requests gets a temp token: random, stored hashed, single use, bound to the account,
// purpose and device, and expiring with the code.
package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
)

// CodeLength is the number of digits of a code.
const CodeLength = 6

var codeSpace = big.NewInt(1_000_000)

// GenerateCode returns a uniformly random 6-digit code. crypto/rand.Int draws by rejection sampling,
// so no code is likelier than another (no modulo bias).
func GenerateCode() (string, error) {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		return "", fmt.Errorf("random code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// ValidCodeFormat reports whether s is exactly six ASCII digits.
func ValidCodeFormat(s string) bool {
	if len(s) != CodeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Pepper is the server-side secret mixed into every stored code and token hash.
type Pepper []byte

// CodeHash is HMAC-SHA256(pepper, challengeID|code), hex-encoded. Binding the challenge id means equal
// codes of different challenges hash differently.
func (p Pepper) CodeHash(challengeID, code string) string {
	return p.mac("code|" + challengeID + "|" + code)
}

// TokenHash is HMAC-SHA256(pepper, token), hex-encoded: what the store keeps of a temp token.
func (p Pepper) TokenHash(token string) string { return p.mac("token|" + token) }

func (p Pepper) mac(s string) string {
	m := hmac.New(sha256.New, p)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// equalHash compares two hex hashes in constant time.
func equalHash(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// NewToken returns a temp token: prefix followed by 32 random bytes, base64url without padding.
func NewToken(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
