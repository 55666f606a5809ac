package routes

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Call is one service calling another's internal port: Env is the caller's environment variable that
// holds the callee's internal base URL followed by Path (e.g. JWKS_URL = <session>/.well-known/jwks.json).
type Call struct {
	Service string `yaml:"service"`
	Env     string `yaml:"env"`
	Path    string `yaml:"path,omitempty"`
}

// envName is what a call's environment variable may be called.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// validateTopology checks the internal ports and calls of every service.
func validateTopology(t *Table) []error {
	var errs []error
	ports := map[int]string{}
	for _, name := range t.ServiceNames() {
		svc := t.Services[name]
		for _, p := range []int{svc.Port, svc.InternalPort} {
			if p == 0 {
				continue
			}
			if other, dup := ports[p]; dup {
				errs = append(errs, fmt.Errorf("service %q: port %d is also used by service %q", name, p, other))
			}
			ports[p] = name
		}
		if svc.InternalPort < 0 || svc.InternalPort > 65535 {
			errs = append(errs, fmt.Errorf("service %q: internalPort %d out of range 1-65535", name, svc.InternalPort))
		}
		seen := map[string]bool{}
		for i, c := range svc.Calls {
			where := fmt.Sprintf("service %q: call %d (%s)", name, i+1, c.Env)
			callee, ok := t.Services[c.Service]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: unknown service %q", where, c.Service))
			case c.Service == name:
				errs = append(errs, fmt.Errorf("%s: a service does not call itself", where))
			case callee.InternalPort == 0:
				errs = append(errs, fmt.Errorf("%s: service %q has no internalPort", where, c.Service))
			}
			if !envName.MatchString(c.Env) {
				errs = append(errs, fmt.Errorf("%s: env %q is not an environment variable name", where, c.Env))
			}
			if seen[c.Env] {
				errs = append(errs, fmt.Errorf("%s: env %s is set twice", where, c.Env))
			}
			seen[c.Env] = true
			if c.Path != "" {
				if err := validatePath(c.Path); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			}
		}
	}
	return errs
}

// URL is the value of the call's variable when the callee's internal port is at base (e.g.
// "http://latchkey-session:9082").
func (c Call) URL(base string) string { return strings.TrimRight(base, "/") + c.Path }

// Callees returns the services name calls, sorted, each once.
func (t *Table) Callees(name string) []string {
	set := map[string]bool{}
	for _, c := range t.Services[name].Calls {
		set[c.Service] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Callers returns the services that call name, sorted: the clients its internal port admits.
func (t *Table) Callers(name string) []string {
	var out []string
	for _, caller := range t.ServiceNames() {
		for _, c := range t.Services[caller].Calls {
			if c.Service == name {
				out = append(out, caller)
				break
			}
		}
	}
	return out
}

// Wiring returns the environment a service needs to reach the services it calls, given each
// service's internal base URL (e.g. "http://127.0.0.1:9082"): {"JWKS_URL": ".../.well-known/jwks.json", ...}.
func (t *Table) Wiring(name string, internalBase func(service string) string) map[string]string {
	env := map[string]string{}
	for _, c := range t.Services[name].Calls {
		env[c.Env] = c.URL(internalBase(c.Service))
	}
	return env
}

// PeerEnv returns every variable any call uses (JWKS_URL, *_INTERNAL_URL ...), sorted.
func (t *Table) PeerEnv() []string {
	set := map[string]bool{}
	for _, svc := range t.Services {
		for _, c := range svc.Calls {
			set[c.Env] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Doc markers around the generated topology table in docs/architecture.md.
const (
	DocBegin = "<!-- topology:begin (generated from charts/latchkey/routes.yaml; `LATCHKEY_UPDATE_DOCS=1 go test ./devstack/routes` rewrites it) -->"
	DocEnd   = "<!-- topology:end -->"
)

// TopologyMarkdown is the ports and calls table of docs/architecture.md.
func (t *Table) TopologyMarkdown() string {
	var b strings.Builder
	b.WriteString("| service | public (`HTTP_ADDR`) | internal (`INTERNAL_ADDR`: `/healthz`, `/readyz`, `/metrics`, `/internal/v1/*`) | calls (variable → service, at its internal port) | called by |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, name := range t.ServiceNames() {
		svc := t.Services[name]
		var calls []string
		for _, c := range svc.Calls {
			s := "`" + c.Env + "` → " + c.Service
			if c.Path != "" {
				s += " `" + c.Path + "`"
			}
			calls = append(calls, s)
		}
		callers := t.Callers(name)
		fmt.Fprintf(&b, "| %s | :%d | :%d | %s | %s |\n", name, svc.Port, svc.InternalPort,
			orDash(strings.Join(calls, "; ")), orDash(strings.Join(callers, ", ")))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
