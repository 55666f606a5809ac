package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
	"github.com/latchkey/latchkey/services/notification/internal/providertest"
	"github.com/latchkey/latchkey/services/notification/internal/store"
)

const (
	smsFrom     = "+15005550006"
	waFrom      = "whatsapp:+14155238886"
	callbackURL = "https://api.latchkey.test/api/v1/notifications/twilio/status"
	waitLong    = 30 * time.Second
)

// live is the real service with the live driver: twilio-go talks to a local Twilio, go-mail to a
// local SMTP server with STARTTLS and AUTH, on the test's database and topics.
type live struct {
	env      *testenv.Env
	db       *mongo.Database
	twilio   *providertest.Twilio
	smtp     *providertest.SMTP
	producer *kafkax.Producer
	vars     map[string]string
	svc      *service
}

func newLive(t *testing.T, extra map[string]string) *live {
	t.Helper()
	env := testenv.New(t)
	l := &live{env: env, db: env.Database("notification"), twilio: providertest.NewTwilio(t), smtp: providertest.NewSMTP(t)}
	l.vars = map[string]string{
		"DELIVERY_DRIVER":            "live",
		"DEVELOPMENT_MODE":           "false", // live delivery is the production setting
		"TWILIO_ACCOUNT_SID":         providertest.TwilioAccountSID,
		"TWILIO_AUTH_TOKEN":          providertest.TwilioAuthToken,
		"TWILIO_SMS_FROM":            smsFrom,
		"TWILIO_WHATSAPP_FROM":       waFrom,
		"TWILIO_STATUS_CALLBACK_URL": callbackURL,
		"TWILIO_API_BASE_URL":        l.twilio.URL,
		"SMTP_HOST":                  l.smtp.Host,
		"SMTP_PORT":                  strconv.Itoa(l.smtp.Port),
		"SMTP_USERNAME":              providertest.SMTPUsername,
		"SMTP_PASSWORD":              providertest.SMTPPassword,
		"SMTP_FROM":                  "Latchkey <no-reply@latchkey.test>",
		"SMTP_TLS_CA_FILE":           l.smtp.CAFile,
		"DELIVERY_MAX_ATTEMPTS":      "4",
		"DELIVERY_RETRY_BASE":        "50ms",
		"DELIVERY_RETRY_MAX":         "200ms",
	}
	for k, v := range extra {
		l.vars[k] = v
	}
	l.producer = kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	t.Cleanup(func() { _ = l.producer.Close() })
	l.svc = startWith(t, env, l.vars)
	return l
}

func (l *live) restart(t *testing.T) {
	t.Helper()
	l.svc.stop(t)
	l.svc = startWith(t, l.env, l.vars)
}

