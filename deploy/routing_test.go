package deploy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/latchkey/latchkey/deploy/render"
	"github.com/latchkey/latchkey/devstack/gateway"
	"github.com/latchkey/latchkey/devstack/routes"
)

// documentedPath is one entry of testdata/documented-paths.yaml.
type documentedPath struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Service string `json:"service"`
}

// samples replace the {parameters} of documented paths.
var samples = strings.NewReplacer("{username}", "ada", "{sessionId}", "0b4f6f2e-8c2a-4f7e-9d7c-1d2e3f4a5b6c",
	"{deviceKeyId}", "dk_123", "{provider}", "google", "{keyId}", "key_123", "{asset}", "swagger-ui-bundle.js")

func documentedPaths(t *testing.T) map[string][]documentedPath {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "documented-paths.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var docs map[string][]documentedPath
	if err := yaml.UnmarshalStrict(data, &docs); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"account-api", "profile-api", "audiopod", "auth"} {
		if len(docs[doc]) == 0 {
			t.Fatalf("testdata lists no paths of %s", doc)
		}
	}
	if n := len(docs["account-api"]); n != 27 {
		t.Fatalf("testdata lists %d account API endpoints, the document has 27", n)
	}
	return docs
}

// router answers which service a request path reaches, or "" when nothing routes it.
type router func(path string) string

// TestDocumentedPathsRouted walks every documented path through the four routers built from
// routes.yaml — the chart's Ingress, the chart's HTTPRoute, the kustomize Ingress and the local
// gateway — and checks each reaches the service that owns it.
func TestDocumentedPathsRouted(t *testing.T) {
	prod := renderChart(t, valueSets[2]) // production: Ingress and HTTPRoute both on
	routers := map[string]router{
		"helm Ingress":      ingressRouter(t, prod),
		"helm HTTPRoute":    httpRouteRouter(t, prod),
		"kustomize Ingress": ingressRouter(t, buildOverlay(t, overlays[0])),
		"kustomize dev":     ingressRouter(t, buildOverlay(t, overlays[1])),
		"local gateway":     gatewayRouter(t, false),
	}
	for doc, paths := range documentedPaths(t) {
		for _, p := range paths {
			path := samples.Replace(p.Path)
			t.Run(doc+" "+p.Method+" "+p.Path, func(t *testing.T) {
				for name, route := range routers {
					if got := route(path); got != p.Service {
						t.Errorf("%s sends %s to %q, want %q", name, path, got, p.Service)
					}
				}
			})
		}
	}
}

// TestDevOnlyRoutesStayLocal: the dev outbox (devOnly in routes.yaml) is routed by the local and dev
// gateways only, never by a cluster's Ingress or HTTPRoute.
func TestDevOnlyRoutesStayLocal(t *testing.T) {
	prod := renderChart(t, valueSets[2])
	for name, route := range map[string]router{
		"helm Ingress":      ingressRouter(t, prod),
		"helm HTTPRoute":    httpRouteRouter(t, prod),
		"kustomize Ingress": ingressRouter(t, buildOverlay(t, overlays[1])),
	} {
		if got := route("/api/v1/dev/outbox"); got != "" {
			t.Errorf("%s routes the dev outbox to %q", name, got)
		}
	}
	if got := gatewayRouter(t, true)("/api/v1/dev/outbox"); got != "notification" {
		t.Errorf("dev gateway sends the dev outbox to %q, want notification", got)
	}
	if got := gatewayRouter(t, false)("/api/v1/dev/outbox"); got != "" {
		t.Errorf("gateway without dev routes sends the dev outbox to %q", got)
	}
}

