package messaging_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/messaging"
	"github.com/latchkey/latchkey/services/notification/internal/providertest"
)

func newSender(t *testing.T, baseURL string, change func(*messaging.Config)) *messaging.Sender {
	t.Helper()
	cfg := messaging.Config{
		AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken,
		SMSFrom: "+15005550006", WhatsAppFrom: "+14155238886", StatusCallbackURL: "https://api.example.com/api/v1/notifications/twilio/status",
		BaseURL: baseURL, Timeout: 5 * time.Second,
	}
	if change != nil {
		change(&cfg)
	}
	s, err := messaging.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		channel     string
		change      func(*messaging.Config)
		wantTo      string
		wantFrom    string
		wantService string
	}{
		{name: "sms from the number", channel: delivery.ChannelSMS, wantTo: "+15551234567", wantFrom: "+15005550006"},
		{name: "whatsapp from the whatsapp sender", channel: delivery.ChannelWhatsApp, wantTo: "whatsapp:+15551234567", wantFrom: "whatsapp:+14155238886"},
		{
			name: "sms through a messaging service", channel: delivery.ChannelSMS,
			change: func(c *messaging.Config) { c.SMSFrom, c.MessagingServiceSID = "", "MG0123456789abcdef0123456789abcdef" },
			wantTo: "+15551234567", wantService: "MG0123456789abcdef0123456789abcdef",
		},
		{
			name: "whatsapp through a messaging service", channel: delivery.ChannelWhatsApp,
			change: func(c *messaging.Config) {
				c.WhatsAppFrom, c.MessagingServiceSID = "", "MG0123456789abcdef0123456789abcdef"
			},
			wantTo: "whatsapp:+15551234567", wantService: "MG0123456789abcdef0123456789abcdef",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tw := providertest.NewTwilio(t)
			s := newSender(t, tw.URL, tc.change)
			sid, err := s.Send(context.Background(), delivery.Message{ID: "ev:sms", Channel: tc.channel, To: "+15551234567", Body: "Latchkey: 123456 is your code"})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := tw.Messages(tc.wantTo)
			if len(got) != 1 {
				t.Fatalf("Twilio got %d messages for %s, want 1 (problems: %v)", len(got), tc.wantTo, tw.Problems())
			}
			m := got[0]
			if m.SID != sid || m.From != tc.wantFrom || m.MessagingServiceSID != tc.wantService || m.Body != "Latchkey: 123456 is your code" {
				t.Errorf("Twilio got %+v (sid %q)", m, sid)
			}
			if m.StatusCallback != "https://api.example.com/api/v1/notifications/twilio/status" {
				t.Errorf("StatusCallback = %q", m.StatusCallback)
			}
			if p := tw.Problems(); len(p) != 0 {
				t.Errorf("requests Twilio would refuse: %v", p)
			}
		})
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		answer         providertest.TwilioAnswer
		wantPermanent  bool
		wantRetryAfter time.Duration
	}{
		{"invalid number", providertest.TwilioAnswer{Status: 400, Code: 21211, Message: "Invalid 'To' Phone Number"}, true, 0},
		{"unsubscribed", providertest.TwilioAnswer{Status: 400, Code: 21610, Message: "Attempt to send to unsubscribed recipient"}, true, 0},
		{"other 4xx", providertest.TwilioAnswer{Status: 403, Code: 20003, Message: "Permission denied"}, true, 0},
		{"server error", providertest.TwilioAnswer{Status: 503, Code: 20503, Message: "Service unavailable"}, false, 0},
		{"too many requests", providertest.TwilioAnswer{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "7"}, false, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tw := providertest.NewTwilio(t)
			tw.Script("+15551234567", tc.answer)
			_, err := newSender(t, tw.URL, nil).Send(context.Background(), delivery.Message{Channel: delivery.ChannelSMS, To: "+15551234567", Body: "hi"})
			var se *delivery.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v, want a SendError", err)
			}
			if se.Permanent != tc.wantPermanent || se.RetryAfter != tc.wantRetryAfter {
				t.Errorf("permanent %v retry-after %s, want %v %s (%v)", se.Permanent, se.RetryAfter, tc.wantPermanent, tc.wantRetryAfter, err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = newSender(t, "http://"+addr, nil).Send(context.Background(), delivery.Message{Channel: delivery.ChannelSMS, To: "+15551234567", Body: "hi"})
		if err == nil || delivery.IsPermanent(err) {
			t.Errorf("Send = %v, want a transient error", err)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*messaging.Config)
	}{
		{"no credentials", func(c *messaging.Config) { c.AccountSID, c.AuthToken = "", "" }},
		{"no sender", func(c *messaging.Config) { c.SMSFrom, c.WhatsAppFrom, c.MessagingServiceSID = "", "", "" }},
		{"odd characters in the token", func(c *messaging.Config) { c.AuthToken = "abc-def" }},
		{"relative base URL", func(c *messaging.Config) { c.BaseURL = "localhost:1234" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := messaging.Config{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken, SMSFrom: "+15005550006"}
			tc.change(&cfg)
			if _, err := messaging.New(cfg); err == nil {
				t.Error("New accepted the configuration")
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"12", 12 * time.Second}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT"), 90 * time.Second},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := messaging.ParseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
