package routes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadReal loads the repository's routes.yaml.
func loadReal(t *testing.T) *Table {
	t.Helper()
	path, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	table, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func TestRealTableMatch(t *testing.T) {
	table := loadReal(t)
	tests := []struct {
		path       string
		includeDev bool
		want       string // "" = no match
	}{
		// session
		{path: "/.well-known/jwks.json", want: "session"},
		{path: "/.well-known/jwks.json/", want: ""},
		{path: "/.well-known/jwks.jsonx", want: ""},
		{path: "/.well-known", want: ""},
		{path: "/.well-known/openid-configuration", want: "session"},
		{path: "/.well-known/openid-configuration/", want: ""},
		{path: "/api/v1/account/sessions", want: "session"},
		{path: "/api/v1/account/sessions/", want: "session"},
		{path: "/api/v1/account/sessions/abc", want: "session"},
		{path: "/api/v1/account/sessions/abc/revoke", want: "session"},
		{path: "/api/v1/account/sessionsx", want: "identity"},
		{path: "/api/v1/auth/sessions", want: "session"},
		{path: "/api/v1/auth/sessions/revoke", want: "session"},
		{path: "/api/v1/auth/sessions/revoke-all", want: "session"},
		{path: "/api/v1/auth/session/validate", want: "session"},
		{path: "/api/v1/auth/session/validate/", want: "identity"},
		{path: "/api/v1/auth/session", want: "identity"},
		{path: "/api/v1/auth/token-health", want: "session"},
		{path: "/api/v1/auth/refresh", want: "session"},
		{path: "/api/v1/auth/refresh/x", want: "identity"},
		{path: "/api/v1/auth/logout", want: "session"},
		{path: "/openapi.json", want: "session"},
		{path: "/openapi.json/x", want: ""},
		{path: "/openapi.jsonx", want: ""},
		{path: "/docs", want: "session"},
		{path: "/docs/", want: "session"},
		{path: "/docs/swagger-ui-bundle.js", want: "session"},
		{path: "/docsx", want: ""},
		// profile
		{path: "/api/v1/me", want: "profile"},
		{path: "/api/v1/me/", want: "profile"},
		{path: "/api/v1/me/avatar", want: "profile"},
		{path: "/api/v1/auth/me", want: "profile"},
		{path: "/api/v1/auth/me/", want: "identity"},
		// identity
		{path: "/api/v1/me/password", want: "identity"},
		{path: "/api/v1/me/password/", want: "profile"},
		{path: "/api/v1/me/passwords", want: "profile"},
		{path: "/api/v1/me/verify-email", want: "identity"},
		{path: "/api/v1/me/verify-email/confirm", want: "identity"},
		{path: "/api/v1/me/verify-emails", want: "profile"},
		{path: "/api/v1/auth", want: "identity"},
		{path: "/api/v1/auth/", want: "identity"},
		{path: "/api/v1/auth/login", want: "identity"},
		{path: "/api/v1/auth/register", want: "identity"},
		{path: "/api/v1/auth/otp/verify", want: "identity"},
		{path: "/api/v1/account", want: "identity"},
		{path: "/api/v1/account/security-info", want: "identity"},
		{path: "/api/v1/account/login", want: "identity"},
		// notification
		{path: "/api/v1/notifications/twilio/status", want: "notification"},
		{path: "/api/v1/notifications/twilio/status/x", want: ""},
		// notification (dev only)
		{path: "/api/v1/dev/outbox", includeDev: true, want: "notification"},
		{path: "/api/v1/dev/outbox", includeDev: false, want: ""},
		{path: "/api/v1/dev/outbox/", includeDev: true, want: ""},
		{path: "/api/v1/dev", includeDev: true, want: ""},
		// no match
		{path: "/api/v1/meh", want: ""},
		{path: "/api/v1/authx", want: ""},
		{path: "/api/v1/accounts", want: ""},
		{path: "/api/v1", want: ""},
		{path: "/", want: ""},
		{path: "", want: ""},
		{path: "/internal/v1/sessions", want: ""},
		{path: "/readyz", want: ""},
		{path: "/metrics", want: ""},
		{path: "/API/V1/ME", want: ""},
	}
	for _, tt := range tests {
		name := tt.path
		if tt.includeDev {
			name += " (dev)"
		}
		t.Run(name, func(t *testing.T) {
			got, ok := table.Match(tt.path, tt.includeDev)
			if tt.want == "" {
				if ok {
					t.Fatalf("Match(%q) = %v, want no match", tt.path, got)
				}
				return
			}
			if !ok {
				t.Fatalf("Match(%q): no match, want %s", tt.path, tt.want)
			}
			if got.Service != tt.want {
				t.Fatalf("Match(%q) = %v, want service %s", tt.path, got, tt.want)
			}
		})
	}
}

// TestRealTableEveryRoute checks that each route in the file wins for its own path, so no route is
// shadowed by another.
func TestRealTableEveryRoute(t *testing.T) {
	table := loadReal(t)
	if got, want := table.ServiceNames(), []string{"identity", "notification", "profile", "session"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("ServiceNames() = %v, want %v", got, want)
	}
	wantPorts := map[string]int{"identity": 8081, "session": 8082, "profile": 8083, "notification": 8084}
	for name, port := range wantPorts {
		if got := table.Services[name].Port; got != port {
			t.Errorf("service %s port = %d, want %d", name, got, port)
		}
	}
	for _, r := range table.Routes {
		t.Run(r.String(), func(t *testing.T) {
			got, ok := table.Match(r.Path, true)
			if !ok || got != r {
				t.Fatalf("Match(%q) = %v, %v; want the route itself", r.Path, got, ok)
			}
			if r.PathType == Prefix {
				sub := strings.TrimRight(r.Path, "/") + "/some/deeper/path"
				if got, ok := table.Match(sub, true); !ok || got.Service != r.Service {
					t.Fatalf("Match(%q) = %v, %v; want service %s", sub, got, ok, r.Service)
				}
			}
		})
	}
}

func TestMatchRules(t *testing.T) {
	table, err := Parse([]byte(`
services:
  a: {port: 1}
  b: {port: 2}
  c: {port: 3}
routes:
  - {path: /, pathType: Prefix, service: a}
  - {path: /x, pathType: Prefix, service: a}
  - {path: /x, pathType: Exact, service: b}
  - {path: /x/y/, pathType: Prefix, service: c}
  - {path: /exact/, pathType: Exact, service: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
	}{
		{path: "/", want: "a"},
		{path: "/anything/else", want: "a"},
		{path: "/x", want: "b"},   // Exact beats Prefix at equal length
		{path: "/x/", want: "a"},  // Prefix /x matches /x/, Exact /x does not
		{path: "/xy", want: "a"},  // falls back to /
		{path: "/x/y", want: "c"}, // trailing slash of a Prefix path is ignored
		{path: "/x/y/", want: "c"},
		{path: "/x/y/z", want: "c"},
		{path: "/x/yz", want: "a"},
		{path: "/exact/", want: "b"},
		{path: "/exact", want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := table.Match(tt.path, false)
			if !ok || got.Service != tt.want {
				t.Fatalf("Match(%q) = %v, %v; want service %s", tt.path, got, ok, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const services = "services:\n  a: {port: 8081}\n"
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{name: "empty", yaml: "", want: []string{"empty route table"}},
		{name: "not yaml", yaml: "services: [", want: []string{"decode table"}},
		{name: "unknown key", yaml: services + "routes:\n  - {path: /a, pathtype: Exact, service: a}\n", want: []string{"pathtype"}},
		{name: "no services", yaml: "routes:\n  - {path: /a, pathType: Exact, service: a}\n", want: []string{"no services", `unknown service "a"`}},
		{name: "no routes", yaml: services, want: []string{"no routes"}},
		{name: "bad port", yaml: "services:\n  a: {port: 0}\nroutes:\n  - {path: /a, pathType: Exact, service: a}\n", want: []string{"port 0 out of range"}},
		{name: "unknown service", yaml: services + "routes:\n  - {path: /a, pathType: Exact, service: nope}\n", want: []string{`unknown service "nope"`}},
		{name: "bad path type", yaml: services + "routes:\n  - {path: /a, pathType: ImplementationSpecific, service: a}\n", want: []string{`unknown pathType "ImplementationSpecific"`}},
		{name: "missing path type", yaml: services + "routes:\n  - {path: /a, service: a}\n", want: []string{"pathType is required"}},
		{name: "relative path", yaml: services + "routes:\n  - {path: api/v1, pathType: Prefix, service: a}\n", want: []string{"must start with /"}},
		{name: "missing path", yaml: services + "routes:\n  - {pathType: Prefix, service: a}\n", want: []string{"path is required"}},
		{name: "query in path", yaml: services + "routes:\n  - {path: \"/a?b\", pathType: Exact, service: a}\n", want: []string{"not allowed"}},
		{name: "empty segment", yaml: services + "routes:\n  - {path: /a//b, pathType: Exact, service: a}\n", want: []string{"empty segment"}},
		{name: "dot segment", yaml: services + "routes:\n  - {path: /a/../b, pathType: Exact, service: a}\n", want: []string{"dot segment"}},
		{name: "duplicate", yaml: services + "routes:\n  - {path: /a, pathType: Exact, service: a}\n  - {path: /a, pathType: Exact, service: a}\n", want: []string{"route 2 (Exact /a): duplicates route 1"}},
		{name: "duplicate prefix with trailing slash", yaml: services + "routes:\n  - {path: /a, pathType: Prefix, service: a}\n  - {path: /a/, pathType: Prefix, service: a}\n", want: []string{"duplicates route 1"}},
		{name: "all errors reported", yaml: services + "routes:\n  - {path: a, pathType: Exact, service: a}\n  - {path: /b, pathType: Nope, service: a}\n  - {path: /c, pathType: Exact, service: zzz}\n", want: []string{"must start with /", `unknown pathType "Nope"`, `unknown service "zzz"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseAllowsSamePathDifferentTypes(t *testing.T) {
	_, err := Parse([]byte("services:\n  a: {port: 1}\nroutes:\n  - {path: /a, pathType: Exact, service: a}\n  - {path: /a, pathType: Prefix, service: a}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(bad, []byte("services: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{name: "missing file", path: filepath.Join(dir, "nope.yaml"), want: "read table"},
		{name: "invalid file", path: bad, want: bad + ": routes: invalid route table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%q) error = %v, want it to contain %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestFindFrom(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FindFrom(deep); err == nil {
		t.Fatal("FindFrom found a table in an empty tree")
	}
	table := filepath.Join(root, "charts", "latchkey", "routes.yaml")
	if err := os.MkdirAll(filepath.Dir(table), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(table, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
	}{
		{name: "root", dir: root},
		{name: "deep", dir: deep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindFrom(tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != table {
				t.Fatalf("FindFrom(%q) = %q, want %q", tt.dir, got, table)
			}
		})
	}
}

// TestRealTableAdminRoute: the admin API is one identity Prefix route marked admin (the chart renders
// it only with admin.enabled), matched whole segments only, and the local gateway's Match serves it.
func TestRealTableAdminRoute(t *testing.T) {
	table := loadReal(t)
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/api/v1/admin", "identity"},
		{"/api/v1/admin/accounts", "identity"},
		{"/api/v1/admin/accounts/x/lock", "identity"},
		{"/api/v1/administrator", ""},
	} {
		r, ok := table.Match(tc.path, false)
		if got := map[bool]string{true: r.Service}[ok]; got != tc.want {
			t.Errorf("%s -> %q, want %q", tc.path, got, tc.want)
		}
		if ok && !r.Admin {
			t.Errorf("%s matched %s, not marked admin", tc.path, r)
		}
	}
	var admin []Route
	for _, r := range table.Routes {
		if r.Admin {
			admin = append(admin, r)
		}
	}
	if len(admin) != 1 || admin[0].String() != "Prefix /api/v1/admin -> identity (admin)" {
		t.Errorf("admin routes = %v, want Prefix /api/v1/admin -> identity only", admin)
	}
}
