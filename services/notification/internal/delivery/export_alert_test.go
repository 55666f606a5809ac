package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// TestComposeExportReadyAlert: the export alert renders in English and German, by e-mail and SMS, and
// shows nothing of its details (the export id is no business of the message).
func TestComposeExportReadyAlert(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct{ locale, channel, dest, want string }{
		{"en", events.ChannelEmail, "jane@example.com", "data export"},
		{"de", events.ChannelEmail, "jane@example.com", "Datenexport"},
		{"en", events.ChannelSMS, "+15551234567", "export"},
	} {
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Alert: true, Purpose: events.AlertExportReady, Channel: tc.channel, Destination: tc.dest, Locale: tc.locale,
			Details: map[string]string{"exportId": "0b9f7f0e-1111-4222-8333-444455556666"},
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		m := msgs[0]
		if m.Body == "" || !strings.Contains(m.Body+m.Subject, tc.want) {
			t.Errorf("%s/%s: %+v", tc.locale, tc.channel, m)
		}
		if strings.Contains(m.Body+m.HTML+m.Subject, "0b9f7f0e") {
			t.Errorf("%s/%s shows the export id: %q", tc.locale, tc.channel, m.Body)
		}
	}
}
