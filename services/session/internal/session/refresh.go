package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// refreshSecretBytes is the entropy of a refresh token.
const refreshSecretBytes = 32

// newRefreshToken returns a refresh token for the session: "<sessionId>.<32 random bytes, base64url>".
// The session id lets a refresh find its session with one key lookup; the secret is what proves it.
func newRefreshToken(sessionID string) string {
	var b [refreshSecretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return sessionID + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// parseRefreshToken returns the session id of a well-formed refresh token.
func parseRefreshToken(tok string) (sessionID string, ok bool) {
	sid, secret, found := strings.Cut(tok, ".")
	if !found || uuid.Validate(sid) != nil || len(sid) != 36 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != refreshSecretBytes {
		return "", false
	}
	return sid, true
}

// hashRefreshToken is what the store keeps instead of the token: a leaked database yields no usable
// refresh token. A fast hash is enough because the token has 256 bits of entropy.
func hashRefreshToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
