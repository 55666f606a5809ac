package config_test

import (
	"testing"

	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/config/porttest"
	"github.com/latchkey/latchkey/services/notification/internal/config"
)

// TestDefaultPortsAreTheTopologys: without HTTP_ADDR and INTERNAL_ADDR the service listens on the
// ports charts/latchkey/routes.yaml gives it.
func TestDefaultPortsAreTheTopologys(t *testing.T) {
	c, err := config.Load(platformconfig.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123", "SMTP_HOST": "smtp.example.com", "SMTP_FROM": "Latchkey <no-reply@example.com>"}))
	if err != nil {
		t.Fatal(err)
	}
	porttest.Check(t, config.Service, c.HTTPAddr, c.InternalAddr)
}
