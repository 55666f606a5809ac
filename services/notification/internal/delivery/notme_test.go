package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// TestComposeNotMeLink: an alert with a notMeUrl shows the link (checked like the revert link) in
// English and German; one without shows none.
func TestComposeNotMeLink(t *testing.T) {
	link := "https://accounts.example.com/not-me#token=nmt_AbC-123_xyz"
	for _, tc := range []struct {
		locale, url, want, wantNot string
	}{
		{"en", link, "Wasn't this you? Open this link", ""},
		{"de", link, "Warst du das nicht? Öffne diesen Link", ""},
		{"en", "", "", "Wasn't this you"},
		{"en", "javascript:alert(1)", "", "javascript"},
	} {
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Alert: true, Purpose: events.AlertNewDeviceSignIn, Channel: events.ChannelEmail, Destination: "jane@example.com", Locale: tc.locale,
			Details: map[string]string{"device": "iPhone", "notMeUrl": tc.url},
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := msgs[0]
		if tc.want != "" && (!strings.Contains(m.Body, tc.want) || !strings.Contains(m.Body, link) || !strings.Contains(m.HTML, "nmt_AbC-123_xyz")) {
			t.Errorf("%s: body = %q, want the link", tc.locale, m.Body)
		}
		if tc.wantNot != "" && (strings.Contains(m.Body, tc.wantNot) || strings.Contains(m.HTML, tc.wantNot)) {
			t.Errorf("%s/%q: body = %q, want no link", tc.locale, tc.url, m.Body)
		}
	}
}

// TestComposeNotMeReported: the report's alert says what was reported, from where, when, and what
// was done, in English and German.
func TestComposeNotMeReported(t *testing.T) {
	details := map[string]string{"reported": "sign_in", "device": "iPhone 15 Pro", "ipAddress": "203.0.113.9",
		"at": "2026-12-03T11:20:00Z", "sessionEnded": "true", "deviceForgotten": "true", "apiKeysRevoked": "2"}
	for _, tc := range []struct {
		locale  string
		want    []string
		subject string
	}{
		{"en", []string{"You reported a sign-in from iPhone 15 Pro (203.0.113.9) at 2026-12-03 11:20 UTC as not yours.", "Its session was ended", "2 API key(s)", "Forgot password"}, "You reported activity on your Latchkey account"},
		{"de", []string{"Du hast eine Anmeldung von iPhone 15 Pro (203.0.113.9) am 2026-12-03 11:20 UTC als nicht von dir gemeldet.", "Die Sitzung wurde beendet", "Passwort vergessen"}, "Du hast Aktivität in deinem Latchkey-Konto gemeldet"},
	} {
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Alert: true, Purpose: events.AlertNotMeReported, Channel: events.ChannelEmail, Destination: "jane@example.com", Locale: tc.locale, Details: details,
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := msgs[0]
		if m.Subject != tc.subject {
			t.Errorf("%s: subject %q, want %q", tc.locale, m.Subject, tc.subject)
		}
		for _, w := range tc.want {
			if !strings.Contains(m.Body, w) {
				t.Errorf("%s: body %q lacks %q", tc.locale, m.Body, w)
			}
		}
	}
}
