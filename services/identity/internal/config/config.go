// Package config reads the identity service's configuration: the shared variables of
// docs/architecture.md (config.Base) plus these, defaults in brackets:
//
//	SESSION_INTERNAL_URL (required)                the session service's internal API
//	JWKS_URL (required)                            the session service's public keys
//	PROFILE_INTERNAL_URL (required)                the profile service's internal API: account events are
//	                                               delivered there before a change is answered (read-your-own-writes)
//	ARGON2_MEMORY_KIB [19456]                      argon2id memory (KiB); at least OWASP's 19456
//	ARGON2_ITERATIONS [2]                          argon2id passes; at least 2
//	ARGON2_PARALLELISM [1]                         argon2id lanes
//	ARGON2_MAX_CONCURRENT, ARGON2_MAX_QUEUE, ARGON2_MAX_WAIT, PASSWORD_MIN_LENGTH,
//	PASSWORD_MIN_LENGTH_WITHOUT_2FA                see loadPasswordSettings
//	BREACHED_PASSWORDS_ONLINE, BREACHED_PASSWORDS_API_URL, BREACHED_PASSWORDS_TIMEOUT,
//	BREACHED_PASSWORDS_CACHE_TTL, BREACHED_PASSWORDS_CACHE_SIZE, BREACHED_PASSWORDS_MIN_COUNT
//	                                               see loadBreachedPasswords
//	OTP_TTL [10m]                                  how long a one-time code is valid
//	OTP_MAX_ATTEMPTS [5]                           wrong tries before a code is dead
//	OTP_RESEND_COOLDOWN [60s]                      minimum time between two codes to one destination
//	OTP_MAX_PER_DESTINATION_PER_HOUR [5]           codes per destination per hour
//	OTP_MAX_PER_ACCOUNT_PER_HOUR [10]              codes per account per hour
//	LOGIN_MAX_FAILURES_PER_ACCOUNT [10]            failed logins per account per LOGIN_FAILURE_WINDOW
//	LOGIN_FAILURE_WINDOW [15m]
//	LOGIN_MAX_PER_IP [30]                          login attempts per client IP per LOGIN_IP_WINDOW
//	LOGIN_IP_WINDOW [15m]
//	OTP_VERIFY_MAX_PER_IP [30]                     codes answered from one client IP per OTP_VERIFY_IP_WINDOW
//	OTP_VERIFY_IP_WINDOW [15m]
//	OTP_VERIFY_MAX_FAILURES_PER_ACCOUNT [10]       wrong codes of one account per OTP_VERIFY_FAILURE_WINDOW;
//	OTP_VERIFY_FAILURE_WINDOW [15m]                reaching it (or the login failure limit) locks sign-in until the window ends
//	OTP_SEND_MAX_PER_IP [20]                       codes requested from one client IP per OTP_SEND_IP_WINDOW
//	OTP_SEND_IP_WINDOW [1h]                        (password reset, password change, re-authentication)
//	OTP_PEPPER [random]                            secret keying the HMAC of stored codes and tokens
//	API_KEY_ENVIRONMENT [live]                     live or test: new API keys start lk_live_ or lk_test_
//	OAUTH_GOOGLE_ISSUER [https://accounts.google.com,accounts.google.com]   accepted iss values
//	OAUTH_GOOGLE_JWKS_URL [https://www.googleapis.com/oauth2/v3/certs]
//	OAUTH_GOOGLE_CLIENT_IDS []                     accepted aud values; Google sign-in is off when empty
//	OAUTH_APPLE_ISSUER [https://appleid.apple.com]
//	OAUTH_APPLE_JWKS_URL [https://appleid.apple.com/auth/keys]
//	OAUTH_APPLE_CLIENT_IDS []                      Apple sign-in is off when empty
//	OAUTH_GITHUB_CLIENT_IDS []                     the GitHub OAuth app's client id; GitHub is off when empty
//	OAUTH_GITHUB_ISSUER [], OAUTH_GITHUB_JWKS_URL [] GitHub issues no OIDC ID tokens itself: set both only
//	                                               for an OIDC bridge in front of it (ID tokens); without
//	                                               them GitHub accepts access tokens only
//	OAUTH_GOOGLE_USERINFO_URL [https://openidconnect.googleapis.com/v1/userinfo]
//	OAUTH_GITHUB_API_URL [https://api.github.com]  where an access token's owner is asked (Google's
//	                                               OpenID user-info, GitHub's GET /user) when a client
//	                                               proves a provider account with an access token
//	OAUTH_GOOGLE_TOKENINFO_URL [https://oauth2.googleapis.com/tokeninfo]  a Google access token must name
//	                                               one of OAUTH_GOOGLE_CLIENT_IDS (aud or azp) here
//	OAUTH_GITHUB_CLIENT_SECRET []                  the GitHub OAuth app's secret: a GitHub access token
//	                                               must pass GitHub's check-a-token API for one of
//	                                               OAUTH_GITHUB_CLIENT_IDS; without it GitHub access
//	                                               tokens are refused (start-up warning)
//	USERNAME_CHANGE_INTERVAL [720h]                least time between two username changes of an account
//	USERNAME_RESERVATION_PERIOD [2160h]            how long a given-up username stays reserved for its old owner
//	LOCATION_HEADER []                             request header in which the ingress puts the client's
//	                                               approximate location (as the session service reads it);
//	                                               believed only from TRUSTED_PROXIES and passed on to the
//	                                               sessions identity starts; off when empty
//	USERNAME_LOOKUP_MAX_PER_IP [60]                public username requests (check, search, lookup) per client IP
//	USERNAME_LOOKUP_IP_WINDOW [1m]                 per USERNAME_LOOKUP_IP_WINDOW
//	ACCOUNT_EXPORT_TTL, ACCOUNT_EXPORT_INTERVAL    see Export (export.go)
//	REAUTH_TOKEN_TTL [5m]                          how long a step-up token (POST /api/v1/auth/reauth,
//	                                               sent as X-Reauth-Token) is valid; 30s to 15m
//	EMAIL_CHANGE_REVERT_PERIOD [168h]              how long the link sent to the previous address after
//	                                               an e-mail change can undo it; 1h to 30 days
//	TOTP_ENCRYPTION_KEYS, TOTP_ENCRYPTION_KEY_ID, TOTP_ISSUER   see totp.go (the keys are required)
//	NOT_ME_URL, NOT_ME_LINK_TTL                    see notme.go ("this wasn't me" links; off when empty)
//	ACCOUNT_DELETION_GRACE, ACCOUNT_DELETION_CHECK_INTERVAL    see deletion.go
//	EMAIL_CHANGE_REVERT_URL [http://localhost:8080/account/email-change/revert]
//	                                               the page that link opens (the token is appended as
//	                                               #token=...; the page posts it to
//	                                               POST /api/v1/auth/email-change/revert)
//	WEBAUTHN_RP_ID []                              the domain passkeys belong to (e.g. example.com); passkeys
//	                                               are off when empty
//	WEBAUTHN_RP_DISPLAY_NAME [Latchkey]            the name authenticators show
//	WEBAUTHN_RP_ORIGINS [https://<WEBAUTHN_RP_ID>] comma list of the origins pages calling WebAuthn run on:
//	                                               https (http only on localhost or loopback), the RP ID or
//	                                               a subdomain of it
//	WEBAUTHN_MAX_PER_ACCOUNT [20]                  passkeys per account
//	WEBAUTHN_CEREMONY_TTL [5m]                     how long a begun passkey ceremony can be finished
//	ACTIVITY_RETENTION [2160h]                     how long the owner's activity log keeps an entry; 24h to 17520h
//
// OTP_PEPPER must be set (at least 32 characters) when more than one replica runs or codes must
// survive a restart: without it each process draws its own, which only suits a single dev instance.
// It also keys the stored recovery codes (package recovery derives their key from it), so changing
// it invalidates every account's recovery codes as well as trusted-device tokens.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

