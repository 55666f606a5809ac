package httpapi_test

import (
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/services/notification/internal/providertest"
)

// FuzzTwilioStatusCallback posts arbitrary status-callback parameters, correctly signed (so they
// reach the decoding and the store) and unsigned: a signed callback answers 204 or a 4xx, never a
// 5xx; an unsigned one always 403.
func FuzzTwilioStatusCallback(f *testing.F) {
	app, _ := newCallbackApp(f)
	for _, s := range [][4]string{
		{"SM1", "delivered", "", ""}, {"SM1", "undelivered", "30003", "Unreachable"}, {"SM404", "failed", "x", ""},
		{"", "", "", ""}, {"SM1", "queued\x00", "-1", "\xff"}, {"SM1", "read", "99999999999999999999", "m"},
	} {
		f.Add(s[0], s[1], s[2], s[3], true)
		f.Add(s[0], s[1], s[2], s[3], false)
	}
	f.Fuzz(func(t *testing.T, sid, status, code, message string, signed bool) {
		form := url.Values{"MessageSid": {sid}, "MessageStatus": {status}, "AccountSid": {providertest.TwilioAccountSID}}
		if code != "" {
			form.Set("ErrorCode", code)
		}
		if message != "" {
			form.Set("ErrorMessage", message)
		}
		signature := ""
		if signed {
			signature = providertest.SignTwilio(providertest.TwilioAuthToken, callbackURL, form)
		}
		got, body := postCallback(t, app, form, signature)
		switch {
		case got >= 500:
			t.Fatalf("signed %v, form %v: status %d %v", signed, form, got, body)
		case !signed && got != 403:
			t.Fatalf("unsigned form %v: status %d, want 403", form, got)
		case signed && got != 204 && got != 202 && (got < 400 || got >= 500):
			t.Fatalf("signed form %v: status %d", form, got)
		case got == 202 && form.Get("MessageSid") == "SM1":
			// SM1 is stored: its reports apply at once; 202 (kept) is for SIDs not stored yet.
			t.Fatalf("signed form %v for a stored message: kept (202) instead of applied", form)
		}
	})
}
