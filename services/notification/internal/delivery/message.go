package delivery

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
	"unicode"

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
	Body    string // plain text
	HTML    string // e-mail only: the HTML alternative of Body
	Lang    string // the language the message is written in
	Purpose string // the OTP purpose or the security-alert kind
	// Code is the one-time code the body contains (empty for notices and alerts). Real drivers send
	// only the body; the dev outbox keeps it apart so developers and tests can read it.
	Code string
}

// content is a message before it is laid out for a channel.
type content struct {
	subject string
	sms     string   // the whole SMS/WhatsApp text
	intro   []string // e-mail paragraphs before the code
	code    string
	outro   []string // e-mail paragraphs after the code
}

var emailHTML = template.Must(template.New("email-html").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1f2328; max-width: 560px;">
<p>{{.Greeting}}</p>
{{range .Intro}}<p>{{.}}</p>
{{end}}{{if .Code}}<p style="font-size: 28px; font-weight: bold; letter-spacing: 6px; font-family: monospace;">{{.Code}}</p>
{{end}}{{range .Outro}}<p>{{.}}</p>
{{end}}</body>
</html>
`))

// Compose renders the messages of a dispatch: one per channel (two for SMS_AND_WHATSAPP), in the
// dispatch's locale or English. An OTP message holds the code, the masked destination and the expiry in
// minutes, and no other secret; an alert holds no secret at all.
func Compose(d Dispatch, now time.Time) ([]Message, error) {
	channels, err := channelsOf(d.Channel)
	if err != nil {
		return nil, err
	}
	to := NormalizeDestination(d.Destination)
	if to == "" {
		return nil, invalid("empty destination")
	}
	for _, ch := range channels {
		if ch == ChannelEmail && !strings.Contains(to, "@") {
			return nil, invalid("channel EMAIL needs an e-mail address")
		}
		if ch != ChannelEmail && (strings.Contains(to, "@") || !isPhoneNumber(to)) {
			return nil, invalid("channel %s needs an E.164 phone number", ch)
		}
	}
	c, lang, err := render(d, MaskDestination(to), now)
	if err != nil {
		return nil, err
	}

	msgs := make([]Message, 0, len(channels))
	for _, ch := range channels {
		m := Message{
			ID: d.EventID + ":" + strings.ToLower(ch), EventID: d.EventID, Channel: ch, To: to,
			Body: c.sms, Purpose: d.Purpose, Code: d.Code, Lang: lang,
		}
		if ch == ChannelEmail {
			greeting := catalogsFor(lang)[0].greeting
			m.Subject = c.subject
			m.Body = emailText(greeting, c)
			var html strings.Builder
			err := emailHTML.Execute(&html, map[string]any{
				"Lang": lang, "Subject": c.subject, "Greeting": greeting, "Intro": c.intro, "Code": c.code, "Outro": c.outro,
			})
			if err != nil {
				return nil, fmt.Errorf("render e-mail for %s: %w", d.Purpose, err)
			}
			m.HTML = html.String()
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// render picks the wording of the dispatch's purpose (or alert kind) in the first language that has it.
func render(d Dispatch, maskedTo string, now time.Time) (content, string, error) {
	if d.Alert {
		if d.Code != "" {
			return content{}, "", invalid("security alert %q carries a code", d.Purpose)
		}
		for _, cat := range catalogsFor(d.Locale) {
			a, ok := cat.alerts[d.Purpose]
			if !ok {
				continue
			}
			details := cleanDetails(d.Details)
			sentence := a.sentence(details)
			return content{subject: a.subject, sms: cat.alertSMS(sentence), intro: []string{sentence}, outro: withNotMeLink(cat.lang, details, cat.alertOutro)}, cat.lang, nil
		}
		return content{}, "", invalid("unknown security alert kind %q", d.Purpose)
	}
	for _, cat := range catalogsFor(d.Locale) {
		if n, ok := cat.notices[d.Purpose]; ok {
			if d.Code != "" {
				// A notice has no code; refusing one that carries a code keeps a code from being sent
				// with wording that does not tell the reader what it is for.
				return content{}, "", invalid("purpose %q carries no code", d.Purpose)
			}
			return content{subject: n.subject, sms: n.sms(maskedTo), intro: n.body(maskedTo)}, cat.lang, nil
		}
		p, ok := cat.purposes[d.Purpose]
		if !ok {
			continue
		}
		if d.Code == "" {
			return content{}, "", invalid("purpose %q needs a code", d.Purpose)
		}
		if d.ExpiresAt.IsZero() {
			return content{}, "", invalid("purpose %q needs an expiry", d.Purpose)
		}
		expiry := cat.minutes(minutesLeft(d.ExpiresAt.Sub(now)))
		return content{
			subject: p.subject, sms: cat.otpSMS(d.Code, p.action, maskedTo, expiry),
			intro: []string{cat.otpIntro(p.action, maskedTo)}, code: d.Code, outro: cat.otpOutro(expiry),
		}, cat.lang, nil
	}
	return content{}, "", invalid("unknown purpose %q", d.Purpose)
}

func emailText(greeting string, c content) string {
	var b strings.Builder
	b.WriteString(greeting + "\n\n")
	for _, p := range c.intro {
		b.WriteString(p + "\n\n")
	}
	if c.code != "" {
		b.WriteString("    " + c.code + "\n\n")
	}
	for _, p := range c.outro {
		b.WriteString(p + "\n\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// maxDetailLength bounds a detail shown in an alert: details such as the device name come from a
// client's User-Agent, so they are cut short and stripped of control characters and links' schemes.
const maxDetailLength = 64

func cleanDetails(details map[string]string) alertDetails {
	return alertDetails{
		Device: cleanDetail(details["device"]), Platform: cleanDetail(details["platform"]),
		IPAddress: cleanDetail(details["ipAddress"]), Provider: cleanDetail(details["provider"]),
		Email: cleanDetail(details["email"]),
		Phone: cleanDetail(details["phone"]), PreviousPhone: cleanDetail(details["previousPhone"]),
		KeyName: cleanDetail(details["name"]), KeyPrefix: cleanDetail(details["prefix"]),
		RevertURL: revertLink(details["revertUrl"]), RevertDays: digitsOnly(details["revertDays"]),
		PasswordReset: details["passwordReset"] == "true",
		Remaining:     digitsOnly(details["remaining"]),
		NotMeURL:      revertLink(details["notMeUrl"]), Reported: cleanDetail(details["reported"]),
		ReportedAt: reportedAt(details["at"]), KeysRevoked: digitsOnly(details["apiKeysRevoked"]),
		SessionEnded: details["sessionEnded"] == "true", DeviceForgotten: details["deviceForgotten"] == "true",
		DeleteAt: deletionDate(details["deleteAt"]),
	}
}

// maxRevertURL bounds the revert link of an e-mail change alert.
const maxRevertURL = 512

// revertLink returns the revert link of an e-mail change alert when it is a plain http(s) URL, else
// "". Unlike other details it is written by identity (from its configured page and a random token),
// never by a client, so it keeps its scheme; anything odd in it drops the link, not the alert.
func revertLink(raw string) string {
	if raw == "" || len(raw) > maxRevertURL || strings.ContainsFunc(raw, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) || r == '<' || r == '>' || r == '"' || r == '\''
	}) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return raw
}

// digitsOnly returns s when it is a short number, else "".
func digitsOnly(s string) string {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return ""
	}
	return s
}

func cleanDetail(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
	s = strings.NewReplacer("https://", "", "http://", "").Replace(strings.TrimSpace(s))
	if r := []rune(s); len(r) > maxDetailLength {
		s = string(r[:maxDetailLength]) + "…"
	}
	return s
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

// minutesLeft is a remaining lifetime in whole minutes, rounded up, never below one.
func minutesLeft(d time.Duration) int {
	return max(1, int((d+time.Minute-1)/time.Minute))
}

// isPhoneNumber reports whether to looks like an E.164 number: '+' then 8 to 15 digits. Numbers
// without the '+' are accepted too (the account API stores them as given) when all digits.
func isPhoneNumber(to string) bool {
	digits := strings.TrimPrefix(to, "+")
	return len(digits) >= 5 && len(digits) <= 15 && strings.Trim(digits, "0123456789") == ""
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