func (l *live) publish(t *testing.T, topic string, ev events.Envelope) {
	t.Helper()
	if err := l.producer.Publish(context.Background(), topic, ev); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func otpEvent(t *testing.T, accountID, channel, to, code string, expiresIn time.Duration) events.Envelope {
	t.Helper()
	ev, err := events.New(events.TypeOTPDispatch, accountID, events.OTPDispatch{
		Purpose: events.PurposeTwoFactor, Channel: channel, Destination: to, Code: code, ExpiresAt: time.Now().Add(expiresIn),
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func alertEvent(t *testing.T, accountID string, a events.SecurityAlert) events.Envelope {
	t.Helper()
	ev, err := events.New(events.TypeSecurityAlert, accountID, a)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// sentinel publishes an SMS code for accountID (same partition as its earlier events) and waits for
// it: every event published before it has been handled.
func (l *live) sentinel(t *testing.T, accountID string) {
	t.Helper()
	to := "+1555999" + strconv.Itoa(int(time.Now().UnixNano()%10000) + 10000)[1:]
	l.publish(t, events.TopicOTPDispatch, otpEvent(t, accountID, events.ChannelSMS, to, "000000", time.Hour))
	if !eventually(waitLong, func() bool { return len(l.twilio.Messages(to)) == 1 }) {
		t.Fatal("the sentinel was never delivered")
	}
}

// record returns an event's delivery record, or nil.
func (l *live) record(t *testing.T, coll, id string) bson.M {
	t.Helper()
	var doc bson.M
	if err := l.db.Collection(coll).FindOne(context.Background(), bson.M{"_id": id}).Decode(&doc); err != nil {
		return nil
	}
	return doc
}

// deadLetters reads a dead-letter topic from the start, in the background.
func (l *live) deadLetters(t *testing.T, topic string) func() []events.Envelope {
	t.Helper()
	var (
		mu  sync.Mutex
		got []events.Envelope
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = kafkax.RunBroadcast(ctx, kafkax.Cluster{Brokers: l.env.Brokers}, kafkax.Topic(l.env.TopicPrefix, topic), time.Now().Add(-time.Hour), func(_ context.Context, ev events.Envelope) error {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []events.Envelope {
		mu.Lock()
		defer mu.Unlock()
		return append([]events.Envelope(nil), got...)
	}
}

func deadLetterOf(t *testing.T, letters []events.Envelope, eventID string) *events.DeadLetter {
	t.Helper()
	for _, ev := range letters {
		if ev.EventID == eventID && ev.Type == events.TypeDeadLetter {
			var dl events.DeadLetter
			if err := ev.Decode(&dl); err != nil {
				t.Fatal(err)
			}
			return &dl
		}
	}
	return nil
}

func TestLiveDelivery(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil)
	otpDead := l.deadLetters(t, events.TopicOTPDispatchDLQ)
	alertDead := l.deadLetters(t, events.TopicAccountEventsDLQ)

	t.Run("each channel", func(t *testing.T) {
		for _, tc := range []struct {
			channel, to string
			wantTwilio  []string // To addresses Twilio must receive
			wantMail    bool
			wantMasked  string
		}{
			{events.ChannelSMS, "+15551230001", []string{"+15551230001"}, false, "+*******0001"},
			{events.ChannelWhatsApp, "+15551230002", []string{"whatsapp:+15551230002"}, false, "+*******0002"},
			{events.ChannelSMSAndWhatsApp, "+15551230003", []string{"+15551230003", "whatsapp:+15551230003"}, false, "+*******0003"},
			{events.ChannelEmail, "Jane.Doe@Example.com", nil, true, "j***@example.com"},
		} {
			t.Run(tc.channel, func(t *testing.T) {
				ev := otpEvent(t, "acc-"+tc.channel, tc.channel, tc.to, "482913", 10*time.Minute)
				l.publish(t, events.TopicOTPDispatch, ev)
				for _, to := range tc.wantTwilio {
					if !eventually(waitLong, func() bool { return len(l.twilio.Messages(to)) == 1 }) {
						t.Fatalf("Twilio never got the message for %s (problems %v)", to, l.twilio.Problems())
					}
					m := l.twilio.Messages(to)[0]
					wantFrom := smsFrom
					if strings.HasPrefix(to, "whatsapp:") {
						wantFrom = waFrom
					}
					if m.From != wantFrom || m.StatusCallback != callbackURL {
						t.Errorf("Twilio got %+v", m)
					}
					for _, want := range []string{"482913", tc.wantMasked, "10 minutes"} {
						if !strings.Contains(m.Body, want) {
							t.Errorf("body %q lacks %q", m.Body, want)
						}
					}
					channel := "sms"
					if strings.HasPrefix(to, "whatsapp:") {
						channel = "whatsapp"
					}
					id := ev.EventID + ":" + channel
					if !eventually(waitLong, func() bool {
						rec := l.record(t, store.MessagesCollection, id)
						return rec != nil && rec["status"] == "sent" && rec["providerMessageId"] == m.SID
					}) {
						t.Errorf("message record = %v, want sent with SID %s", l.record(t, store.MessagesCollection, id), m.SID)
					}
				}
				if tc.wantMail {
					to := "jane.doe@example.com"
					if !eventually(waitLong, func() bool { return len(l.smtp.Mails(to)) == 1 }) {
						t.Fatal("the SMTP server never got the mail")
					}
					m := l.smtp.Mails(to)[0]
					if m.Subject != "Your Latchkey sign-in code" || !strings.Contains(m.Text, "482913") || !strings.Contains(m.HTML, "482913") ||
						!strings.Contains(m.Text, tc.wantMasked) || !strings.Contains(m.Text, "10 minutes") {
						t.Errorf("mail: subject %q text %q html %q", m.Subject, m.Text, m.HTML)
					}
				}
				if !eventually(waitLong, func() bool { r := l.record(t, store.Collection, ev.EventID); return r != nil && r["status"] == "sent" }) {
					t.Errorf("delivery record = %v, want sent", l.record(t, store.Collection, ev.EventID))
				}
				raw, _ := json.Marshal(l.record(t, store.Collection, ev.EventID))
				if strings.Contains(string(raw), "482913") {
					t.Errorf("the delivery record holds the code: %s", raw)
				}
			})
		}
	})

	t.Run("security alert; other account events skipped", func(t *testing.T) {
		updated, err := events.New(events.TypeAccountUpdated, "acc-alert", events.AccountSnapshot{Version: 1, Email: "alert@example.com", Status: events.AccountStatusActive})
		if err != nil {
			t.Fatal(err)
		}
		l.publish(t, events.TopicAccountEvents, updated)
		alert := alertEvent(t, "acc-alert", events.SecurityAlert{
			Kind: events.AlertNewDeviceSignIn, Channel: events.ChannelEmail, Destination: "alert@example.com", Locale: "de-DE",
			Details: map[string]string{"device": "Firefox on Linux", "ipAddress": "203.0.113.7"},
		})
		l.publish(t, events.TopicAccountEvents, alert)
		if !eventually(waitLong, func() bool { return len(l.smtp.Mails("alert@example.com")) == 1 }) {
			t.Fatal("the alert never arrived")
		}
		m := l.smtp.Mails("alert@example.com")[0]
		if m.Subject != "Neue Anmeldung bei deinem Latchkey-Konto" || !strings.Contains(m.Text, "Firefox on Linux") || !strings.Contains(m.HTML, "203.0.113.7") {
			t.Errorf("alert mail: subject %q text %q", m.Subject, m.Text)
		}
		if r := l.record(t, store.Collection, updated.EventID); r != nil {
			t.Errorf("account.updated got a delivery record: %v", r)
		}
		if r := l.record(t, store.Collection, alert.EventID); r == nil || r["kind"] != "alert" || r["purpose"] != events.AlertNewDeviceSignIn {
			t.Errorf("alert record = %v", r)
		}
	})

	t.Run("duplicate events send once", func(t *testing.T) {
		ev := otpEvent(t, "acc-dup", events.ChannelSMS, "+15551230010", "111111", 10*time.Minute)
		for range 3 {
			l.publish(t, events.TopicOTPDispatch, ev)
		}
		l.sentinel(t, "acc-dup")
		if got := l.twilio.Requests("+15551230010"); got != 1 {
			t.Errorf("Twilio got %d requests, want 1", got)
		}
	})

	t.Run("expired code is not sent", func(t *testing.T) {
		ev := otpEvent(t, "acc-exp", events.ChannelSMS, "+15551230011", "222222", -time.Second)
		l.publish(t, events.TopicOTPDispatch, ev)
		l.sentinel(t, "acc-exp")
		if got := l.twilio.Requests("+15551230011"); got != 0 {
			t.Errorf("Twilio got %d requests, want none", got)
		}
		if r := l.record(t, store.Collection, ev.EventID); r == nil || r["status"] != "expired" {
			t.Errorf("record = %v, want expired", r)
		}
	})

	t.Run("transient failures then success", func(t *testing.T) {
		l.twilio.Script("+15551230012",
			providertest.TwilioAnswer{Status: 503, Code: 20503, Message: "Service Unavailable"},
			providertest.TwilioAnswer{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "1"})
		ev := otpEvent(t, "acc-retry", events.ChannelSMS, "+15551230012", "333333", 10*time.Minute)
		l.publish(t, events.TopicOTPDispatch, ev)
		if !eventually(waitLong, func() bool { r := l.record(t, store.Collection, ev.EventID); return r != nil && r["status"] == "sent" }) {
			t.Fatalf("record = %v, want sent", l.record(t, store.Collection, ev.EventID))
		}
		if got, req := len(l.twilio.Messages("+15551230012")), l.twilio.Requests("+15551230012"); got != 1 || req != 3 {
			t.Errorf("Twilio accepted %d of %d requests, want 1 of 3", got, req)
		}
		if r := l.record(t, store.Collection, ev.EventID); r["attempts"] != int32(3) {
			t.Errorf("attempts = %v, want 3", r["attempts"])
		}
	})

	t.Run("permanent failure goes to the dead-letter topic", func(t *testing.T) {
		l.twilio.Script("+15551230013", providertest.TwilioAnswer{Status: 400, Code: 21211, Message: "Invalid 'To' Phone Number"})
		ev := otpEvent(t, "acc-perm", events.ChannelSMS, "+15551230013", "444444", 10*time.Minute)
		l.publish(t, events.TopicOTPDispatch, ev)
		var dl *events.DeadLetter
		if !eventually(waitLong, func() bool { dl = deadLetterOf(t, otpDead(), ev.EventID); return dl != nil }) {
			t.Fatal("no dead letter")
		}
		if !strings.Contains(dl.Reason, "21211") || dl.Topic != events.TopicOTPDispatch || dl.EventType != events.TypeOTPDispatch || dl.Attempts != 1 {
			t.Errorf("dead letter = %+v", dl)
		}
		if strings.Contains(string(dl.Payload), "444444") || !strings.Contains(string(dl.Payload), "+15551230013") {
			t.Errorf("dead letter payload %s: want the dispatch without its code", dl.Payload)
		}
		if got := l.twilio.Requests("+15551230013"); got != 1 {
			t.Errorf("Twilio got %d requests, want 1 (no retry)", got)
		}
		if !eventually(waitLong, func() bool {
			r := l.record(t, store.Collection, ev.EventID)
			return r != nil && r["status"] == "failed" && r["deadLettered"] == true
		}) {
			t.Errorf("record = %v, want failed and dead-lettered", l.record(t, store.Collection, ev.EventID))
		}
	})

	t.Run("alert whose retries run out goes to the dead-letter topic", func(t *testing.T) {
		l.smtp.Script("gone@example.com", 451, 451, 451, 451)
		ev := alertEvent(t, "acc-gone", events.SecurityAlert{Kind: events.AlertPasswordChanged, Channel: events.ChannelEmail, Destination: "gone@example.com"})
		l.publish(t, events.TopicAccountEvents, ev)
		var dl *events.DeadLetter
		if !eventually(waitLong, func() bool { dl = deadLetterOf(t, alertDead(), ev.EventID); return dl != nil }) {
			t.Fatal("no dead letter")
		}
		if dl.Attempts != 4 || !strings.Contains(dl.Reason, "451") || dl.EventType != events.TypeSecurityAlert {
			t.Errorf("dead letter = %+v", dl)
		}
		if got := l.smtp.Attempts("gone@example.com"); got != 4 {
			t.Errorf("SMTP saw %d attempts, want 4", got)
		}
	})

	t.Run("twilio status callback", func(t *testing.T) {
		ev := otpEvent(t, "acc-cb", events.ChannelSMS, "+15551230014", "555555", 10*time.Minute)
		l.publish(t, events.TopicOTPDispatch, ev)
		if !eventually(waitLong, func() bool { return len(l.twilio.Messages("+15551230014")) == 1 }) {
			t.Fatal("not sent")
		}
		sid := l.twilio.Messages("+15551230014")[0].SID
		if !eventually(waitLong, func() bool {
			r := l.record(t, store.MessagesCollection, ev.EventID+":sms")
			return r != nil && r["providerMessageId"] == sid
		}) {
			t.Fatal("the SID was never recorded")
		}
		post := func(form url.Values, signature string) int {
			req, _ := http.NewRequest(http.MethodPost, "http://"+l.svc.public+httpapi.StatusCallbackPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", signature)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		form := url.Values{"MessageSid": {sid}, "MessageStatus": {"delivered"}, "AccountSid": {providertest.TwilioAccountSID}}
		if got := post(form, providertest.SignTwilio("forged-token", callbackURL, form)); got != http.StatusForbidden {
			t.Errorf("forged signature: %d, want 403", got)
		}
		if r := l.record(t, store.MessagesCollection, ev.EventID+":sms"); r["status"] != "sent" {
			t.Errorf("a forged callback changed the record: %v", r)
		}
		if got := post(form, providertest.SignTwilio(providertest.TwilioAuthToken, callbackURL, form)); got != http.StatusNoContent {
			t.Errorf("valid signature: %d, want 204", got)
		}
		if r := l.record(t, store.MessagesCollection, ev.EventID+":sms"); r["status"] != "delivered" || r["providerStatus"] != "delivered" {
			t.Errorf("record after the callback = %v, want delivered", r)
		}
	})

	t.Run("metrics by channel and outcome", func(t *testing.T) {
		resp, err := http.Get("http://" + l.svc.internal + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`latchkey_notification_messages_total{channel="SMS",outcome="sent"}`,
			`latchkey_notification_messages_total{channel="WHATSAPP",outcome="sent"}`,
			`latchkey_notification_messages_total{channel="EMAIL",outcome="sent"}`,
			`latchkey_notification_messages_total{channel="SMS",outcome="retry"} 2`,
			`latchkey_notification_messages_total{channel="SMS",outcome="failed"} 1`,
			`latchkey_notification_messages_total{channel="SMS",outcome="expired"} 1`,
			`latchkey_notification_messages_total{channel="SMS",outcome="duplicate"}`,
		} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// The two dead letters above, by source topic.
		got, err := metricstest.Scrape("http://" + l.svc.internal + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		for _, source := range []string{events.TopicOTPDispatch, events.TopicAccountEvents} {
			if v, _ := got.Value("latchkey_notification_dead_letters_total", map[string]string{"source_topic": source}); v < 1 {
				t.Errorf("latchkey_notification_dead_letters_total{source_topic=%q} = %v, want at least 1", source, v)
			}
		}
	})

	if p := l.twilio.Problems(); len(p) != 0 {
		t.Errorf("requests the real Twilio would refuse: %v", p)
	}
}

func TestLiveSendLimits(t *testing.T) {
	t.Parallel()
	l := newLive(t, map[string]string{
		"SEND_LIMIT_PER_DESTINATION": "2/1h",
		"SEND_LIMIT_PER_COUNTRY":     "1000/1h",
		"SEND_LIMIT_COUNTRIES":       "+234=1/1h",
	})
	var flood []events.Envelope
	for i := range 4 {
		ev := otpEvent(t, "acc-flood", events.ChannelSMS, "+15551230020", strconv.Itoa(100000+i), 10*time.Minute)
		flood = append(flood, ev)
		l.publish(t, events.TopicOTPDispatch, ev)
	}
	l.publish(t, events.TopicOTPDispatch, otpEvent(t, "acc-flood", events.ChannelSMS, "+2348000000001", "777777", 10*time.Minute))
	l.publish(t, events.TopicOTPDispatch, otpEvent(t, "acc-flood", events.ChannelWhatsApp, "+2348000000002", "888888", 10*time.Minute))
	// Alerts are not limited: they follow real account changes, and a flood of codes must not mute them.
	l.publish(t, events.TopicAccountEvents, alertEvent(t, "acc-flood", events.SecurityAlert{Kind: events.AlertPasswordChanged, Channel: events.ChannelSMS, Destination: "+15551230020"}))
	l.sentinel(t, "acc-flood")

	codes := 0
	for _, m := range l.twilio.Messages("+15551230020") {
		if strings.Contains(m.Body, "is your code") {
			codes++
		}
	}
	if codes != 2 {
		t.Errorf("the flooded number got %d codes, want 2", codes)
	}
	if r := l.record(t, store.Collection, flood[3].EventID); r == nil || r["status"] != "limited" || !strings.Contains(r["lastError"].(string), "per-destination") {
		t.Errorf("the 4th code's record = %v, want limited", r)
	}
	if a, b := l.twilio.Requests("+2348000000001"), l.twilio.Requests("whatsapp:+2348000000002"); a+b != 1 {
		t.Errorf("country +234 got %d SMS and %d WhatsApp, want 1 in all", a, b)
	}
	if !eventually(waitLong, func() bool { return len(l.twilio.Messages("+15551230020")) == 3 }) {
		t.Errorf("the password-changed alert did not go out past the code limit (%d messages)", len(l.twilio.Messages("+15551230020")))
	}
}

func TestLiveRestartMidStream(t *testing.T) {
	t.Parallel()
	l := newLive(t, nil)
	l.twilio.SetDelay(40 * time.Millisecond)
	const n = 30
	numbers := make([]string, n)
	for i := range n {
		numbers[i] = "+1555124" + strconv.Itoa(1000+i)
		// Ten accounts: the events spread over the partitions.
		l.publish(t, events.TopicOTPDispatch, otpEvent(t, "acc-"+strconv.Itoa(i%10), events.ChannelSMS, numbers[i], "123456", 10*time.Minute))
	}
	if !eventually(waitLong, func() bool { return l.twilio.Total() >= 5 }) {
		t.Fatal("nothing was delivered before the restart")
	}
	l.restart(t) // SIGTERM in the middle of the stream, then a fresh process
	if before := l.twilio.Total(); before >= n {
		t.Logf("all %d delivered before the stop; the restart still must not resend", before)
	}
	if !eventually(2*waitLong, func() bool { return l.twilio.Total() >= n }) {
		t.Fatalf("only %d of %d delivered after the restart", l.twilio.Total(), n)
	}
	l.sentinel(t, "acc-0")
	for _, to := range numbers {
		if got := l.twilio.Requests(to); got != 1 {
			t.Errorf("%s got %d requests, want exactly 1", to, got)
		}
	}
}
