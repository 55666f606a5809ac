package profile

import (
	"net/url"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // IANA zone names are checked against the embedded database, not the host's
)

// Length limits of the profile's text fields, in characters.
const (
	MaxName           = 100
	MaxFullName       = 201 // first and last name and a space
	MaxDisplayName    = 100
	MaxBio            = 500
	MaxLocation       = 100
	MaxAvatarURL      = 2048
	MaxLocale         = 35 // RFC 5646 section 4.4.1: 35 characters cover every real tag
	MaxTimezone       = 64
	MaxReferralSource = 100
	MaxPhone          = 20
	MaxCountryCode    = 4 // "+" and up to three digits
)

// bcp47 is a well-formed BCP 47 language tag without extensions or private use (RFC 5646
// langtag: language, optional script, region and variants).
var bcp47 = regexp.MustCompile(`^(?i)[a-z]{2,3}(-[a-z]{4})?(-([a-z]{2}|[0-9]{3}))?(-([a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*$`)

// NormalizeLocale returns a BCP 47 tag in its canonical case ("pt-br" → "pt-BR", "zh-hant-tw" →
// "zh-Hant-TW") and whether it is well formed.
func NormalizeLocale(s string) (string, bool) {
	if len(s) > MaxLocale || !bcp47.MatchString(s) {
		return "", false
	}
	parts := strings.Split(s, "-")
	parts[0] = strings.ToLower(parts[0])
	for i := 1; i < len(parts); i++ {
		switch p := parts[i]; {
		case len(p) == 4 && isAlpha(p) && i == 1:
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		case len(p) == 2 && isAlpha(p):
			parts[i] = strings.ToUpper(p)
		default:
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "-"), true
}

func isAlpha(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// ValidTimezone reports whether s is an IANA time zone name ("Europe/Berlin", "UTC"). "Local" (the
// host's zone) is not a name a client can mean.
func ValidTimezone(s string) bool {
	if s == "" || s == "Local" || len(s) > MaxTimezone || strings.ContainsAny(s, " \\") || strings.HasPrefix(s, "/") {
		return false
	}
	_, err := time.LoadLocation(s)
	return err == nil
}

// callingCode is a country calling code with or without its "+".
var callingCode = regexp.MustCompile(`^\+?[1-9][0-9]{0,2}$`)

// NormalizeCountryCode returns a calling code as "+NNN" and whether it is one.
func NormalizeCountryCode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !callingCode.MatchString(s) {
		return "", false
	}
	return "+" + strings.TrimPrefix(s, "+"), true
}

// ValidAvatarURL reports whether s is an absolute https URL (http only for localhost), without
// credentials: an avatar is shown to other people, so it must not leak secrets or mixed content.
func ValidAvatarURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		return h == "localhost" || h == "127.0.0.1"
	}
	return false
}