// Service name and default listen addresses.
const (
	Service             = "identity"
	DefaultHTTPAddr     = ":8081"
	DefaultInternalAddr = ":9081"
)

// minPepper is the shortest accepted OTP_PEPPER.
const minPepper = 32

// Config is the identity service's configuration.
type Config struct {
	config.Base
	// The internal URLs of the services identity calls (charts/latchkey/routes.yaml): session's API
	// and JWKS, profile's event intake.
	SessionInternalURL      string
	ProfileInternalURL      string
	JWKSURL                 string
	Argon2                  password.Params
	Hashing                 password.Concurrency // see loadPasswordSettings
	PasswordPolicy          password.Policy
	BreachedPasswords       password.BreachConfig // see loadBreachedPasswords
	OTP                     otp.Config
	LoginFailuresPerAccount throttle.Limit
	LoginPerIP              throttle.Limit
	CodeVerifyPerIP         throttle.Limit
	CodeFailuresPerAccount  throttle.Limit
	CodeSendPerIP           throttle.Limit
	UsernameLookupsPerIP    throttle.Limit
	PasskeyBeginsPerIP      throttle.Limit // passwordless sign-ins begun from one address (each stores a ceremony)
	Throttle                Throttle
	LocationHeader          string
	OTPPepper               config.Secret
	PepperGenerated         bool // OTP_PEPPER was empty; a random one is in use
	APIKeyPrefix            string
	// APIKeyDefaultTTL is the lifetime of a key created without one (API_KEY_DEFAULT_TTL, 90 days);
	// APIKeyMaxTTL the longest a key may have (API_KEY_MAX_TTL, 365 days).
	APIKeyDefaultTTL time.Duration
	APIKeyMaxTTL     time.Duration
	// OAuth are the sign-in providers' ID-token settings, one per oauth.Providers entry; a provider
	// without client ids is disabled.
	OAuth []oauth.ProviderConfig
	// UserInfo says where access tokens are proven (OAUTH_GOOGLE_USERINFO_URL, OAUTH_GITHUB_API_URL)
	// and for which providers (Google and GitHub when their client ids are set).
	UserInfo  oauth.UserInfoConfig
	Usernames username.Config
	// Step-up: the lifetime of step-up tokens, and the link undoing an e-mail change.
	ReauthTokenTTL    time.Duration
	EmailRevertPeriod time.Duration
	EmailRevertURL    string
	// WebAuthn is the passkey relying party (WEBAUTHN_*); passkeys are off when its RPID is empty.
	WebAuthn passkey.Config
	// TOTP are the authenticator app settings (totp.go).
	TOTP TOTP
	// ActivityRetention is how long the owner's activity log keeps an entry (activity.go).
	ActivityRetention time.Duration
	// NotMe are the "this wasn't me" link settings (NOT_ME_URL, NOT_ME_LINK_TTL; notme.go).
	NotMe NotMe
	// Export are the account data export settings (export.go).
	Export Export
	// Deletion: ACCOUNT_DELETION_GRACE, ACCOUNT_DELETION_CHECK_INTERVAL (deletion.go).
	Deletion Deletion
}

