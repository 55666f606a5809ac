// Package email is the e-mail delivery driver: it sends multipart messages (plain text and HTML)
// over SMTP with github.com/wneessen/go-mail, always encrypted (STARTTLS, or TLS from the first byte)
// and authenticated when credentials are configured. The server's certificate is verified against the
// system roots, or a CA file; skipping the check is a test-only option.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which must succeed (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// Config is the SMTP server and the sender.
type Config struct {
	Host     string
	Port     int
	Username string // empty: no authentication
	Password string
	From     string // "Latchkey <no-reply@example.com>"
	TLSMode  string // TLSStartTLS (default) or TLSImplicit
	// CAFile is a PEM file of CAs to verify the server with instead of the system roots.
	CAFile string
	// InsecureSkipVerify accepts any certificate. Only for tests against a self-signed server.
	InsecureSkipVerify bool
	Timeout            time.Duration // one connection and send (default 15s)
}

// Sender sends e-mail over SMTP. It implements delivery.Sender.
type Sender struct {
	cfg  Config
	opts []mail.Option
}

// New checks cfg and returns a Sender.
func New(cfg Config) (*Sender, error) {
	var errs []error
	if cfg.Host == "" {
		errs = append(errs, errors.New("smtp: host is required"))
	}
	if cfg.From == "" {
		errs = append(errs, errors.New("smtp: sender address is required"))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	tlsConfig := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // off unless configured for tests
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("smtp: read CA file: %w", err))
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("smtp: CA file %s holds no PEM certificate", cfg.CAFile))
			}
			tlsConfig.RootCAs = pool
		}
	}
	opts := []mail.Option{mail.WithPort(cfg.Port), mail.WithTimeout(cfg.Timeout), mail.WithTLSConfig(tlsConfig)}
	switch cfg.TLSMode {
	case "", TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	default:
		errs = append(errs, fmt.Errorf("smtp: TLS mode %q: want %q or %q", cfg.TLSMode, TLSStartTLS, TLSImplicit))
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Sender{cfg: cfg, opts: opts}, nil
}

// Send delivers the message to the SMTP server and returns the Message-ID it was sent with.
func (s *Sender) Send(ctx context.Context, m delivery.Message) (string, error) {
	if m.Channel != delivery.ChannelEmail {
		return "", delivery.Permanent(fmt.Errorf("smtp cannot send %s messages", m.Channel))
	}
	msg := mail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return "", delivery.Permanent(fmt.Errorf("smtp: sender %q: %w", s.cfg.From, err))
	}
	if err := msg.To(m.To); err != nil {
		return "", delivery.Permanent(fmt.Errorf("smtp: recipient: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	// The delivery's message id makes the Message-ID, so a resent copy can be recognised as one.
	messageID := m.ID + "@latchkey"
	msg.SetMessageIDWithValue(messageID)
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}

	client, err := mail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return "", delivery.Permanent(fmt.Errorf("smtp client: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) && !se.IsTemp() {
			return "", delivery.Permanent(fmt.Errorf("smtp: %w", err))
		}
		return "", delivery.Transient(fmt.Errorf("smtp: %w", err), 0)
	}
	return "<" + messageID + ">", nil
}
