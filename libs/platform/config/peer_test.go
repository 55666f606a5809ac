package config_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// TestPeerURL: a peer's URL has no laptop default; missing or malformed is an error naming the variable.
func TestPeerURL(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
		set               bool
	}{
		{name: "set", value: "http://latchkey-identity.latchkey.svc:9081", set: true},
		{name: "missing", want: "IDENTITY_INTERNAL_URL is required"},
		{name: "empty", value: " ", set: true, want: "IDENTITY_INTERNAL_URL is required"},
		{name: "no scheme", value: "latchkey-identity:9081", set: true, want: `IDENTITY_INTERNAL_URL="latchkey-identity:9081"`},
		{name: "no host", value: "http://", set: true, want: "IDENTITY_INTERNAL_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.set {
				env["IDENTITY_INTERNAL_URL"] = tc.value
			}
			l := config.NewLoaderFrom(env)
			got := l.PeerURL("IDENTITY_INTERNAL_URL")
			err := l.Err()
			if tc.want == "" {
				if err != nil || got != tc.value {
					t.Fatalf("PeerURL = %q, %v; want %q", got, err, tc.value)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || got != "" {
				t.Fatalf("PeerURL = %q, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
	// The shared configuration alone requires no peer: notification calls nobody.
	l := config.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123"})
	l.LoadBase("notification", ":8084", ":9084")
	if l.Err() != nil {
		t.Fatalf("LoadBase: %v; want no error without peer URLs", l.Err())
	}
}