// ingressRouter routes like an Ingress controller (networking.k8s.io/v1 semantics) over every Ingress
// in objs: the longest matching path wins, Exact beats Prefix at equal length, Prefix matches whole
// segments. It answers the service by stripping the release prefix from the backend's name.
func ingressRouter(t *testing.T, objs []render.Object) router {
	t.Helper()
	ingresses := render.Of[*networkingv1.Ingress](objs)
	if len(ingresses) == 0 {
		t.Fatal("no Ingress rendered")
	}
	var rs []routes.Route
	for _, ing := range ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil || p.PathType == nil {
					t.Fatalf("Ingress path %s has no service backend or path type", p.Path)
				}
				if p.Backend.Service.Port.Name != "http" && p.Backend.Service.Port.Number == 0 {
					t.Fatalf("Ingress path %s targets no port", p.Path)
				}
				rs = append(rs, routes.Route{Path: p.Path, PathType: routes.PathType(*p.PathType), Service: strings.TrimPrefix(p.Backend.Service.Name, "latchkey-")})
			}
		}
	}
	return tableRouter(t, rs)
}

// tableRouter routes by Kubernetes Ingress rules using routes.Table's matcher.
func tableRouter(t *testing.T, rs []routes.Route) router {
	t.Helper()
	table := &routes.Table{Services: map[string]routes.Service{}, Routes: rs}
	return func(path string) string {
		r, ok := table.Match(path, false)
		if !ok {
			return ""
		}
		return r.Service
	}
}

// httpRouteRouter routes like a Gateway API implementation over every HTTPRoute in objs: an Exact
// match beats any PathPrefix match, then the longest prefix wins; PathPrefix matches whole segments.
func httpRouteRouter(t *testing.T, objs []render.Object) router {
	t.Helper()
	hrs := render.Of[*gatewayv1.HTTPRoute](objs)
	if len(hrs) == 0 {
		t.Fatal("no HTTPRoute rendered")
	}
	type match struct {
		exact   bool
		value   string
		service string
	}
	var ms []match
	for _, hr := range hrs {
		if len(hr.Spec.ParentRefs) == 0 {
			t.Fatalf("HTTPRoute %s attaches to no Gateway", hr.Name)
		}
		// The Gateway API CRD's limits (checked by the API server, not by decoding): at most 16 rules,
		// 64 matches per rule, 128 matches in all.
		total := 0
		for _, rule := range hr.Spec.Rules {
			total += len(rule.Matches)
			if len(rule.Matches) > 64 {
				t.Errorf("HTTPRoute %s: a rule with %d matches, the API allows 64", hr.Name, len(rule.Matches))
			}
		}
		if len(hr.Spec.Rules) > 16 || total > 128 {
			t.Errorf("HTTPRoute %s: %d rules and %d matches, the API allows 16 and 128", hr.Name, len(hr.Spec.Rules), total)
		}
		for _, rule := range hr.Spec.Rules {
			if len(rule.BackendRefs) != 1 {
				t.Fatalf("HTTPRoute rule with %d backends, want 1", len(rule.BackendRefs))
			}
			svc := strings.TrimPrefix(string(rule.BackendRefs[0].Name), "latchkey-")
			for _, m := range rule.Matches {
				ms = append(ms, match{exact: *m.Path.Type == gatewayv1.PathMatchExact, value: *m.Path.Value, service: svc})
			}
		}
	}
	return func(path string) string {
		best, bestLen := "", -1
		for _, m := range ms {
			if m.exact {
				if path == m.value {
					return m.service
				}
				continue
			}
			prefix := strings.TrimRight(m.value, "/")
			if (path == prefix || strings.HasPrefix(path, prefix+"/") || prefix == "") && len(prefix) > bestLen {
				best, bestLen = m.service, len(prefix)
			}
		}
		return best
	}
}

// gatewayRouter sends requests through the real local gateway (package gateway, as `make run` and the
// dev cluster run it) with upstreams that answer their own name.
func gatewayRouter(t *testing.T, dev bool) router {
	t.Helper()
	table := routeTable(t)
	upstreams := map[string]string{}
	for name := range table.Services {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		upstreams[name] = srv.URL
	}
	gw, err := gateway.New(gateway.Options{Table: table, Upstreams: upstreams, IncludeDev: dev})
	if err != nil {
		t.Fatal(err)
	}
	return func(path string) string {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			return ""
		}
		return rec.Body.String()
	}
}
