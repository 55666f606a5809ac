package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// TestComposeRecoveryCodeAlerts: both recovery code alerts render in every language, the alert of a
// used code says how many are left, and urges a new set when three or fewer are.
func TestComposeRecoveryCodeAlerts(t *testing.T) {
	now := time.Now()
	compose := func(t *testing.T, kind, locale string, details map[string]string) delivery.Message {
		t.Helper()
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Alert: true, Purpose: kind, Channel: events.ChannelEmail, Destination: "jane@example.com", Locale: locale, Details: details,
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		m := msgs[0]
		if m.Subject == "" || m.Body == "" || m.HTML == "" {
			t.Fatalf("%s/%s = %+v", kind, locale, m)
		}
		return m
	}
	for _, tc := range []struct {
		locale, remaining string
		want, wantNot     []string
	}{
		{"en", "7", []string{"7 unused recovery codes are left", "203.0.113.7"}, []string{"Only", "generate a new set"}},
		{"en", "3", []string{"Only 3 recovery codes are left: generate a new set soon"}, nil},
		{"en", "1", []string{"Only 1 recovery code is left"}, nil},
		{"en", "0", []string{"no recovery codes left: generate a new set now"}, nil},
		{"en", "many", []string{"A recovery code was just used"}, []string{"many", "left"}},
		{"de", "8", []string{"8 unbenutzte Wiederherstellungscodes"}, []string{"Nur noch"}},
		{"de", "2", []string{"Nur noch 2 Wiederherstellungscodes sind übrig: erstelle bald neue"}, nil},
		{"de", "0", []string{"keine Wiederherstellungscodes mehr"}, nil},
	} {
		t.Run(tc.locale+"/"+tc.remaining, func(t *testing.T) {
			m := compose(t, events.AlertRecoveryCodeUsed, tc.locale, map[string]string{"remaining": tc.remaining, "ipAddress": "203.0.113.7"})
			for _, w := range tc.want {
				if !strings.Contains(m.Body, w) {
					t.Errorf("body lacks %q: %q", w, m.Body)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(m.Body, w) {
					t.Errorf("body has %q: %q", w, m.Body)
				}
			}
		})
	}
	for _, locale := range []string{"en", "de"} {
		m := compose(t, events.AlertRecoveryCodesGenerated, locale, map[string]string{"count": "10"})
		if !strings.Contains(m.Body, "recovery codes") && !strings.Contains(m.Body, "Wiederherstellungscodes") {
			t.Errorf("%s: body = %q", locale, m.Body)
		}
	}
}
