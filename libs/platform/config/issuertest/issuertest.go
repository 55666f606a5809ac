// Package issuertest checks, in a service's configuration tests, the rule every service applies to
// JWT_ISSUER: an https URL is taken as is; anything else (a bare word, plain http off loopback) is a
// start-up error naming the variable.
package issuertest

import (
	"maps"
	"strings"
	"testing"
)

// Check loads the configuration from env (which must otherwise load) with an https issuer, then with
// issuers the services refuse. load returns the loaded JWT issuer.
func Check(t *testing.T, env map[string]string, load func(env map[string]string) (issuer string, err error)) {
	t.Helper()
	env = maps.Clone(env)
	env["JWT_ISSUER"] = "https://accounts.example.com"
	got, err := load(env)
	if err != nil {
		t.Fatalf("load with an https issuer: %v", err)
	}
	if got != "https://accounts.example.com" {
		t.Errorf("JWTIssuer = %q, want the https URL as given", got)
	}
	for _, bad := range []string{"latchkey", "http://accounts.example.com", "https://accounts.example.com/path"} {
		env["JWT_ISSUER"] = bad
		if _, err := load(env); err == nil || !strings.Contains(err.Error(), "JWT_ISSUER") {
			t.Errorf("JWT_ISSUER=%s: error %v, want one naming JWT_ISSUER", bad, err)
		}
	}
}
