// Package config reads a service's configuration from the environment.
//
// A Loader collects every bad value instead of stopping at the first, so a misconfigured deployment
// learns all its mistakes from one failed start. Secrets are held in Secret, which never prints.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// Secret is a configuration value that must never reach a log line.
type Secret string

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "****"
}

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Value returns the secret itself, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

// Loader reads typed values from environment variables and remembers every malformed one.
type Loader struct {
	lookup func(string) (string, bool)
	errs   []error
}

// NewLoader reads from the process environment.
func NewLoader() *Loader { return &Loader{lookup: os.LookupEnv} }

// NewLoaderFrom reads from a map; tests use it.
func NewLoaderFrom(env map[string]string) *Loader {
	return &Loader{lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
}

func (l *Loader) raw(key string) (string, bool) {
	v, ok := l.lookup(key)
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

func (l *Loader) fail(key, v, want string) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q: want %s", key, v, want))
}

// String returns the variable or def when it is unset or empty.
func (l *Loader) String(key, def string) string {
	if v, ok := l.raw(key); ok {
		return v
	}
	return def
}

// HeaderName returns the variable (or def) as an HTTP header name, and records an error when it is
// not one (a token of letters, digits and !#$%&'*+-.^_`|~). An empty value is allowed: no header.
func (l *Loader) HeaderName(key, def string) string {
	v := l.String(key, def)
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			l.fail(key, v, "an HTTP header name")
			return ""
		}
	}
	return v
}

// Secret returns the variable as a Secret.
func (l *Loader) Secret(key, def string) Secret { return Secret(l.String(key, def)) }

// Required returns the variable and records an error when it is unset.
func (l *Loader) Required(key string) string {
	v, ok := l.raw(key)
	if !ok {
		l.errs = append(l.errs, fmt.Errorf("%s is required", key))
	}
	return v
}

// Int returns the variable as an integer.
func (l *Loader) Int(key string, def int) int {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.fail(key, v, "an integer")
		return def
	}
	return n
}

// Bool returns the variable as a boolean (1/0, true/false, yes/no).
func (l *Loader) Bool(key string, def bool) bool {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	l.fail(key, v, "true or false")
	return def
}

// Duration returns the variable as a Go duration ("15m", "720h").
func (l *Loader) Duration(key string, def time.Duration) time.Duration {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		l.fail(key, v, "a duration such as 30s or 15m")
		return def
	}
	return d
}

// List returns a comma-separated variable as a list without empty items.
func (l *Loader) List(key string, def []string) []string {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Level returns the variable as a slog level.
func (l *Loader) Level(key string, def slog.Level) slog.Level {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v)); err != nil {
		l.fail(key, v, "debug, info, warn or error")
		return def
	}
	return lvl
}

// PeerURL returns the required variable holding another service's internal URL (JWKS_URL,
// IDENTITY_INTERNAL_URL...), and records an error naming it when it is unset or not an http(s) URL
// with a host. There is no default: an address that works only on a laptop would make a deployment
// that forgot the variable call itself; the chart and the local stack set it from routes.yaml.
func (l *Loader) PeerURL(key string) string {
	v, ok := l.raw(key)
	if !ok {
		l.errs = append(l.errs, fmt.Errorf("%s is required: the internal URL of a service this one calls", key))
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(key, v, "an http(s) URL")
		return ""
	}
	return v
}

// Err returns every problem found so far, or nil.
func (l *Loader) Err() error { return errors.Join(l.errs...) }

// Base is the configuration every service shares (see docs/architecture.md).
type Base struct {
	Service       string
	HTTPAddr      string
	InternalAddr  string
	MongoURI      Secret
	MongoDatabase string
	KafkaBrokers  []string
	// KafkaTLS and KafkaSASL are the Kafka connection's security settings (KAFKA_TLS_*, KAFKA_SASL_*).
	KafkaTLS  KafkaTLS
	KafkaSASL KafkaSASL
	// Kafka is the cluster every Kafka connection of the service uses, built from KafkaBrokers,
	// KafkaTLS and KafkaSASL by LoadBase (see KafkaCluster).
	Kafka           kafkax.Cluster
	TopicPrefix     string
	CreateTopics    bool
	LogLevel        slog.Level
	OTLPEndpoint    string
	JWTIssuer       string
	JWTAudience     string
	InternalToken   Secret
	BodyLimit       int
	ShutdownTimeout time.Duration
	TrustedProxies  []string
	// APIKeyRatePerMinute is each API key's request budget per service, shared by its replicas
	// (authn.VerifierConfig.APIKeyLimitDB).
	APIKeyRatePerMinute int
	// Pprof serves Go's profiler under /debug/pprof/ on the internal port (PPROF_ENABLED, off by
	// default): for benchmarks and diagnosis, never on a port reachable from outside.
	Pprof bool
	// ShutdownDrainDelay is how long a stopping service keeps serving with /readyz failing, so load
	// balancers stop sending it requests before it stops accepting them (SHUTDOWN_DRAIN_DELAY).
	ShutdownDrainDelay time.Duration
}