// providerDefaults are the public issuers and key URLs of the providers that have them.
var providerDefaults = map[string]struct {
	issuers []string
	jwks    string
}{
	oauth.Google: {[]string{"https://accounts.google.com", "accounts.google.com"}, "https://www.googleapis.com/oauth2/v3/certs"},
	oauth.Apple:  {[]string{"https://appleid.apple.com"}, "https://appleid.apple.com/auth/keys"},
}

func loadOAuth(l *config.Loader) ([]oauth.ProviderConfig, []error) {
	var out []oauth.ProviderConfig
	var errs []error
	for _, name := range oauth.Providers {
		prefix := "OAUTH_" + strings.ToUpper(name) + "_"
		def := providerDefaults[name]
		c := oauth.ProviderConfig{
			Name:      name,
			Issuers:   l.List(prefix+"ISSUER", def.issuers),
			JWKSURL:   l.String(prefix+"JWKS_URL", def.jwks),
			ClientIDs: l.List(prefix+"CLIENT_IDS", nil),
		}
		// GitHub without an OIDC bridge (no issuer, no JWKS URL) takes access tokens only.
		githubWithoutBridge := name == oauth.GitHub && len(c.Issuers) == 0 && c.JWKSURL == ""
		if len(c.ClientIDs) > 0 && !githubWithoutBridge {
			if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%sJWKS_URL=%q: want an http(s) URL", prefix, c.JWKSURL))
			}
			if len(c.Issuers) == 0 {
				errs = append(errs, fmt.Errorf("%sISSUER: required when %sCLIENT_IDS is set", prefix, prefix))
			}
		}
		out = append(out, c)
	}
	return out, errs
}

