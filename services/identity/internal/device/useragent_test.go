package device_test

import (
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/device"
)

func TestParseUserAgent(t *testing.T) {
	tests := []struct {
		ua   string
		want device.Agent
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36", device.Agent{Browser: "Chrome", OS: "Windows", DeviceType: "desktop"}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0", device.Agent{Browser: "Edge", OS: "Windows", DeviceType: "desktop"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", device.Agent{Browser: "Safari", OS: "iOS", DeviceType: "mobile"}},
		{"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1", device.Agent{Browser: "Safari", OS: "iOS", DeviceType: "tablet"}},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36", device.Agent{Browser: "Chrome", OS: "Android", DeviceType: "mobile"}},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", device.Agent{Browser: "Firefox", OS: "Linux", DeviceType: "desktop"}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15", device.Agent{Browser: "Safari", OS: "macOS", DeviceType: "desktop"}},
		{"LatchkeyApp/1.0 iOS", device.Agent{Browser: "LatchkeyApp", OS: "iOS", DeviceType: "mobile"}},
		{"", device.Agent{}},
	}
	for _, tc := range tests {
		t.Run(tc.ua, func(t *testing.T) {
			if got := device.ParseUserAgent(tc.ua); got != tc.want {
				t.Errorf("ParseUserAgent = %+v, want %+v", got, tc.want)
			}
		})
	}
}
