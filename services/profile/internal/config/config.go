// Package config holds the profile service's configuration: the variables every service reads (see
// docs/architecture.md) plus the ones below.
//
//	PROFILE_WAIT_TIMEOUT [1.5s]  how long GET /api/v1/me waits for a just-registered account's
//	                             account.created event before answering from the token alone
//	IDENTITY_INTERNAL_URL (required)  identity's internal API (phone numbers set through
//	                             PATCH /api/v1/me and /api/v1/auth/me are handed to identity, API keys)
//	JWKS_URL (required)          the session service's public keys (charts/latchkey/routes.yaml)
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// Service is the service name: it names the logger, the metrics and the default database.
const Service = "profile"

// Config is the profile service's configuration.
type Config struct {
	config.Base
	// ProfileWait bounds how long a GET /api/v1/me for a profile that does not exist yet waits for
	// the account.created event (it is usually still in flight right after registration).
	ProfileWait time.Duration
	// IdentityInternalURL is identity's internal API: phone numbers, snapshots, API keys.
	IdentityInternalURL string
	// JWKSURL is the session service's internal JWKS, which verifies access tokens.
	JWKSURL string
}

// Load reads the configuration and returns every problem at once.
func Load(l *config.Loader) (Config, error) {
	c := Config{
		Base:                l.LoadBase(Service, ":8083", ":9083"),
		ProfileWait:         l.Duration("PROFILE_WAIT_TIMEOUT", 1500*time.Millisecond),
		IdentityInternalURL: l.PeerURL("IDENTITY_INTERNAL_URL"),
	}
	c.JWKSURL = l.PeerURL("JWKS_URL")
	err := l.Err()
	if c.ProfileWait > 10*time.Second {
		err = errors.Join(err, fmt.Errorf("PROFILE_WAIT_TIMEOUT=%s: want at most 10s (a request waits that long)", c.ProfileWait))
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
		slog.Duration("profile_wait_timeout", c.ProfileWait),
		slog.String("identity_internal_url", c.IdentityInternalURL),
		slog.String("jwks_url", c.JWKSURL),
	)...)
}