// Load reads the configuration and returns every problem found at once.
func Load(l *config.Loader) (Config, error) {
	var errs []error
	positive := func(key string, def int) int {
		n := l.Int(key, def)
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s=%d: want a positive integer", key, n))
		}
		return n
	}
	c := Config{
		Base:               l.LoadBase(Service, DefaultHTTPAddr, DefaultInternalAddr),
		SessionInternalURL: l.PeerURL("SESSION_INTERNAL_URL"),
		ProfileInternalURL: l.PeerURL("PROFILE_INTERNAL_URL"),
		Argon2: password.Params{
			MemoryKiB:   uint32(positive("ARGON2_MEMORY_KIB", 19456)),
			Iterations:  uint32(positive("ARGON2_ITERATIONS", 2)),
			Parallelism: uint8(min(positive("ARGON2_PARALLELISM", 1), 255)),
		},
		OTP: otp.Config{
			TTL:                      l.Duration("OTP_TTL", 10*time.Minute),
			MaxAttempts:              positive("OTP_MAX_ATTEMPTS", 5),
			ResendCooldown:           l.Duration("OTP_RESEND_COOLDOWN", time.Minute),
			MaxPerDestinationPerHour: positive("OTP_MAX_PER_DESTINATION_PER_HOUR", 5),
			MaxPerAccountPerHour:     positive("OTP_MAX_PER_ACCOUNT_PER_HOUR", 10),
		},
		LoginFailuresPerAccount: throttle.Limit{
			Max:    positive("LOGIN_MAX_FAILURES_PER_ACCOUNT", 100),
			Window: l.Duration("LOGIN_FAILURE_WINDOW", time.Hour),
		},
		LoginPerIP: throttle.Limit{
			Max:    positive("LOGIN_MAX_PER_IP", 100),
			Window: l.Duration("LOGIN_IP_WINDOW", 24*time.Hour),
		},
		CodeVerifyPerIP: throttle.Limit{
			Max:    positive("OTP_VERIFY_MAX_PER_IP", 100),
			Window: l.Duration("OTP_VERIFY_IP_WINDOW", time.Hour),
		},
		CodeFailuresPerAccount: throttle.Limit{
			Max:    positive("OTP_VERIFY_MAX_FAILURES_PER_ACCOUNT", 10),
			Window: l.Duration("OTP_VERIFY_FAILURE_WINDOW", 15*time.Minute),
		},
		CodeSendPerIP: throttle.Limit{
			Max:    positive("OTP_SEND_MAX_PER_IP", 100),
			Window: l.Duration("OTP_SEND_IP_WINDOW", time.Hour),
		},
		UsernameLookupsPerIP: throttle.Limit{
			Max:    positive("USERNAME_LOOKUP_MAX_PER_IP", 300),
			Window: l.Duration("USERNAME_LOOKUP_IP_WINDOW", time.Minute),
		},
		PasskeyBeginsPerIP: throttle.Limit{
			Max:    positive("PASSKEY_SIGNIN_MAX_PER_IP", 60),
			Window: l.Duration("PASSKEY_SIGNIN_IP_WINDOW", time.Minute),
		},
		LocationHeader: l.HeaderName("LOCATION_HEADER", ""),
		OTPPepper:      l.Secret("OTP_PEPPER", ""),
		Usernames: username.Config{
			ChangeInterval: l.Duration("USERNAME_CHANGE_INTERVAL", 30*24*time.Hour),
			Reservation:    l.Duration("USERNAME_RESERVATION_PERIOD", 90*24*time.Hour),
		},
	}
	c.ReauthTokenTTL = l.Duration("REAUTH_TOKEN_TTL", 5*time.Minute)
	c.EmailRevertPeriod = l.Duration("EMAIL_CHANGE_REVERT_PERIOD", 7*24*time.Hour)
	c.EmailRevertURL = l.String("EMAIL_CHANGE_REVERT_URL", "http://localhost:8080/account/email-change/revert")
	if c.ReauthTokenTTL < 30*time.Second || c.ReauthTokenTTL > 15*time.Minute {
		errs = append(errs, fmt.Errorf("REAUTH_TOKEN_TTL=%s: want 30s to 15m", c.ReauthTokenTTL))
	}
	if c.EmailRevertPeriod < time.Hour || c.EmailRevertPeriod > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("EMAIL_CHANGE_REVERT_PERIOD=%s: want 1h to 720h", c.EmailRevertPeriod))
	}
	if u, err := url.Parse(c.EmailRevertURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("EMAIL_CHANGE_REVERT_URL=%q: want an http(s) URL", c.EmailRevertURL))
	}
	var pwErrs []error
	c.Hashing, c.PasswordPolicy, pwErrs = loadPasswordSettings(l)
	errs = append(errs, pwErrs...)
	var breachErrs []error
	c.BreachedPasswords, breachErrs = loadBreachedPasswords(l)
	errs = append(errs, breachErrs...)
	thr, thrErrs := loadThrottle(l, positive)
	c.Throttle = thr
	errs = append(errs, thrErrs...)
	if c.Usernames.ChangeInterval < 0 || c.Usernames.Reservation < 0 {
		errs = append(errs, fmt.Errorf("USERNAME_CHANGE_INTERVAL and USERNAME_RESERVATION_PERIOD must not be negative"))
	}
	c.APIKeyDefaultTTL = l.Duration("API_KEY_DEFAULT_TTL", 90*24*time.Hour)
	c.APIKeyMaxTTL = l.Duration("API_KEY_MAX_TTL", 365*24*time.Hour)
	if c.APIKeyMaxTTL < 24*time.Hour || c.APIKeyDefaultTTL < time.Hour || c.APIKeyDefaultTTL > c.APIKeyMaxTTL {
		errs = append(errs, fmt.Errorf("API_KEY_MAX_TTL must be at least 24h and API_KEY_DEFAULT_TTL between 1h and it"))
	}
	switch env := l.String("API_KEY_ENVIRONMENT", "live"); env {
	case "live":
		c.APIKeyPrefix = authn.APIKeyPrefixLive
	case "test":
		c.APIKeyPrefix = authn.APIKeyPrefixTest
	default:
		errs = append(errs, fmt.Errorf("API_KEY_ENVIRONMENT=%q: want live or test", env))
	}
	webAuthn, webAuthnErrs := loadWebAuthn(l)
	c.WebAuthn = webAuthn
	errs = append(errs, webAuthnErrs...)
	var notMeErrs []error
	c.NotMe, notMeErrs = loadNotMe(l)
	errs = append(errs, notMeErrs...)
	deletion, deletionErrs := loadDeletion(l)
	c.Deletion = deletion
	errs = append(errs, deletionErrs...)
	totpCfg, totpErrs := loadTOTP(l)
	c.TOTP = totpCfg
	errs = append(errs, totpErrs...)
	var activityErrs []error
	c.ActivityRetention, activityErrs = loadActivityRetention(l)
	errs = append(errs, activityErrs...)
	exportCfg, exportErrs := loadExport(l)
	c.Export = exportCfg
	errs = append(errs, exportErrs...)
	oauthCfg, oauthErrs := loadOAuth(l)
	c.OAuth = oauthCfg
	userInfo, userInfoErrs := loadUserInfo(l, oauthCfg)
	c.UserInfo = userInfo
	errs = append(errs, userInfoErrs...)
	errs = append(errs, oauthErrs...)
	// OWASP's argon2id floor (m=19 MiB, t=2); weaker settings are refused rather than silently used.
	if c.Argon2.MemoryKiB < password.DefaultParams.MemoryKiB {
		errs = append(errs, fmt.Errorf("ARGON2_MEMORY_KIB=%d: want at least %d", c.Argon2.MemoryKiB, password.DefaultParams.MemoryKiB))
	}
	if c.Argon2.MemoryKiB > 1<<20 {
		errs = append(errs, fmt.Errorf("ARGON2_MEMORY_KIB=%d: want at most %d", c.Argon2.MemoryKiB, 1<<20))
	}
	if c.Argon2.Iterations < password.DefaultParams.Iterations || c.Argon2.Iterations > 64 {
		errs = append(errs, fmt.Errorf("ARGON2_ITERATIONS=%d: want 2 to 64", c.Argon2.Iterations))
	}
	for name, d := range map[string]time.Duration{
		"OTP_TTL": c.OTP.TTL, "LOGIN_FAILURE_WINDOW": c.LoginFailuresPerAccount.Window, "LOGIN_IP_WINDOW": c.LoginPerIP.Window,
		"OTP_VERIFY_IP_WINDOW": c.CodeVerifyPerIP.Window, "OTP_VERIFY_FAILURE_WINDOW": c.CodeFailuresPerAccount.Window,
		"OTP_SEND_IP_WINDOW": c.CodeSendPerIP.Window, "USERNAME_LOOKUP_IP_WINDOW": c.UsernameLookupsPerIP.Window,
		"PASSKEY_SIGNIN_IP_WINDOW": c.PasskeyBeginsPerIP.Window,
	} {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("%s=%s: want at least 1s", name, d))
		}
	}
	if n := len(c.OTPPepper.Value()); n > 0 && n < minPepper {
		errs = append(errs, fmt.Errorf("OTP_PEPPER must be at least %d characters", minPepper))
	}
	c.JWKSURL = l.PeerURL("JWKS_URL") // the callers' URLs come from charts/latchkey/routes.yaml
	if err := errors.Join(append([]error{l.Err()}, errs...)...); err != nil {
		return c, err
	}
	if c.OTPPepper == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return c, fmt.Errorf("generate OTP pepper: %w", err)
		}
		c.OTPPepper, c.PepperGenerated = config.Secret(base64.RawStdEncoding.EncodeToString(b[:])), true
	}
	return c, nil
}

