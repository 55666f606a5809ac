// Package messaging is the SMS and WhatsApp delivery driver: it sends messages through Twilio's
// Messaging API with github.com/twilio/twilio-go, and tells transient provider failures (5xx,
// timeouts, 429 with its Retry-After) from permanent ones (an invalid number, an unsubscribed
// recipient), which delivery uses to decide whether to retry.
//
// A WhatsApp message goes to "whatsapp:<number>" from the WhatsApp sender ("whatsapp:+1..."); when a
// channel has no sender number, the Messaging Service (MessagingServiceSid) picks one.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go"
	twclient "github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// Config is the Twilio account and senders.
type Config struct {
	AccountSID          string
	AuthToken           string
	SMSFrom             string // E.164 sender of SMS, or empty to use the Messaging Service
	WhatsAppFrom        string // "whatsapp:+..." (the prefix is added when missing), or empty
	MessagingServiceSID string // used for a channel without its own sender
	StatusCallbackURL   string // where Twilio posts status updates; empty: none
	// BaseURL replaces https://api.twilio.com (scheme and host) when set: a regional proxy, or a local
	// server in tests.
	BaseURL string
	Timeout time.Duration // one request (default 10s)
}

// Sender sends SMS and WhatsApp messages through Twilio. It implements delivery.Sender.
type Sender struct {
	cfg       Config
	base      *url.URL
	transport http.RoundTripper
}

// New checks cfg and returns a Sender.
func New(cfg Config) (*Sender, error) {
	var errs []error
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		errs = append(errs, errors.New("twilio: account SID and auth token are required"))
	}
	if !alphanumeric(cfg.AccountSID) || !alphanumeric(cfg.AuthToken) {
		// twilio-go refuses other characters in the credentials on every request.
		errs = append(errs, errors.New("twilio: account SID and auth token must be letters and digits only"))
	}
	if cfg.SMSFrom == "" && cfg.WhatsAppFrom == "" && cfg.MessagingServiceSID == "" {
		errs = append(errs, errors.New("twilio: a sender number or a Messaging Service SID is required"))
	}
	if cfg.WhatsAppFrom != "" && !strings.HasPrefix(cfg.WhatsAppFrom, "whatsapp:") {
		cfg.WhatsAppFrom = "whatsapp:" + cfg.WhatsAppFrom
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	s := &Sender{cfg: cfg, transport: http.DefaultTransport}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("twilio: base URL %q is not an absolute URL", cfg.BaseURL))
		}
		s.base = u
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Send creates the message with Twilio and returns its SID.
func (s *Sender) Send(ctx context.Context, m delivery.Message) (string, error) {
	params := &openapi.CreateMessageParams{}
	params.SetBody(m.Body)
	from := s.cfg.SMSFrom
	to := m.To
	switch m.Channel {
	case delivery.ChannelSMS:
	case delivery.ChannelWhatsApp:
		from, to = s.cfg.WhatsAppFrom, "whatsapp:"+m.To
	default:
		return "", delivery.Permanent(fmt.Errorf("twilio cannot send %s messages", m.Channel))
	}
	params.SetTo(to)
	switch {
	case from != "":
		params.SetFrom(from)
	case s.cfg.MessagingServiceSID != "":
		params.SetMessagingServiceSid(s.cfg.MessagingServiceSID)
	default:
		return "", delivery.Permanent(fmt.Errorf("no %s sender configured", m.Channel))
	}
	if s.cfg.StatusCallbackURL != "" {
		params.SetStatusCallback(s.cfg.StatusCallbackURL)
	}

	// A client per send: the transport sees this call's context and records the answer's status and
	// Retry-After, which twilio-go's error does not carry.
	rt := &recordingTransport{ctx: ctx, base: s.base, next: s.transport}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(s.cfg.AccountSID, s.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport: rt, Timeout: s.cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(s.cfg.AccountSID)
	rest := twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
	msg, err := rest.Api.CreateMessage(params)
	if err != nil {
		return "", classify(err, rt.result())
	}
	if msg.Sid == nil || *msg.Sid == "" {
		return "", delivery.Transient(errors.New("twilio answered without a message SID"), 0)
	}
	if msg.Status != nil && (*msg.Status == "failed" || *msg.Status == "undelivered") {
		return *msg.Sid, delivery.Permanent(fmt.Errorf("twilio message %s is %s", *msg.Sid, *msg.Status))
	}
	return *msg.Sid, nil
}

// answer is what the transport saw of Twilio's answer.
type answer struct {
	status     int
	retryAfter time.Duration
	netErr     error
}

// classify turns a twilio-go error into a delivery.SendError.
func classify(err error, a answer) error {
	status := a.status
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		if status == 0 {
			status = rest.Status
		}
		// Twilio's codes for an invalid or unreachable 'To', a blocked or unsubscribed recipient.
		switch rest.Code {
		case 21211, 21408, 21610, 21612, 21614, 63003, 63024:
			return delivery.Permanent(fmt.Errorf("twilio: %w", err))
		}
	}
	switch {
	case a.netErr != nil || status == 0:
		return delivery.Transient(fmt.Errorf("twilio: %w", err), 0)
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return delivery.Transient(fmt.Errorf("twilio: %w", err), a.retryAfter)
	default:
		return delivery.Permanent(fmt.Errorf("twilio: %w", err))
	}
}

// recordingTransport sends twilio-go's requests with the send's context, to BaseURL when set, and
// remembers the status and Retry-After of the answer.
type recordingTransport struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper

	mu sync.Mutex
	a  answer
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(t.ctx)
	if t.base != nil {
		req.URL.Scheme, req.URL.Host = t.base.Scheme, t.base.Host
		req.URL.Path = strings.TrimSuffix(t.base.Path, "/") + req.URL.Path
		req.Host = t.base.Host
	}
	resp, err := t.next.RoundTrip(req)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.a.netErr = err // refused, reset, timed out: worth another try
		return nil, err
	}
	t.a.status = resp.StatusCode
	t.a.retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return resp, nil
}

func (t *recordingTransport) result() answer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.a
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date. It returns zero when the
// header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return max(0, time.Duration(secs)*time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}

func alphanumeric(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
