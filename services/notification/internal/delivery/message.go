package delivery

import (
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Channels a single message goes out on. An OTP dispatch may ask for SMS_AND_WHATSAPP, which becomes
// one message per channel.
const (
	ChannelSMS      = events.ChannelSMS
	ChannelWhatsApp = events.ChannelWhatsApp
	ChannelEmail    = events.ChannelEmail
)

// Message is one message to one destination on one channel.
type Message struct {
	// ID is stable for a given event and channel (eventId:channel), so a driver can use it as its own
	// idempotency key when a send is retried.
	ID      string
	EventID string
	Channel string
	To      string
	Subject string // e-mail only
	Body    string
	Purpose string
	// Code is the one-time code the body contains (empty for notices). Real drivers send only the
	// body; the dev outbox keeps it apart so developers and tests can read it.
	Code string
}

// wording is what differs between purposes. A purpose with an empty action is a notice: it carries
// no code and uses noticeSMS/noticeEmail.
type wording struct {
	subject     string
	action      string // completes "Use this code ..."
	noticeSMS   *template.Template
	noticeEmail *template.Template
}

var (
	otpSMS = template.Must(template.New("otp-sms").Parse(
		"Latchkey: {{.Code}} is your code {{.Action}} ({{.To}}). It expires in {{.Expiry}}. Never share it with anyone."))
	otpEmail = template.Must(template.New("otp-email").Parse(`Hello,

Use this code {{.Action}} ({{.To}}):

    {{.Code}}

The code expires in {{.Expiry}}. Never share it with anyone: Latchkey will never ask you for it.

If you did not ask for this code, you can ignore this email.
`))
	existingSMS = template.Must(template.New("existing-sms").Parse(
		"Latchkey: someone tried to register with {{.To}}. You already have an account: sign in or reset your password. If it wasn't you, ignore this message."))
	existingEmail = template.Must(template.New("existing-email").Parse(`Hello,

Someone tried to register a new Latchkey account with {{.To}}. You already have an account: sign in, or reset your password if you have forgotten it.

If it wasn't you, you can ignore this email. Nothing has changed in your account.
`))
)

// templates holds the wording by locale and purpose. Only English exists so far; every other locale
// falls back to it.
var templates = map[string]map[string]wording{
	"en": {
		events.PurposeRegistration:       {subject: "Your Latchkey registration code", action: "to finish registering"},
		events.PurposeDeviceVerification: {subject: "Verify your new device", action: "to verify a new device signing in to your account"},
		events.PurposeTwoFactor:          {subject: "Your Latchkey sign-in code", action: "to finish signing in"},
		events.PurposePasswordReset:      {subject: "Reset your Latchkey password", action: "to reset your password"},
		events.PurposePasswordChange:     {subject: "Confirm your password change", action: "to confirm your password change"},
		events.PurposeEmailVerification:  {subject: "Verify your email address", action: "to verify your email address"},
		events.PurposePhoneVerification:  {subject: "Verify your phone number", action: "to verify your phone number"},
		events.PurposeReauthentication:   {subject: "Confirm it's you", action: "to confirm a change to your account's security"},
		events.PurposeRegistrationExisting: {
			subject: "You already have a Latchkey account", noticeSMS: existingSMS, noticeEmail: existingEmail,
		},
	},
}

const defaultLocale = "en"

// wordingFor returns the wording of a purpose in a locale ("de-AT" tries "de-AT", "de", then English).
func wordingFor(locale, purpose string) (wording, bool) {
	for _, l := range []string{locale, strings.SplitN(locale, "-", 2)[0], defaultLocale} {
		if w, ok := templates[strings.ToLower(l)][purpose]; ok {
			return w, true
		}
	}
	return wording{}, false
}

// Compose renders the messages of a dispatch: one per channel (two for SMS_AND_WHATSAPP). An OTP
// message holds the code, the masked destination and the expiry in minutes, and no other secret.
func Compose(d Dispatch, now time.Time) ([]Message, error) {
	channels, err := channelsOf(d.Channel)
	if err != nil {
		return nil, err
	}
	w, ok := wordingFor(d.Locale, d.Purpose)
	if !ok {
		return nil, invalid("unknown purpose %q", d.Purpose)
	}
	to := NormalizeDestination(d.Destination)
	if to == "" {
		return nil, invalid("empty destination")
	}
	notice := w.action == ""
	if notice && d.Code != "" {
		// A notice has no code; refusing one that carries a code keeps a code from being sent with
		// wording that does not tell the reader what it is for.
		return nil, invalid("purpose %q carries no code", d.Purpose)
	}
	if !notice && d.Code == "" {
		return nil, invalid("purpose %q needs a code", d.Purpose)
	}
	if !notice && d.ExpiresAt.IsZero() {
		return nil, invalid("purpose %q needs an expiry", d.Purpose)
	}
	data := struct{ Code, Action, To, Expiry string }{
		Code: d.Code, Action: w.action, To: MaskDestination(to), Expiry: minutes(d.ExpiresAt.Sub(now)),
	}

	msgs := make([]Message, 0, len(channels))
	for _, ch := range channels {
		if ch == ChannelEmail && !strings.Contains(to, "@") {
			return nil, invalid("channel EMAIL needs an e-mail address")
		}
		if ch != ChannelEmail && strings.Contains(to, "@") {
			return nil, invalid("channel %s needs a phone number", ch)
		}
		tmpl := otpSMS
		switch {
		case notice && ch == ChannelEmail:
			tmpl = w.noticeEmail
		case notice:
			tmpl = w.noticeSMS
		case ch == ChannelEmail:
			tmpl = otpEmail
		}
		var body strings.Builder
		if err := tmpl.Execute(&body, data); err != nil {
			return nil, fmt.Errorf("render %s message for %s: %w", ch, d.Purpose, err)
		}
		m := Message{
			ID: d.EventID + ":" + strings.ToLower(ch), EventID: d.EventID, Channel: ch, To: to,
			Body: body.String(), Purpose: d.Purpose, Code: d.Code,
		}
		if ch == ChannelEmail {
			m.Subject = w.subject
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func channelsOf(channel string) ([]string, error) {
	switch channel {
	case events.ChannelSMS, events.ChannelWhatsApp, events.ChannelEmail:
		return []string{channel}, nil
	case events.ChannelSMSAndWhatsApp:
		return []string{events.ChannelSMS, events.ChannelWhatsApp}, nil
	}
	return nil, invalid("unknown channel %q", channel)
}

// minutes renders a remaining lifetime in whole minutes, rounded up, never below one.
func minutes(d time.Duration) string {
	n := int((d + time.Minute - 1) / time.Minute)
	if n <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// NormalizeDestination is the form destinations are stored and looked up in: trimmed, and e-mail
// addresses lower-cased. Phone numbers are kept as given.
func NormalizeDestination(to string) string {
	to = strings.TrimSpace(to)
	if strings.Contains(to, "@") {
		return strings.ToLower(to)
	}
	return to
}

// MaskDestination hides most of an address, so a message seen over someone's shoulder (or on a lock
// screen) does not give the destination away: "j***@example.com", "+*******4567".
func MaskDestination(to string) string {
	if at := strings.LastIndexByte(to, '@'); at >= 0 {
		local, domain := to[:at], to[at:]
		if local == "" {
			return "***" + domain
		}
		r := []rune(local)
		return string(r[0]) + "***" + domain
	}
	digits := 0
	for _, r := range to {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	keep := 4
	if digits < 8 {
		keep = 2
	}
	var b strings.Builder
	seen := 0
	for _, r := range to {
		switch {
		case r >= '0' && r <= '9':
			seen++
			if digits-seen < keep {
				b.WriteRune(r)
			} else {
				b.WriteByte('*')
			}
		case r == '+':
			b.WriteRune(r)
		}
	}
	return b.String()
}
