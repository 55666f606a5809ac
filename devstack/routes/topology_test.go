package routes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTopologyValidation: calls must name a known service with an internal port, not the caller, with a
// variable name, once; ports must not collide.
func TestTopologyValidation(t *testing.T) {
	const route = "routes:\n  - {path: /a, pathType: Exact, service: a}\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown callee", "services:\n  a: {port: 1, internalPort: 2, calls: [{service: zzz, env: Z_URL}]}\n" + route, []string{`unknown service "zzz"`}},
		{"self call", "services:\n  a: {port: 1, internalPort: 2, calls: [{service: a, env: A_URL}]}\n" + route, []string{"does not call itself"}},
		{"callee without internal port", "services:\n  a: {port: 1, internalPort: 2, calls: [{service: b, env: B_URL}]}\n  b: {port: 3}\n" + route, []string{`service "b" has no internalPort`}},
		{"bad env", "services:\n  a: {port: 1, internalPort: 2, calls: [{service: b, env: b-url}]}\n  b: {port: 3, internalPort: 4}\n" + route, []string{"not an environment variable name"}},
		{"env twice", "services:\n  a: {port: 1, internalPort: 2, calls: [{service: b, env: B_URL}, {service: b, env: B_URL, path: /x}]}\n  b: {port: 3, internalPort: 4}\n" + route, []string{"B_URL is set twice"}},
		{"bad path", "services:\n  a: {port: 1, internalPort: 2, calls: [{service: b, env: B_URL, path: x}]}\n  b: {port: 3, internalPort: 4}\n" + route, []string{"must start with /"}},
		{"port collision", "services:\n  a: {port: 1, internalPort: 2}\n  b: {port: 3, internalPort: 2}\n" + route, []string{"port 2 is also used"}},
		{"unknown key", "services:\n  a: {port: 1, internalPort: 2, calls: [{service: b, envv: B_URL}]}\n" + route, []string{"envv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("parsed; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestTopology: the real table's calls, as every service's config requires them.
func TestTopology(t *testing.T) {
	table := loadReal(t)
	base := func(s string) string { return "http://" + s + ":1" }
	want := map[string]map[string]string{
		"identity":     {"SESSION_INTERNAL_URL": "http://session:1", "JWKS_URL": "http://session:1/.well-known/jwks.json", "PROFILE_INTERNAL_URL": "http://profile:1"},
		"session":      {"IDENTITY_INTERNAL_URL": "http://identity:1"},
		"profile":      {"IDENTITY_INTERNAL_URL": "http://identity:1", "JWKS_URL": "http://session:1/.well-known/jwks.json"},
		"notification": {},
	}
	for name, env := range want {
		got := table.Wiring(name, base)
		if len(got) != len(env) {
			t.Errorf("%s wiring = %v, want %v", name, got, env)
		}
		for k, v := range env {
			if got[k] != v {
				t.Errorf("%s %s = %q, want %q", name, k, got[k], v)
			}
		}
	}
	if got := table.Callers("identity"); strings.Join(got, ",") != "profile,session" {
		t.Errorf("identity's callers = %v", got)
	}
	if got := table.Callers("notification"); len(got) != 0 {
		t.Errorf("notification's callers = %v", got)
	}
}

// TestArchitectureDocTopology: the ports and calls table of docs/architecture.md is the route table's
// (LATCHKEY_UPDATE_DOCS=1 rewrites it).
func TestArchitectureDocTopology(t *testing.T) {
	path, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	table, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSuffix(path, filepath.FromSlash(DefaultPath))
	doc := filepath.Join(root, "docs", "architecture.md")
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	begin, end := strings.Index(text, DocBegin), strings.Index(text, DocEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s: no %q ... %q section", doc, DocBegin, DocEnd)
	}
	want := table.TopologyMarkdown()
	if got := text[begin+len(DocBegin)+1 : end]; got != want {
		if os.Getenv("LATCHKEY_UPDATE_DOCS") == "1" {
			text = text[:begin+len(DocBegin)+1] + want + text[end:]
			if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the topology table is stale; run LATCHKEY_UPDATE_DOCS=1 go test ./devstack/routes -run TestArchitectureDocTopology, or make it:\n%s", doc, want)
	}
}
