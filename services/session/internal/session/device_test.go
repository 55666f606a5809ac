package session

import (
	"strings"
	"testing"
)

func TestDescribeUserAgent(t *testing.T) {
	tests := []struct {
		name                          string
		ua                            string
		wantBrowser, wantOS, wantName string // prefixes
		wantPlatform                  string
	}{
		{"Firefox on Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox 128", "Linux", "Firefox on Linux", PlatformWeb},
		{"Chrome on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome 126", "Windows", "Chrome on Windows", PlatformWeb},
		{"Safari on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari 17.5", "iOS 17.5", "Safari on iOS", PlatformIOS},
		{"Chrome on Android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome 126", "Android 14", "Chrome on Android", PlatformAndroid},
		{"empty", "", "", "", "", ""},
		{"an app's own agent", "latchkey-cli/1.0", "latchkey-cli 1.0", "", "latchkey-cli", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := describeUserAgent(tc.ua)
			if !prefix(got.Browser, tc.wantBrowser) || !prefix(got.OS, tc.wantOS) || !prefix(got.Name, tc.wantName) || got.Platform != tc.wantPlatform {
				t.Errorf("describeUserAgent = %+v, want browser %q os %q name %q platform %q", got, tc.wantBrowser, tc.wantOS, tc.wantName, tc.wantPlatform)
			}
		})
	}
}

// prefix is strings.HasPrefix, except that an empty want matches only an empty got.
func prefix(got, want string) bool {
	if want == "" {
		return got == ""
	}
	return strings.HasPrefix(got, want)
}

func TestDescribeKeepsTheClientsOwnNames(t *testing.T) {
	s := Session{DeviceName: "Ada's laptop", Platform: "macos", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
	describe(&s)
	if s.DeviceName != "Ada's laptop" || s.Platform != "MACOS" || !strings.HasPrefix(s.Browser, "Firefox") {
		t.Errorf("described = %+v, want the client's name, its platform upper-cased, the parsed browser", s)
	}
}
