package httpapi

import (
	"strings"

	"github.com/mileusna/useragent"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

// unknownDevice is device_info when nothing about the device is known.
const unknownDevice = "Unknown device"

// deviceSummary is the AudioPod document's device_info: one string such as "Chrome 120.0 on macOS",
// made from the browser and OS parsed from the session's User-Agent (browser version cut to
// major.minor, OS without its version); when the agent does not give both, the client's own device
// name, then what the agent does give, stand in. The details stay in the session's device object.
func deviceSummary(s session.Session) string {
	var ua useragent.UserAgent
	if strings.TrimSpace(s.UserAgent) != "" {
		ua = useragent.Parse(s.UserAgent)
	}
	browser := ""
	if ua.Name != "" && ua.Name != useragent.Mozilla && !ua.Bot {
		browser = strings.TrimSpace(ua.Name + " " + majorMinor(ua.Version))
	}
	switch {
	case browser != "" && ua.OS != "":
		return browser + " on " + ua.OS
	case strings.TrimSpace(s.DeviceName) != "":
		return strings.TrimSpace(s.DeviceName)
	case browser != "":
		return browser
	case ua.OS != "":
		return ua.OS
	case ua.Device != "":
		return ua.Device
	}
	return unknownDevice
}

// majorMinor cuts a version to its first two parts: "120.0.6099.109" is "120.0".
func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return strings.Join(parts, ".")
}
