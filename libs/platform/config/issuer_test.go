package config_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// TestJWTIssuer: every service verifies iss against JWT_ISSUER, and gateways find the discovery
// document under it, so anything but an https URL of a host (or http on loopback) stops the start.
func TestJWTIssuer(t *testing.T) {
	for _, tc := range []struct {
		name, issuer string
		ok           bool
	}{
		{"https host", "https://accounts.example.com", true},
		{"https host and port", "https://accounts.example.com:8443", true},
		{"loopback ipv4", "http://127.0.0.1:8080", true},
		{"loopback ipv6", "http://[::1]:8080", true},
		{"localhost", "http://localhost:8080", true},
		{"bare word", "latchkey", false},
		{"http on a public host", "http://accounts.example.com", false},
		{"http on a private address", "http://10.0.0.5:8080", false},
		{"trailing slash", "https://accounts.example.com/", false},
		{"path", "https://example.com/auth", false},
		{"query", "https://accounts.example.com?x=1", false},
		{"fragment", "https://accounts.example.com#x", false},
		{"credentials", "https://user:pw@accounts.example.com", false},
		{"other scheme", "ftp://accounts.example.com", false},
		{"no host", "https://", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := config.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123", "JWT_ISSUER": tc.issuer})
			b := l.LoadBase("profile", ":8083", ":9083")
			err := l.Err()
			if tc.ok {
				if err != nil {
					t.Fatalf("JWT_ISSUER=%q refused: %v", tc.issuer, err)
				}
				if b.JWTIssuer != tc.issuer {
					t.Errorf("JWTIssuer = %q, want %q", b.JWTIssuer, tc.issuer)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "JWT_ISSUER") {
				t.Fatalf("JWT_ISSUER=%q: error %v, want one naming JWT_ISSUER", tc.issuer, err)
			}
		})
	}
}

// TestJWTIssuerDefault: unset, the issuer is the local stack's gateway, which passes its own check.
func TestJWTIssuerDefault(t *testing.T) {
	l := config.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123"})
	b := l.LoadBase("identity", ":8081", ":9081")
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if b.JWTIssuer != config.DefaultIssuer || config.DefaultIssuer != "http://127.0.0.1:8080" {
		t.Errorf("JWTIssuer = %q, want %q", b.JWTIssuer, "http://127.0.0.1:8080")
	}
}
