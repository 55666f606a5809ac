package config

import (
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
)

// TOTP are the authenticator app settings:
//
//	TOTP_ENCRYPTION_KEYS (required, secret)  the AES-256 keys encrypting authenticator secrets at rest:
//	                                         kid:base64-of-32-random-bytes[,kid:...]; keep old ids after
//	                                         a rotation so the secrets sealed with them still open
//	TOTP_ENCRYPTION_KEY_ID []                the kid new secrets are sealed with; may be empty with one key
//	TOTP_ISSUER [Latchkey]                   the name authenticator apps show
type TOTP struct {
	Keys   *totp.Keyring
	Issuer string
	raw    config.Secret
}

// loadTOTP reads the TOTP settings; the service does not start without a key (the error names the
// variable and never shows a key).
func loadTOTP(l *config.Loader) (TOTP, []error) {
	t := TOTP{raw: l.Secret(totp.EnvKeys, ""), Issuer: l.String("TOTP_ISSUER", totp.DefaultIssuer)}
	keys, err := totp.ParseKeys(t.raw.Value(), l.String(totp.EnvKeyID, ""))
	if err != nil {
		return t, []error{err}
	}
	t.Keys = keys
	return t, nil
}
