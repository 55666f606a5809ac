package deploy_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// TestChartAPIDocs: apiDocs.enabled renders API_DOCS_ENABLED into the session service's ConfigMap
// only (the service that serves /openapi.json and /docs), on by default and in every values file,
// off when set false; the routes stay routed either way (the service answers 404 when off).
func TestChartAPIDocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		set   []string
		want  string
	}{
		{name: "default", want: "true"},
		{name: "dev", files: valueSets[1].files, want: "true"},
		{name: "production", files: valueSets[2].files, want: "true"},
		{name: "off", files: valueSets[2].files, set: []string{"apiDocs.enabled=false"}, want: "false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := render.Chart(chartDir, "latchkey", "latchkey", tc.files, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			cms := byName(render.Of[*corev1.ConfigMap](objs))
			for _, name := range services {
				got, ok := cms["latchkey-"+name].Data["API_DOCS_ENABLED"]
				switch {
				case name == "session" && got != tc.want:
					t.Errorf("session API_DOCS_ENABLED = %q (set %v), want %q", got, ok, tc.want)
				case name != "session" && ok:
					t.Errorf("%s has API_DOCS_ENABLED = %q; only the session service serves the docs", name, got)
				}
			}
			if len(tc.files) == 0 || tc.files[0] != valueSets[2].files[0] {
				return // the production values render both the Ingress and the HTTPRoute
			}
			for routerName, route := range map[string]router{"Ingress": ingressRouter(t, objs), "HTTPRoute": httpRouteRouter(t, objs)} {
				for _, path := range []string{"/openapi.json", "/docs", "/docs/swagger-ui.css"} {
					if got := route(path); got != "session" {
						t.Errorf("%s sends %s to %q, want session", routerName, path, got)
					}
				}
			}
		})
	}
	_, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{"apiDocs.enabled=yes"})
	if err == nil || !strings.Contains(err.Error(), "enabled") {
		t.Errorf("apiDocs.enabled=yes rendered (%v); want the schema to refuse it", err)
	}
}

// TestChartNotesAPIDocs: the install notes say where the document and the docs page are, unless off.
func TestChartNotesAPIDocs(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want bool
	}{
		{[]string{"ingress.host=accounts.example.com"}, true},
		{[]string{"ingress.host=accounts.example.com", "apiDocs.enabled=false"}, false},
	} {
		rel, err := render.Install(chartDir, "latchkey", "latchkey", nil, tc.set)
		if err != nil {
			t.Fatal(err)
		}
		notes := rel.Info.Notes
		for _, url := range []string{"https://accounts.example.com/openapi.json", "https://accounts.example.com/docs"} {
			if strings.Contains(notes, url) != tc.want {
				t.Errorf("--set %v: NOTES mention %s = %v, want %v:\n%s", tc.set, url, !tc.want, tc.want, notes)
			}
		}
	}
}
