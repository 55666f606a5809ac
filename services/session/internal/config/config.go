// Package config holds the session service's configuration: the variables every service reads (see
// docs/architecture.md) plus the ones below.
//
//	ACCESS_TOKEN_TTL      [15m]    lifetime of an access token (the exp claim, at most 15m); also how long
//	                               a revoked session stays on every service's deny-list
//	SESSION_IDLE_TTL      [720h]   a session that is not refreshed for this long ends
//	SESSION_ABSOLUTE_TTL  [2160h]  a session ends this long after sign-in, however active
//	JWT_SIGNING_KEY_FILE  [""]     PEM file holding the Ed25519 private key (PKCS#8) that signs access
//	                               tokens. When empty, the service keeps its signing key in its MongoDB
//	                               database (collection signing_keys) and creates one on first start.
//	SESSION_TOUCH_INTERVAL [5m]    lastActiveAt is written at most this often per session (it is also
//	                               set by every refresh)
//	TOKEN_REFRESH_WINDOW  [5m]     validate and token-health say needs_refresh/should_refresh when the
//	                               access token expires within this
//	REFRESH_TOKEN_GRACE   [10s]    for this long after a refresh, the refresh token it replaced returns
//	                               the same new pair (parallel refreshes of one client) instead of being
//	                               taken for reuse; 0 turns it off; at most 1m
//	IDENTITY_INTERNAL_URL (required)      identity's internal API, also for re-authentication before
//	                               sign-out-others and sign-out-all)
//	LOCATION_HEADER       [""]     request header in which the ingress puts the client's approximate
//	                               location (e.g. "X-Client-Geo"); read only from TRUSTED_PROXIES; off
//	                               when empty
//	API_DOCS_ENABLED      [false]  serve the OpenAPI document at GET /openapi.json and the docs page
//	                               at GET /docs (the chart's apiDocs.enabled; the local stack sets it)
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
)

// Service is the service name: it names the logger, the metrics and the default database.
const Service = "session"

// Config is the session service's configuration.
type Config struct {
	config.Base
	// IdentityInternalURL is identity's internal API: API keys and re-authentication.
	IdentityInternalURL string
	AccessTokenTTL      time.Duration
	SessionIdleTTL      time.Duration
	SessionAbsoluteTTL  time.Duration
	SigningKeyFile      string
	TouchInterval       time.Duration
	RefreshWindow       time.Duration
	RefreshGrace        time.Duration
	LocationHeader      string
	// APIDocsEnabled serves /openapi.json and /docs (API_DOCS_ENABLED).
	APIDocsEnabled bool

	// VerificationKeyFiles are PEM files or directories of keys published next to the signing key but
	// never signing (JWT_VERIFICATION_KEY_FILES, comma-separated): the previous and next keys of a
	// file-based rotation.
	VerificationKeyFiles []string
}

// Load reads the configuration and returns every problem at once.
func Load(l *config.Loader) (Config, error) {
	c := Config{
		Base:               l.LoadBase(Service, ":8082", ":9082"),
		AccessTokenTTL:     l.Duration("ACCESS_TOKEN_TTL", 15*time.Minute),
		SessionIdleTTL:     l.Duration("SESSION_IDLE_TTL", 720*time.Hour),
		SessionAbsoluteTTL: l.Duration("SESSION_ABSOLUTE_TTL", 2160*time.Hour),
		SigningKeyFile:     l.String("JWT_SIGNING_KEY_FILE", ""),
		TouchInterval:      l.Duration("SESSION_TOUCH_INTERVAL", 5*time.Minute),
		RefreshWindow:      l.Duration("TOKEN_REFRESH_WINDOW", 5*time.Minute),
		RefreshGrace:       l.Duration("REFRESH_TOKEN_GRACE", 10*time.Second),
		LocationHeader:     l.HeaderName("LOCATION_HEADER", ""),
		APIDocsEnabled:     l.Bool("API_DOCS_ENABLED", false),
	}
	c.VerificationKeyFiles = l.List("JWT_VERIFICATION_KEY_FILES", nil)
	c.IdentityInternalURL = l.PeerURL("IDENTITY_INTERNAL_URL") // API keys, re-authentication
	errs := []error{l.Err()}
	if maxTTL := authn.DefaultLookback - authn.Leeway; c.AccessTokenTTL <= 0 || c.AccessTokenTTL > maxTTL {
		// Every service reads revocations back authn.DefaultLookback on start-up; a token living longer
		// could outlive what a restarted service learns about its session.
		errs = append(errs, fmt.Errorf("ACCESS_TOKEN_TTL=%s: want a positive duration of at most %s", c.AccessTokenTTL, maxTTL))
	}
	if c.SessionIdleTTL <= 0 {
		errs = append(errs, fmt.Errorf("SESSION_IDLE_TTL=%s: want a positive duration", c.SessionIdleTTL))
	}
	if c.SessionAbsoluteTTL <= 0 {
		errs = append(errs, fmt.Errorf("SESSION_ABSOLUTE_TTL=%s: want a positive duration", c.SessionAbsoluteTTL))
	}
	if c.TouchInterval <= 0 {
		errs = append(errs, fmt.Errorf("SESSION_TOUCH_INTERVAL=%s: want a positive duration", c.TouchInterval))
	}
	if c.RefreshWindow < 0 {
		errs = append(errs, fmt.Errorf("TOKEN_REFRESH_WINDOW=%s: want a duration of at least 0", c.RefreshWindow))
	}
	if c.RefreshGrace < 0 || c.RefreshGrace > time.Minute {
		// A reused token inside the grace is not recognised as stolen: keep the window short.
		errs = append(errs, fmt.Errorf("REFRESH_TOKEN_GRACE=%s: want a duration from 0 to 1m", c.RefreshGrace))
	}
	if len(c.VerificationKeyFiles) > 0 && c.SigningKeyFile == "" {
		// Without a signing key file the keys live in MongoDB; files would be ignored there.
		errs = append(errs, errors.New("JWT_VERIFICATION_KEY_FILES needs JWT_SIGNING_KEY_FILE"))
	}
	if c.SessionIdleTTL > c.SessionAbsoluteTTL {
		errs = append(errs, fmt.Errorf("SESSION_IDLE_TTL=%s: want at most SESSION_ABSOLUTE_TTL (%s)", c.SessionIdleTTL, c.SessionAbsoluteTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LogValue lists the configuration for the start-up log line. Secrets go through config.Secret, which
// masks them; the struct is spelled out because a JSON-encoded struct would print them in clear.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.Base.LogAttrs(),
		slog.String("identity_internal_url", c.IdentityInternalURL),
		slog.Duration("access_token_ttl", c.AccessTokenTTL),
		slog.Duration("session_idle_ttl", c.SessionIdleTTL),
		slog.Duration("session_absolute_ttl", c.SessionAbsoluteTTL),
		slog.String("jwt_signing_key_file", c.SigningKeyFile),
		slog.Any("jwt_verification_key_files", c.VerificationKeyFiles),
		slog.Duration("session_touch_interval", c.TouchInterval),
		slog.Duration("token_refresh_window", c.RefreshWindow),
		slog.Duration("refresh_token_grace", c.RefreshGrace),
		slog.String("location_header", c.LocationHeader),
		slog.Bool("api_docs_enabled", c.APIDocsEnabled),
	)...)
}
