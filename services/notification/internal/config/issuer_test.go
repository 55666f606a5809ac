package config_test

import (
	"strings"
	"testing"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/notification/internal/config"
)

// TestIssuerMustBeAnHTTPSURL: the notification service verifies iss against JWT_ISSUER, so anything but an https
// URL (http on loopback) is a start-up error naming the variable, and an https issuer is taken as is.
func TestIssuerMustBeAnHTTPSURL(t *testing.T) {
	env := map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123", "SMTP_HOST": "smtp.example.com", "SMTP_FROM": "Latchkey <no-reply@example.com>", "JWT_ISSUER": "https://accounts.example.com"}
	c, err := config.Load(platform.NewLoaderFrom(env))
	if err != nil {
		t.Fatalf("Load with an https issuer: %v", err)
	}
	if c.JWTIssuer != "https://accounts.example.com" {
		t.Errorf("JWTIssuer = %q", c.JWTIssuer)
	}
	for _, bad := range []string{"latchkey", "http://accounts.example.com"} {
		env["JWT_ISSUER"] = bad
		if _, err := config.Load(platform.NewLoaderFrom(env)); err == nil || !strings.Contains(err.Error(), "JWT_ISSUER") {
			t.Errorf("JWT_ISSUER=%s: error %v, want one naming JWT_ISSUER", bad, err)
		}
	}
}
