// Package routes loads, validates and evaluates Latchkey's one route table, charts/latchkey/routes.yaml.
//
// The table maps public request paths to the service that owns them. Every router reads it: the
// local gateway (package gateway) and the Helm chart's Ingress and HTTPRoutes. Matching follows the
// Kubernetes Ingress rules, so the local stack routes exactly as a cluster does:
//
//   - the longest matching path wins;
//   - at equal length an Exact path beats a Prefix path;
//   - a Prefix path matches whole path segments: /api/v1/me matches /api/v1/me, /api/v1/me/ and
//     /api/v1/me/password, but not /api/v1/meh. A trailing slash on a Prefix path is ignored.
package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultPath is where the route table lives, relative to the repository root.
const DefaultPath = "charts/latchkey/routes.yaml"

// PathType says how a route's path is compared with a request path.
type PathType string

// The path types of the Kubernetes Ingress API that the table supports.
const (
	// Exact matches the request path exactly (case-sensitive, trailing slash significant).
	Exact PathType = "Exact"
	// Prefix matches the request path element by element, see the package documentation.
	Prefix PathType = "Prefix"
)

// Service is a backend named in the table.
type Service struct {
	// Name is the service name (the key under services:).
	Name string
	// Port is the service's public port in a cluster.
	Port int
	// InternalPort serves /healthz, /readyz, /metrics, /internal/v1 and the JWKS; 0 when the table
	// gives none.
	InternalPort int
	// Calls are the service's calls to other services' internal ports (see topology.go).
	Calls []Call
}

// Route sends the requests whose path matches Path (compared as PathType) to Service.
type Route struct {
	Path     string   `yaml:"path"`
	PathType PathType `yaml:"pathType"`
	Service  string   `yaml:"service"`
	// DevOnly routes exist only in the local stack; the chart never renders them.
	DevOnly bool `yaml:"devOnly"`
	// Admin routes (the admin API) are rendered by the chart only when admin.enabled; the local
	// gateway always routes them.
	Admin bool `yaml:"admin"`
}

// String renders the route for messages, e.g. "Prefix /api/v1/me -> profile".
func (r Route) String() string {
	s := fmt.Sprintf("%s %s -> %s", r.PathType, r.Path, r.Service)
	if r.DevOnly {
		s += " (dev only)"
	}
	if r.Admin {
		s += " (admin)"
	}
	return s
}

// Matches reports whether the request path p matches the route's path and path type.
func (r Route) Matches(p string) bool {
	switch r.PathType {
	case Exact:
		return p == r.Path
	case Prefix:
		prefix := strings.TrimRight(r.Path, "/")
		if prefix == "" { // "/" matches every path
			return strings.HasPrefix(p, "/")
		}
		return p == prefix || strings.HasPrefix(p, prefix+"/")
	default:
		return false
	}
}

// matchLen is the length the longest-match rule compares: the path without the trailing slash
// that a Prefix path ignores.
func (r Route) matchLen() int {
	if r.PathType == Prefix {
		return len(strings.TrimRight(r.Path, "/"))
	}
	return len(r.Path)
}

// Table is a validated route table.
type Table struct {
	// Services maps each service name to its definition.
	Services map[string]Service
	// Routes are in file order.
	Routes []Route
}

// file is the YAML layout of routes.yaml.
type file struct {
	Services map[string]struct {
		Port         int    `yaml:"port"`
		InternalPort int    `yaml:"internalPort"`
		Calls        []Call `yaml:"calls"`
	} `yaml:"services"`
	Routes []Route `yaml:"routes"`
}

