package httpapi

import (
	"testing"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

func TestDeviceSummary(t *testing.T) {
	tests := []struct {
		name string
		s    session.Session
		want string
	}{
		{"Chrome on macOS", session.Session{UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"}, "Chrome 120.0 on macOS"},
		{"Firefox on Linux", session.Session{UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}, "Firefox 128.0 on Linux"},
		{"an app's own agent: the client's device name", session.Session{UserAgent: "AudioPodApp/3.1", DeviceName: "Ada's iPad"}, "Ada's iPad"},
		{"nothing known", session.Session{}, unknownDevice},
	}
	for _, tc := range tests {
		if got := deviceSummary(tc.s); got != tc.want {
			t.Errorf("%s: deviceSummary = %q, want %q", tc.name, got, tc.want)
		}
	}
}
