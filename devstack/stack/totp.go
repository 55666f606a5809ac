package stack

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// totpEncryptionKeys returns identity's TOTP_ENCRYPTION_KEYS ("local:<base64 of 32 bytes>"): fixed
// for the stack's lifetime, so authenticator secrets survive Restart(Identity), and kept in the data
// directory (totp_encryption_keys) when Config.DataDir is set, so they survive `make run` restarts.
func (s *Stack) totpEncryptionKeys() (string, error) {
	fresh := func() (string, error) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("stack: TOTP encryption key: %w", err)
		}
		return "local:" + base64.StdEncoding.EncodeToString(b[:]), nil
	}
	if s.cfg.DataDir == "" {
		return fresh()
	}
	path := filepath.Join(s.cfg.DataDir, "totp_encryption_keys")
	if raw, err := os.ReadFile(path); err == nil && strings.HasPrefix(strings.TrimSpace(string(raw)), "local:") {
		return strings.TrimSpace(string(raw)), nil
	}
	k, err := fresh()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return "", fmt.Errorf("stack: TOTP encryption key: %w", err)
	}
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("stack: TOTP encryption key: %w", err)
	}
	return k, nil
}