// Load reads and validates the route table at path.
func Load(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routes: read table: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse decodes and validates a route table. Unknown keys are errors, so a typo such as
// "pathtype" cannot silently drop a field. Every validation problem is reported, not only the first.
func Parse(data []byte) (*Table, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("routes: empty route table")
		}
		return nil, fmt.Errorf("routes: decode table: %w", err)
	}

	t := &Table{Services: make(map[string]Service, len(f.Services)), Routes: f.Routes}
	var errs []error
	if len(f.Services) == 0 {
		errs = append(errs, errors.New("no services defined"))
	}
	names := make([]string, 0, len(f.Services))
	for name := range f.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		port := f.Services[name].Port
		if port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("service %q: port %d out of range 1-65535", name, port))
		}
		t.Services[name] = Service{Name: name, Port: port, InternalPort: f.Services[name].InternalPort, Calls: f.Services[name].Calls}
	}
	errs = append(errs, validateTopology(t)...)

	if len(f.Routes) == 0 {
		errs = append(errs, errors.New("no routes defined"))
	}
	type key struct {
		path     string
		pathType PathType
	}
	seen := make(map[key]int, len(f.Routes))
	for i, r := range f.Routes {
		where := fmt.Sprintf("route %d (%s %s)", i+1, r.PathType, r.Path)
		if err := validatePath(r.Path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		switch r.PathType {
		case Exact, Prefix:
		case "":
			errs = append(errs, fmt.Errorf("%s: pathType is required (Exact or Prefix)", where))
		default:
			errs = append(errs, fmt.Errorf("%s: unknown pathType %q (want Exact or Prefix)", where, r.PathType))
		}
		if _, ok := t.Services[r.Service]; !ok {
			errs = append(errs, fmt.Errorf("%s: unknown service %q", where, r.Service))
		}
		k := key{path: r.Path, pathType: r.PathType}
		if r.PathType == Prefix && r.Path != "/" {
			k.path = strings.TrimRight(r.Path, "/") // /x/ and /x are the same Prefix route
		}
		if first, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicates route %d", where, first))
		} else {
			seen[k] = i + 1
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("routes: invalid route table: %w", errors.Join(errs...))
	}
	return t, nil
}

// validatePath checks that p is an absolute, clean URL path that can be matched literally.
func validatePath(p string) error {
	switch {
	case p == "":
		return errors.New("path is required")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q must start with /", p)
	case strings.ContainsAny(p, "?#%* \t\r\n"):
		return fmt.Errorf("path %q contains a character not allowed in a route path", p)
	case strings.Contains(p, "//"):
		return fmt.Errorf("path %q contains an empty segment", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("path %q contains a dot segment", p)
		}
	}
	return nil
}

// Match returns the route that serves the request path p, following the Ingress rules in the
// package documentation. DevOnly routes take part only when includeDev is true.
func (t *Table) Match(p string, includeDev bool) (Route, bool) {
	var (
		best  Route
		found bool
	)
	for _, r := range t.Routes {
		if (r.DevOnly && !includeDev) || !r.Matches(p) {
			continue
		}
		if !found || better(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

// better reports whether a beats b when both match: longer path first, then Exact over Prefix.
func better(a, b Route) bool {
	if la, lb := a.matchLen(), b.matchLen(); la != lb {
		return la > lb
	}
	return a.PathType == Exact && b.PathType != Exact
}

// ServiceNames returns the service names in alphabetical order.
func (t *Table) ServiceNames() []string {
	names := make([]string, 0, len(t.Services))
	for name := range t.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Find locates charts/latchkey/routes.yaml by walking up from the working directory, so tests and
// the dev program find the table from anywhere inside the repository.
func Find() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("routes: find table: %w", err)
	}
	return FindFrom(wd)
}

// FindFrom locates charts/latchkey/routes.yaml by walking up from dir.
func FindFrom(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("routes: find table: %w", err)
	}
	for d := dir; ; {
		candidate := filepath.Join(d, filepath.FromSlash(DefaultPath))
		if fi, err := os.Stat(candidate); err == nil && fi.Mode().IsRegular() {
			return candidate, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("routes: %s not found in %s or any parent directory", DefaultPath, dir)
		}
		d = parent
	}
}
