package session

import (
	"strings"

	"github.com/mileusna/useragent"
)

// Platforms a session can report (account API: "IOS, ANDROID, WEB, etc."). A client's own platform
// wins; these are what the User-Agent implies when the client sent none.
const (
	PlatformIOS     = "IOS"
	PlatformAndroid = "ANDROID"
	PlatformWeb     = "WEB"
)

// describedAgent is what a User-Agent says about the device behind it.
type describedAgent struct {
	Browser  string // "Firefox 128.0"; "" when the agent is not a known browser
	OS       string // "Android 14"
	Platform string // IOS, ANDROID, WEB, or ""
	Name     string // a human-readable device name, "Firefox on Linux"
}

// describeUserAgent parses a User-Agent with github.com/mileusna/useragent (a maintained parser) and
// returns what it recognises; unknown agents give empty fields, never an error.
func describeUserAgent(raw string) describedAgent {
	if strings.TrimSpace(raw) == "" {
		return describedAgent{}
	}
	ua := useragent.Parse(raw)
	var d describedAgent
	os := strings.TrimSpace(ua.OS + " " + ua.OSVersion)
	d.OS = os
	known := ua.Name != "" && ua.Name != useragent.Mozilla && !ua.Bot
	if known {
		d.Browser = strings.TrimSpace(ua.Name + " " + ua.Version)
	}
	switch {
	case ua.OS == useragent.IOS:
		d.Platform = PlatformIOS
	case ua.OS == useragent.Android:
		d.Platform = PlatformAndroid
	case known && (ua.Desktop || ua.Mobile || ua.Tablet):
		// A browser on a computer; an agent the parser cannot place (an app's own) gets no platform.
		d.Platform = PlatformWeb
	}
	switch {
	case known && ua.OS != "":
		d.Name = ua.Name + " on " + ua.OS
	case known:
		d.Name = ua.Name
	case ua.Device != "":
		d.Name = ua.Device
	case ua.OS != "":
		d.Name = ua.OS
	}
	return d
}

// describe fills the session's browser and OS from its User-Agent, and its device name and platform
// when the client gave none.
func describe(s *Session) {
	d := describeUserAgent(s.UserAgent)
	s.Browser, s.OS = d.Browser, d.OS
	if strings.TrimSpace(s.DeviceName) == "" {
		s.DeviceName = d.Name
	}
	if strings.TrimSpace(s.Platform) == "" {
		s.Platform = d.Platform
	}
	s.Platform = strings.ToUpper(s.Platform)
}
