package config_test

import (
	"testing"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/config/issuertest"
	"github.com/latchkey/latchkey/services/notification/internal/config"
)

// TestIssuerMustBeAnHTTPSURL: the notification service verifies iss against JWT_ISSUER, so anything but an
// https URL (http on loopback) is a start-up error naming the variable.
func TestIssuerMustBeAnHTTPSURL(t *testing.T) {
	env := map[string]string{"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "Latchkey <no-reply@example.com>", "INTERNAL_API_TOKEN": "0123456789abcdef0123"}
	issuertest.Check(t, env, func(env map[string]string) (string, error) {
		c, err := config.Load(platform.NewLoaderFrom(env))
		return c.JWTIssuer, err
	})
}
