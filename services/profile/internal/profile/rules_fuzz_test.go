package profile_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// FuzzNormalizeLocale: an accepted locale is canonical (normalizing it again changes nothing) and
// within the length limit.
func FuzzNormalizeLocale(f *testing.F) {
	for _, s := range []string{"en", "pt-br", "zh-hant-tw", "EN-us", "de-CH-1996", "x", "en--us", "en-", "i-klingon"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := profile.NormalizeLocale(s)
		if !ok {
			return
		}
		if again, ok2 := profile.NormalizeLocale(n); !ok2 || again != n || len(n) > profile.MaxLocale || !strings.EqualFold(n, s) {
			t.Fatalf("NormalizeLocale(%q) = %q, then %q %v", s, n, again, ok2)
		}
	})
}

// FuzzValidTimezone: no panic on any input, and no path-like names (the zone database is read
// from files).
func FuzzValidTimezone(f *testing.F) {
	for _, s := range []string{"UTC", "Europe/Berlin", "Local", "../../etc/passwd", "/etc/localtime", "Europe/../UTC", "America/Argentina/Buenos_Aires", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if profile.ValidTimezone(s) && (strings.HasPrefix(s, "/") || strings.Contains(s, "\\") || len(s) > profile.MaxTimezone) {
			t.Fatalf("ValidTimezone(%q) = true", s)
		}
	})
}

// FuzzValidAvatarURL: an accepted avatar URL is absolute, https (http only for localhost) and
// carries no credentials.
func FuzzValidAvatarURL(f *testing.F) {
	for _, s := range []string{"https://cdn.example.com/a.png", "http://localhost/a.png", "http://example.com/a.png", "https://user:pw@example.com/", "javascript:alert(1)", "//example.com/a.png", "https:///a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !profile.ValidAvatarURL(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("ValidAvatarURL(%q) = true", s)
		}
	})
}
