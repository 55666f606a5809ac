package deploy_test

import (
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// adminPath is a path of the admin API (routes.yaml: /api/v1/admin, admin: true).
const adminPath = "/api/v1/admin/accounts/0b4f6f2e/lock"

// TestAdminRoutes: the chart routes the admin API only when admin.enabled — beside the other routes,
// or with admin.host on an Ingress and an HTTPRoute of its own for that host only — while the local
// gateway always routes it.
func TestAdminRoutes(t *testing.T) {
	prod := valueSets[2].files
	for _, tc := range []struct {
		name      string
		set       []string
		wantMain  string // the service the main Ingress / HTTPRoute sends adminPath to
		adminHost string // non-empty: a second Ingress / HTTPRoute for this host routes it to identity
	}{
		{name: "default: off", set: nil, wantMain: ""},
		{name: "enabled", set: []string{"admin.enabled=true"}, wantMain: "identity"},
		{name: "own host", set: []string{"admin.enabled=true", "admin.host=admin.example.com"}, wantMain: "", adminHost: "admin.example.com"},
		{name: "host without enabled", set: []string{"admin.host=admin.example.com"}, wantMain: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderChart(t, valueSet{name: tc.name, files: prod, set: tc.set})
			var main, admin []render.Object
			for _, o := range objs {
				switch {
				case o.GVK.Kind != "Ingress" && o.GVK.Kind != "HTTPRoute":
				case o.Name == "latchkey-admin":
					admin = append(admin, o)
				default:
					main = append(main, o)
				}
			}
			if got := ingressRouter(t, main)(adminPath); got != tc.wantMain {
				t.Errorf("main Ingress sends %s to %q, want %q", adminPath, got, tc.wantMain)
			}
			if got := httpRouteRouter(t, main)(adminPath); got != tc.wantMain {
				t.Errorf("main HTTPRoute sends %s to %q, want %q", adminPath, got, tc.wantMain)
			}
			// The rest of the API stays where it was.
			if got := ingressRouter(t, main)("/api/v1/auth/login"); got != "identity" {
				t.Errorf("main Ingress sends login to %q", got)
			}
			if tc.adminHost == "" {
				if len(admin) != 0 {
					t.Errorf("%d admin objects rendered, want none", len(admin))
				}
				return
			}
			ings, hrs := render.Of[*networkingv1.Ingress](admin), render.Of[*gatewayv1.HTTPRoute](admin)
			if len(ings) != 1 || len(hrs) != 1 {
				t.Fatalf("%d admin Ingresses and %d HTTPRoutes, want one each", len(ings), len(hrs))
			}
			if rules := ings[0].Spec.Rules; len(rules) != 1 || rules[0].Host != tc.adminHost {
				t.Errorf("admin Ingress rules %+v, want host %s", rules, tc.adminHost)
			}
			if !slices.Equal(hrs[0].Spec.Hostnames, []gatewayv1.Hostname{gatewayv1.Hostname(tc.adminHost)}) {
				t.Errorf("admin HTTPRoute hostnames %v, want %s", hrs[0].Spec.Hostnames, tc.adminHost)
			}
			for name, route := range map[string]router{"admin Ingress": ingressRouter(t, admin), "admin HTTPRoute": httpRouteRouter(t, admin)} {
				if got := route(adminPath); got != "identity" {
					t.Errorf("%s sends %s to %q, want identity", name, adminPath, got)
				}
				if got := route("/api/v1/auth/login"); got != "" {
					t.Errorf("%s also routes login (to %q): it must carry the admin API only", name, got)
				}
			}
		})
	}
	if got := gatewayRouter(t, false)(adminPath); got != "identity" {
		t.Errorf("the local gateway sends %s to %q, want identity", adminPath, got)
	}
}
