// Package config holds the notification service's configuration: the variables every service reads
// (see docs/architecture.md) plus the ones below.
//
//	DELIVERY_DRIVER [outbox]       how messages leave: "outbox" stores them in MongoDB's dev_outbox
//	                               collection instead of sending them (the only driver so far; SMS,
//	                               WhatsApp and e-mail drivers come later)
//	DEV_OUTBOX_ENABLED [false]     serve GET /api/v1/dev/outbox, which shows the stored messages, codes
//	                               included; for local development and tests only, the Helm chart
//	                               never sets it
//	DELIVERY_MAX_ATTEMPTS [5]      failed sends of one event before its delivery is recorded as failed
package config

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// Service is the service name: it names the logger, the metrics and the default database.
const Service = "notification"

// Delivery drivers.
const (
	// DriverOutbox keeps messages in the dev_outbox collection instead of sending them.
	DriverOutbox = "outbox"
)

// Config is the notification service's configuration.
type Config struct {
	config.Base
	DeliveryDriver   string
	DevOutboxEnabled bool
	MaxAttempts      int
}

// Load reads the configuration and returns every problem at once.
func Load(l *config.Loader) (Config, error) {
	c := Config{
		Base:             l.LoadBase(Service, ":8084", ":9084"),
		DeliveryDriver:   l.String("DELIVERY_DRIVER", DriverOutbox),
		DevOutboxEnabled: l.Bool("DEV_OUTBOX_ENABLED", false),
		MaxAttempts:      l.Int("DELIVERY_MAX_ATTEMPTS", 5),
	}
	err := l.Err()
	if c.DeliveryDriver != DriverOutbox {
		err = errors.Join(err, fmt.Errorf("DELIVERY_DRIVER=%q: want %q", c.DeliveryDriver, DriverOutbox))
	}
	if c.MaxAttempts < 1 {
		err = errors.Join(err, fmt.Errorf("DELIVERY_MAX_ATTEMPTS=%d: want at least 1", c.MaxAttempts))
	}
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

// LogValue lists the configuration for the start-up log line. Secrets go through config.Secret, which
// masks them; the struct is spelled out because a JSON-encoded struct would print them in clear.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.Base.LogAttrs(),
		slog.String("delivery_driver", c.DeliveryDriver),
		slog.Bool("dev_outbox_enabled", c.DevOutboxEnabled),
		slog.Int("delivery_max_attempts", c.MaxAttempts),
	)...)
}
