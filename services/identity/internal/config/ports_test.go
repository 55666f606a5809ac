package config_test

import (
	"testing"

	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/config/porttest"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

// TestDefaultPortsAreTheTopologys: without HTTP_ADDR and INTERNAL_ADDR the service listens on the
// ports charts/latchkey/routes.yaml gives it.
func TestDefaultPortsAreTheTopologys(t *testing.T) {
	c, err := config.Load(platformconfig.NewLoaderFrom(map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": "0123456789abcdef0123", "OTP_PEPPER": "0123456789abcdef0123456789abcdef", "SESSION_INTERNAL_URL": "http://s:1", "PROFILE_INTERNAL_URL": "http://p:1", "JWKS_URL": "http://s:1/j"}))
	if err != nil {
		t.Fatal(err)
	}
	porttest.Check(t, config.Service, c.HTTPAddr, c.InternalAddr)
}