// LogValue lists the configuration for the start-up log line with every secret masked. (Logging the
// struct itself would not do: slog masks a Secret only where it is an attribute of its own.)
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("http_addr", c.HTTPAddr),
		slog.String("internal_addr", c.InternalAddr),
		slog.Any("mongodb_uri", c.MongoURI),
		slog.String("mongodb_database", c.MongoDatabase),
		slog.Any("kafka_brokers", c.KafkaBrokers),
		slog.String("kafka_topic_prefix", c.TopicPrefix),
		slog.Bool("kafka_create_topics", c.CreateTopics),
		slog.Bool("kafka_tls_enabled", c.KafkaTLS.Enabled),
		slog.String("kafka_sasl_mechanism", c.KafkaSASL.Mechanism),
		slog.String("kafka_sasl_username", c.KafkaSASL.Username),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("otlp_endpoint", c.OTLPEndpoint),
		slog.String("jwks_url", c.JWKSURL),
		slog.Any("internal_api_token", c.InternalToken),
		slog.Int("body_limit_bytes", c.BodyLimit),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Duration("shutdown_drain_delay", c.ShutdownDrainDelay),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.String("session_internal_url", c.SessionInternalURL),
		slog.String("profile_internal_url", c.ProfileInternalURL),
		slog.String("argon2", fmt.Sprintf("m=%d,t=%d,p=%d", c.Argon2.MemoryKiB, c.Argon2.Iterations, c.Argon2.Parallelism)),
		slog.String("argon2_bound", fmt.Sprintf("concurrent=%d queue=%d wait=%s", c.Hashing.MaxHashes, c.Hashing.MaxQueue, c.Hashing.MaxWait)),
		slog.String("password_min_length", fmt.Sprintf("%d with 2FA, %d without", c.PasswordPolicy.MinLength, c.PasswordPolicy.MinLengthWithoutSecondFactor)),
		slog.String("breached_passwords", breachedPasswordsLog(c.BreachedPasswords)),
		slog.Duration("otp_ttl", c.OTP.TTL),
		slog.Int("otp_max_attempts", c.OTP.MaxAttempts),
		slog.Duration("otp_resend_cooldown", c.OTP.ResendCooldown),
		slog.Int("otp_max_per_destination_per_hour", c.OTP.MaxPerDestinationPerHour),
		slog.Int("otp_max_per_account_per_hour", c.OTP.MaxPerAccountPerHour),
		slog.String("login_account_limit", fmt.Sprintf("%d per %s", c.LoginFailuresPerAccount.Max, c.LoginFailuresPerAccount.Window)),
		slog.String("login_ip_limit", fmt.Sprintf("%d per %s", c.LoginPerIP.Max, c.LoginPerIP.Window)),
		slog.String("otp_verify_ip_limit", fmt.Sprintf("%d per %s", c.CodeVerifyPerIP.Max, c.CodeVerifyPerIP.Window)),
		slog.String("otp_verify_account_limit", fmt.Sprintf("%d per %s", c.CodeFailuresPerAccount.Max, c.CodeFailuresPerAccount.Window)),
		slog.String("otp_send_ip_limit", fmt.Sprintf("%d per %s", c.CodeSendPerIP.Max, c.CodeSendPerIP.Window)),
		slog.String("location_header", c.LocationHeader),
		slog.String("username_lookup_ip_limit", fmt.Sprintf("%d per %s", c.UsernameLookupsPerIP.Max, c.UsernameLookupsPerIP.Window)),
		slog.Any("otp_pepper", c.OTPPepper),
		slog.Any("totp_encryption_keys", c.TOTP.raw),
		slog.String("totp_issuer", c.TOTP.Issuer),
		slog.Int("api_key_rate_per_minute", c.APIKeyRatePerMinute),
		slog.String("api_key_prefix", c.APIKeyPrefix),
		slog.Duration("api_key_default_ttl", c.APIKeyDefaultTTL),
		slog.Duration("api_key_max_ttl", c.APIKeyMaxTTL),
		slog.Any("oauth_enabled", enabledProviders(c.OAuth)),
		slog.Any("oauth_access_tokens", c.UserInfo.Enabled),
		slog.Any("oauth_github_client_secret", c.UserInfo.GitHubClientSecret),
		slog.Duration("username_change_interval", c.Usernames.ChangeInterval),
		slog.Duration("username_reservation_period", c.Usernames.Reservation),
		slog.Duration("reauth_token_ttl", c.ReauthTokenTTL),
		slog.Duration("email_change_revert_period", c.EmailRevertPeriod),
		slog.Duration("account_deletion_grace", c.Deletion.Grace),
		slog.Duration("account_deletion_check_interval", c.Deletion.CheckInterval),
		slog.String("email_change_revert_url", c.EmailRevertURL),
		slog.String("webauthn_rp_id", c.WebAuthn.RPID),
		slog.Duration("account_export_ttl", c.Export.TTL),
		slog.Duration("account_export_interval", c.Export.Interval),
		slog.Any("webauthn_rp_origins", c.WebAuthn.RPOrigins),
		c.Throttle.logValue(),
		c.NotMe.logValue(),
	)
}

func enabledProviders(cfgs []oauth.ProviderConfig) []string {
	var out []string
	for _, c := range cfgs {
		if c.Enabled() {
			out = append(out, c.Name+" ("+c.JWKSURL+")")
		}
	}
	return out
}
