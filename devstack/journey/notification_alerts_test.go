package journey_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// TestSecurityAlertsLandInTheDevOutbox publishes security.alert events (and an account.updated event
// the notification service must leave alone) on account.events.v1 and reads the messages through the
// gateway's dev outbox: purpose is the alert kind, no code, wording in the alert's language.
func TestSecurityAlertsLandInTheDevOutbox(t *testing.T) {
	s := startFullStack(t)
	c, env := s.client, s.env
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	t.Cleanup(func() { _ = producer.Close() })
	publish := func(eventType string, payload any) {
		t.Helper()
		ev, err := events.New(eventType, "journey-alert-account", payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.Publish(context.Background(), events.TopicAccountEvents, ev); err != nil {
			t.Fatalf("publish %s: %v", eventType, err)
		}
	}
	outbox := func(to string) []any {
		r := c.do("GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil).want(t, 200, "dev outbox")
		msgs, _ := r.Body["messages"].([]any)
		return msgs
	}

	publish(events.TypeAccountUpdated, events.AccountSnapshot{Version: 7, Email: "alerts@journey.test", EmailVerified: true, Status: events.AccountStatusActive})
	publish(events.TypeSecurityAlert, events.SecurityAlert{
		Kind: events.AlertNewDeviceSignIn, Channel: events.ChannelEmail, Destination: "Alerts@Journey.test",
		Details: map[string]string{"device": "Safari on iPhone", "ipAddress": "198.51.100.23"},
	})
	publish(events.TypeSecurityAlert, events.SecurityAlert{Kind: events.AlertPasswordChanged, Channel: events.ChannelSMS, Destination: "+4915112340000", Locale: "de"})

	for _, tc := range []struct {
		to, kind, channel string
		wantBody          []string
		wantSubject       bool
	}{
		{"alerts@journey.test", events.AlertNewDeviceSignIn, "EMAIL", []string{"new device", "Safari on iPhone", "198.51.100.23"}, true},
		{"+4915112340000", events.AlertPasswordChanged, "SMS", []string{"Passwort", "geändert"}, false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			eventually(t, 60*time.Second, "the alert in the dev outbox", func() bool { return len(outbox(tc.to)) > 0 })
			msgs := outbox(tc.to)
			if len(msgs) != 1 {
				t.Fatalf("%d messages for %s, want 1 (account.updated must not produce one)", len(msgs), tc.to)
			}
			m := msgs[0].(map[string]any)
			if m["purpose"] != tc.kind || m["channel"] != tc.channel || m["code"] != nil || (m["subject"] != nil) != tc.wantSubject {
				t.Errorf("message = %v", m)
			}
			body, _ := m["body"].(string)
			for _, want := range tc.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body %q lacks %q", body, want)
				}
			}
		})
	}
}