// LoadBase reads the shared configuration. httpAddr and internalAddr are the service's default ports.
// Peer URLs (JWKS_URL, IDENTITY_INTERNAL_URL) have no default: a service that calls a peer requires
// it with PeerURL in its own Load.
func (l *Loader) LoadBase(service, httpAddr, internalAddr string) Base {
	b := Base{
		Service:         service,
		HTTPAddr:        l.String("HTTP_ADDR", httpAddr),
		InternalAddr:    l.String("INTERNAL_ADDR", internalAddr),
		MongoURI:        l.Secret("MONGODB_URI", "mongodb://127.0.0.1:27017"),
		MongoDatabase:   l.String("MONGODB_DATABASE", "latchkey_"+service),
		KafkaBrokers:    l.List("KAFKA_BROKERS", []string{"127.0.0.1:9092"}),
		TopicPrefix:     l.String("KAFKA_TOPIC_PREFIX", ""),
		CreateTopics:    l.Bool("KAFKA_CREATE_TOPICS", true),
		LogLevel:        l.Level("LOG_LEVEL", slog.LevelInfo),
		OTLPEndpoint:    l.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		JWTIssuer:       l.String("JWT_ISSUER", DefaultIssuer),
		JWTAudience:     l.String("JWT_AUDIENCE", "latchkey"),
		InternalToken:   Secret(l.Required("INTERNAL_API_TOKEN")),
		BodyLimit:       l.Int("BODY_LIMIT_BYTES", 64<<10),
		ShutdownTimeout: l.Duration("SHUTDOWN_TIMEOUT", 15*time.Second),
		TrustedProxies:  l.List("TRUSTED_PROXIES", []string{"127.0.0.1/32", "::1/128"}),

		ShutdownDrainDelay: l.Duration("SHUTDOWN_DRAIN_DELAY", 5*time.Second),

		APIKeyRatePerMinute: l.Int("API_KEY_RATE_PER_MINUTE", 600),
		Pprof:               l.Bool("PPROF_ENABLED", false),
	}
	if b.APIKeyRatePerMinute <= 0 {
		l.errs = append(l.errs, errors.New("API_KEY_RATE_PER_MINUTE must be positive"))
	}
	if err := ValidateIssuer(b.JWTIssuer); err != nil {
		l.errs = append(l.errs, fmt.Errorf("JWT_ISSUER=%q: %w", b.JWTIssuer, err))
	}
	if len(b.KafkaBrokers) == 0 {
		l.errs = append(l.errs, errors.New("KAFKA_BROKERS is empty"))
	}
	b.KafkaTLS, b.KafkaSASL = l.loadKafkaSecurity()
	if cluster, err := b.KafkaCluster(); err != nil {
		l.errs = append(l.errs, err)
	} else {
		b.Kafka = cluster
	}
	if b.BodyLimit <= 0 {
		l.errs = append(l.errs, errors.New("BODY_LIMIT_BYTES must be positive"))
	}
	if n := len(b.InternalToken); n > 0 && n < 16 {
		l.errs = append(l.errs, errors.New("INTERNAL_API_TOKEN must be at least 16 characters"))
	}
	return b
}

// LogAttrs lists the shared configuration for a start-up log line. Secrets are masked by Secret; the
// fields are spelled out because encoding the struct as a whole would bypass that.
func (b Base) LogAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("http_addr", b.HTTPAddr),
		slog.String("internal_addr", b.InternalAddr),
		slog.Any("mongodb_uri", b.MongoURI),
		slog.String("mongodb_database", b.MongoDatabase),
		slog.Any("kafka_brokers", b.KafkaBrokers),
		slog.String("kafka_topic_prefix", b.TopicPrefix),
		slog.Bool("kafka_create_topics", b.CreateTopics),
		slog.Bool("kafka_tls_enabled", b.KafkaTLS.Enabled),
		slog.String("kafka_tls_ca_file", b.KafkaTLS.CAFile),
		slog.String("kafka_tls_cert_file", b.KafkaTLS.CertFile),
		slog.String("kafka_tls_server_name", b.KafkaTLS.ServerName),
		slog.String("kafka_sasl_mechanism", b.KafkaSASL.Mechanism),
		slog.String("kafka_sasl_username", b.KafkaSASL.Username),
		slog.Any("kafka_sasl_password", b.KafkaSASL.Password),
		slog.String("log_level", b.LogLevel.String()),
		slog.String("otel_exporter_otlp_endpoint", b.OTLPEndpoint),
		slog.String("jwt_issuer", b.JWTIssuer),
		slog.String("jwt_audience", b.JWTAudience),
		slog.Any("internal_api_token", b.InternalToken),
		slog.Int("body_limit_bytes", b.BodyLimit),
		slog.Duration("shutdown_timeout", b.ShutdownTimeout),
		slog.Duration("shutdown_drain_delay", b.ShutdownDrainDelay),
		slog.Any("trusted_proxies", b.TrustedProxies),
		slog.Int("api_key_rate_per_minute", b.APIKeyRatePerMinute),
	}
}
