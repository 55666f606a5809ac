// Package config holds the notification service's configuration: the variables every service reads
// (see docs/architecture.md) plus the ones below.
//
//	DELIVERY_DRIVER [live]            how messages leave: "live" sends SMS and WhatsApp through Twilio and
//	                                  e-mail over SMTP (each provider is on when its TWILIO_ACCOUNT_SID /
//	                                  SMTP_HOST is set; a channel without one fails permanently; neither
//	                                  set is a start-up error); "outbox" stores them, codes in plain text,
//	                                  in MongoDB's dev_outbox collection instead of sending them (local
//	                                  stack and tests only: refused unless DEVELOPMENT_MODE=true)
//	DEV_OUTBOX_ENABLED [false]        serve GET /api/v1/dev/outbox, which shows the stored messages, codes
//	                                  included; refused unless DEVELOPMENT_MODE=true; the Helm chart's
//	                                  ingress and HTTPRoute never route it
//	DEVELOPMENT_MODE [false]          allow the development-only settings above (set by the local stack,
//	                                  values-dev.yaml and the dev kustomize overlay; never in production)
//	DELIVERY_MAX_ATTEMPTS [5]         attempts of one event before it goes to the dead-letter topic
//	DELIVERY_RETRY_BASE [1s]          wait after the first failed attempt, doubled per attempt (jittered)
//	DELIVERY_RETRY_MAX [30s]          longest wait between attempts
//	DELIVERY_RETRY_AFTER_MAX [10m]    a provider's Retry-After longer than this gives up instead
//	CONSUMER_RETRY_BASE [200ms]       wait after an event's delivery failed on MongoDB or Kafka, doubled
//	CONSUMER_RETRY_MAX [5s]           per failure up to this; such an event is retried until it is
//	                                  delivered or the service stops (it is never skipped)
//	SEND_LIMIT_PER_DESTINATION [10/1h]  OTP messages one destination may receive per window ("off")
//	SEND_LIMIT_PER_COUNTRY [1000/1h]    SMS/WhatsApp OTP messages per country calling code per window
//	SEND_LIMIT_COUNTRIES []           per-country overrides, e.g. "+234=20/1h,+44=5000/1h" (0/1h blocks)
//
// Twilio (Kubernetes Secret for the token):
//
//	TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (secret)
//	TWILIO_SMS_FROM                   E.164 sender of SMS
//	TWILIO_WHATSAPP_FROM              WhatsApp sender, "whatsapp:+14155238886"
//	TWILIO_MESSAGING_SERVICE_SID      used for a channel without its own sender
//	TWILIO_STATUS_CALLBACK_URL        public URL of POST /api/v1/notifications/twilio/status, as Twilio
//	                                  calls it (through the ingress); empty: no status callbacks
//	TWILIO_API_BASE_URL []            replaces https://api.twilio.com (a proxy, or a local fake in tests)
//	TWILIO_TIMEOUT [10s]
//
// SMTP:
//
//	SMTP_HOST, SMTP_PORT [587], SMTP_USERNAME, SMTP_PASSWORD (secret), SMTP_FROM
//	SMTP_TLS [starttls]               "starttls" (mandatory STARTTLS) or "tls" (implicit TLS, port 465)
//	SMTP_TLS_CA_FILE []               PEM CAs to verify the server with instead of the system roots
//	SMTP_TLS_INSECURE_SKIP_VERIFY [false]  tests against a self-signed server only
//	SMTP_TIMEOUT [15s]
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/notification/internal/email"
	"github.com/latchkey/latchkey/services/notification/internal/messaging"
	"github.com/latchkey/latchkey/services/notification/internal/sendlimit"
)

// Service is the service name: it names the logger, the metrics and the default database.
const Service = "notification"

// Delivery drivers.
const (
	// DriverOutbox keeps messages in the dev_outbox collection instead of sending them.
	DriverOutbox = "outbox"
	// DriverLive sends through Twilio (SMS, WhatsApp) and SMTP (e-mail).
	DriverLive = "live"
)

