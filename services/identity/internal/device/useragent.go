package device

import "strings"

// Agent is what a User-Agent header tells about a device. Fields are "" when unknown.
type Agent struct {
	Browser    string // Chrome, Firefox, Safari, Edge, Opera, or the app token
	OS         string // Windows, macOS, iOS, Android, Linux, ChromeOS
	DeviceType string // desktop, mobile, tablet
}

// ParseUserAgent recognises the common browsers and operating systems. It is a display aid, not a
// security signal: clients choose their User-Agent freely.
func ParseUserAgent(ua string) Agent {
	var a Agent
	l := strings.ToLower(ua)
	if l == "" {
		return a
	}
	switch {
	case strings.Contains(l, "iphone"), strings.Contains(l, "ipod"):
		a.OS, a.DeviceType = "iOS", "mobile"
	case strings.Contains(l, "ipad"):
		a.OS, a.DeviceType = "iOS", "tablet"
	case strings.Contains(l, "android"):
		a.OS, a.DeviceType = "Android", "mobile"
		if !strings.Contains(l, "mobile") {
			a.DeviceType = "tablet"
		}
	case strings.Contains(l, "windows"):
		a.OS, a.DeviceType = "Windows", "desktop"
	case strings.Contains(l, "cros"):
		a.OS, a.DeviceType = "ChromeOS", "desktop"
	case strings.Contains(l, "mac os x"), strings.Contains(l, "macintosh"):
		a.OS, a.DeviceType = "macOS", "desktop"
	case strings.Contains(l, "linux"), strings.Contains(l, "x11"):
		a.OS, a.DeviceType = "Linux", "desktop"
	case strings.Contains(l, " ios"):
		a.OS, a.DeviceType = "iOS", "mobile"
	}
	switch {
	case strings.Contains(l, "edg/"):
		a.Browser = "Edge"
	case strings.Contains(l, "opr/"), strings.Contains(l, "opera"):
		a.Browser = "Opera"
	case strings.Contains(l, "firefox/"), strings.Contains(l, "fxios/"):
		a.Browser = "Firefox"
	case strings.Contains(l, "chrome/"), strings.Contains(l, "crios/"):
		a.Browser = "Chrome"
	case strings.Contains(l, "safari/"):
		a.Browser = "Safari"
	default:
		// An app's own token ("LatchkeyApp/1.0 iOS" → "LatchkeyApp").
		if tok, _, ok := strings.Cut(ua, "/"); ok && !strings.ContainsAny(tok, " ()") {
			a.Browser = tok
		}
	}
	return a
}
