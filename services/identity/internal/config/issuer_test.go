package config_test

import (
	"testing"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/config/issuertest"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

// TestIssuerMustBeAnHTTPSURL: the identity service verifies iss against JWT_ISSUER, so anything but an
// https URL (http on loopback) is a start-up error naming the variable.
func TestIssuerMustBeAnHTTPSURL(t *testing.T) {
	env := map[string]string{"SESSION_INTERNAL_URL": "http://session:9082", "PROFILE_INTERNAL_URL": "http://profile:9083", "JWKS_URL": "http://session:9082/.well-known/jwks.json", "TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": "0123456789abcdef0123"}
	issuertest.Check(t, env, func(env map[string]string) (string, error) {
		c, err := config.Load(platform.NewLoaderFrom(env))
		return c.JWTIssuer, err
	})
}