// Config is the notification service's configuration.
type Config struct {
	config.Base
	DeliveryDriver   string
	DevOutboxEnabled bool
	DevelopmentMode  bool // DEVELOPMENT_MODE: allows the outbox driver and the dev outbox route
	MaxAttempts      int
	RetryBase        time.Duration
	RetryMax         time.Duration
	RetryAfterMax    time.Duration
	ConsumerRetry    time.Duration // CONSUMER_RETRY_BASE
	ConsumerRetryMax time.Duration // CONSUMER_RETRY_MAX
	Limits           sendlimit.Config

	Twilio          messaging.Config // on when AccountSID is set
	TwilioAuthToken config.Secret
	SMTP            email.Config // on when Host is set
	SMTPPassword    config.Secret
}

// TwilioEnabled reports whether the live driver sends SMS and WhatsApp.
func (c Config) TwilioEnabled() bool {
	return c.DeliveryDriver == DriverLive && c.Twilio.AccountSID != ""
}

// SMTPEnabled reports whether the live driver sends e-mail.
func (c Config) SMTPEnabled() bool { return c.DeliveryDriver == DriverLive && c.SMTP.Host != "" }

// Load reads the configuration and returns every problem at once.
func Load(l *config.Loader) (Config, error) {
	c := Config{
		Base:             l.LoadBase(Service, ":8084", ":9084"),
		DeliveryDriver:   l.String("DELIVERY_DRIVER", DriverLive),
		DevOutboxEnabled: l.Bool("DEV_OUTBOX_ENABLED", false),
		DevelopmentMode:  l.Bool("DEVELOPMENT_MODE", false),
		MaxAttempts:      l.Int("DELIVERY_MAX_ATTEMPTS", 5),
		RetryBase:        l.Duration("DELIVERY_RETRY_BASE", time.Second),
		RetryMax:         l.Duration("DELIVERY_RETRY_MAX", 30*time.Second),
		RetryAfterMax:    l.Duration("DELIVERY_RETRY_AFTER_MAX", 10*time.Minute),
		ConsumerRetry:    l.Duration("CONSUMER_RETRY_BASE", 200*time.Millisecond),
		ConsumerRetryMax: l.Duration("CONSUMER_RETRY_MAX", 5*time.Second),
		Twilio: messaging.Config{
			AccountSID:          l.String("TWILIO_ACCOUNT_SID", ""),
			SMSFrom:             l.String("TWILIO_SMS_FROM", ""),
			WhatsAppFrom:        l.String("TWILIO_WHATSAPP_FROM", ""),
			MessagingServiceSID: l.String("TWILIO_MESSAGING_SERVICE_SID", ""),
			StatusCallbackURL:   l.String("TWILIO_STATUS_CALLBACK_URL", ""),
			BaseURL:             l.String("TWILIO_API_BASE_URL", ""),
			Timeout:             l.Duration("TWILIO_TIMEOUT", 10*time.Second),
		},
		TwilioAuthToken: l.Secret("TWILIO_AUTH_TOKEN", ""),
		SMTP: email.Config{
			Host:               l.String("SMTP_HOST", ""),
			Port:               l.Int("SMTP_PORT", 587),
			Username:           l.String("SMTP_USERNAME", ""),
			From:               l.String("SMTP_FROM", ""),
			TLSMode:            l.String("SMTP_TLS", email.TLSStartTLS),
			CAFile:             l.String("SMTP_TLS_CA_FILE", ""),
			InsecureSkipVerify: l.Bool("SMTP_TLS_INSECURE_SKIP_VERIFY", false),
			Timeout:            l.Duration("SMTP_TIMEOUT", 15*time.Second),
		},
		SMTPPassword: l.Secret("SMTP_PASSWORD", ""),
	}
	c.Twilio.AuthToken = c.TwilioAuthToken.Value()
	c.SMTP.Password = c.SMTPPassword.Value()
	err := l.Err()
	var limErr error
	c.Limits.PerDestination, limErr = sendlimit.ParseLimit(l.String("SEND_LIMIT_PER_DESTINATION", "10/1h"))
	err = errors.Join(err, prefixed("SEND_LIMIT_PER_DESTINATION", limErr))
	c.Limits.PerCountry, limErr = sendlimit.ParseLimit(l.String("SEND_LIMIT_PER_COUNTRY", "1000/1h"))
	err = errors.Join(err, prefixed("SEND_LIMIT_PER_COUNTRY", limErr))
	c.Limits.Countries, limErr = sendlimit.ParseOverrides(l.String("SEND_LIMIT_COUNTRIES", ""))
	err = errors.Join(err, prefixed("SEND_LIMIT_COUNTRIES", limErr))

	switch c.DeliveryDriver {
	case DriverOutbox:
		if !c.DevelopmentMode {
			err = errors.Join(err, errors.New("DELIVERY_DRIVER=outbox stores one-time codes instead of sending them: "+
				"allowed only with DEVELOPMENT_MODE=true (local stack); production uses DELIVERY_DRIVER=live"))
		}
	case DriverLive:
		if !c.TwilioEnabled() && !c.SMTPEnabled() {
			err = errors.Join(err, errors.New("DELIVERY_DRIVER=live needs TWILIO_ACCOUNT_SID or SMTP_HOST"))
		}
		if c.TwilioEnabled() {
			if _, terr := messaging.New(c.Twilio); terr != nil {
				err = errors.Join(err, fmt.Errorf("TWILIO_*: %w", terr))
			}
		}
		if c.SMTPEnabled() {
			if _, serr := email.New(c.SMTP); serr != nil {
				err = errors.Join(err, fmt.Errorf("SMTP_*: %w", serr))
			}
		}
	default:
		err = errors.Join(err, fmt.Errorf("DELIVERY_DRIVER=%q: want %q or %q", c.DeliveryDriver, DriverOutbox, DriverLive))
	}
	if c.DevOutboxEnabled && !c.DevelopmentMode {
		err = errors.Join(err, errors.New("DEV_OUTBOX_ENABLED=true serves one-time codes over HTTP: allowed only with DEVELOPMENT_MODE=true (local stack)"))
	}
	if c.MaxAttempts < 1 {
		err = errors.Join(err, fmt.Errorf("DELIVERY_MAX_ATTEMPTS=%d: want at least 1", c.MaxAttempts))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		err = errors.Join(err, fmt.Errorf("DELIVERY_RETRY_BASE=%s, DELIVERY_RETRY_MAX=%s: want 0 < base <= max", c.RetryBase, c.RetryMax))
	}
	if c.ConsumerRetry <= 0 || c.ConsumerRetryMax < c.ConsumerRetry {
		err = errors.Join(err, fmt.Errorf("CONSUMER_RETRY_BASE=%s, CONSUMER_RETRY_MAX=%s: want 0 < base <= max", c.ConsumerRetry, c.ConsumerRetryMax))
	}
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

func prefixed(key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", key, err)
}

// LogValue lists the configuration for the start-up log line. Secrets go through config.Secret, which
// masks them; the struct is spelled out because a JSON-encoded struct would print them in clear.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.Base.LogAttrs(),
		slog.String("delivery_driver", c.DeliveryDriver),
		slog.Bool("dev_outbox_enabled", c.DevOutboxEnabled),
		slog.Bool("development_mode", c.DevelopmentMode),
		slog.Int("delivery_max_attempts", c.MaxAttempts),
		slog.Duration("delivery_retry_base", c.RetryBase),
		slog.Duration("delivery_retry_max", c.RetryMax),
		slog.Duration("delivery_retry_after_max", c.RetryAfterMax),
		slog.Duration("consumer_retry_base", c.ConsumerRetry),
		slog.Duration("consumer_retry_max", c.ConsumerRetryMax),
		slog.String("send_limit_per_destination", c.Limits.PerDestination.String()),
		slog.String("send_limit_per_country", c.Limits.PerCountry.String()),
		slog.Int("send_limit_countries", len(c.Limits.Countries)),
		slog.String("twilio_account_sid", c.Twilio.AccountSID),
		slog.Any("twilio_auth_token", c.TwilioAuthToken),
		slog.String("twilio_sms_from", c.Twilio.SMSFrom),
		slog.String("twilio_whatsapp_from", c.Twilio.WhatsAppFrom),
		slog.String("twilio_messaging_service_sid", c.Twilio.MessagingServiceSID),
		slog.String("twilio_status_callback_url", c.Twilio.StatusCallbackURL),
		slog.String("twilio_api_base_url", c.Twilio.BaseURL),
		slog.String("smtp_host", c.SMTP.Host),
		slog.Int("smtp_port", c.SMTP.Port),
		slog.String("smtp_username", c.SMTP.Username),
		slog.Any("smtp_password", c.SMTPPassword),
		slog.String("smtp_from", c.SMTP.From),
		slog.String("smtp_tls", c.SMTP.TLSMode),
		slog.String("smtp_tls_ca_file", c.SMTP.CAFile),
		slog.Bool("smtp_tls_insecure_skip_verify", c.SMTP.InsecureSkipVerify),
	)...)
}
