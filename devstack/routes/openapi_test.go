package routes

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/latchkey/latchkey/libs/platform/apispec"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
)

var pathParam = regexp.MustCompile(`\{[^/}]+\}`)

// TestOpenAPIOwnersMatchRoutes fails when routes.yaml sends a documented path to a service other than
// the one the OpenAPI document (libs/platform/apispec) says registers it, or to none.
func TestOpenAPIOwnersMatchRoutes(t *testing.T) {
	table := loadReal(t)
	doc, err := apispec.Document()
	if err != nil {
		t.Fatal(err)
	}
	if doc.Paths.Len() == 0 {
		t.Fatal("the document has no paths")
	}
	for path, item := range doc.Paths.Map() {
		owner, _ := item.Extensions[apispectest.OwnerExtension].(string)
		if owner == "" {
			t.Errorf("%s: no %s", path, apispectest.OwnerExtension)
			continue
		}
		if _, ok := table.Services[owner]; !ok {
			t.Errorf("%s: %s %q is not a service of routes.yaml", path, apispectest.OwnerExtension, owner)
		}
		dev := false
		for _, op := range item.Operations() {
			d, _ := op.Extensions[apispectest.DevOnlyExtension].(bool)
			dev = dev || d
		}
		sample := pathParam.ReplaceAllString(path, "sample")
		r, ok := table.Match(sample, dev)
		switch {
		case !ok:
			t.Errorf("%s (owned by %s): routes.yaml routes it nowhere", path, owner)
		case r.Service != owner:
			t.Errorf("%s: routes.yaml sends it to %s (%s), the document says %s registers it", path, r.Service, r, owner)
		case r.DevOnly != dev:
			t.Errorf("%s: routes.yaml devOnly=%v, the document's %s=%v", path, r.DevOnly, apispectest.DevOnlyExtension, dev)
		}
	}
}

// TestDocumentedPathsInOpenAPI fails when deploy/testdata/documented-paths.yaml (the paths the chart
// tests route) lists an operation the OpenAPI document lacks or gives to another service.
func TestDocumentedPathsInOpenAPI(t *testing.T) {
	routesFile, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(routesFile))) // charts/latchkey/routes.yaml
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "testdata", "documented-paths.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var groups map[string][]struct{ Method, Path, Service string }
	if err := yaml.Unmarshal(raw, &groups); err != nil {
		t.Fatal(err)
	}
	doc, err := apispec.Document()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for group, entries := range groups {
		for _, e := range entries {
			n++
			item := doc.Paths.Value(e.Path)
			if item == nil || item.GetOperation(strings.ToUpper(e.Method)) == nil {
				t.Errorf("%s: %s %s is not in the OpenAPI document", group, e.Method, e.Path)
				continue
			}
			if owner, _ := item.Extensions[apispectest.OwnerExtension].(string); owner != e.Service {
				t.Errorf("%s: %s %s belongs to %s, the OpenAPI document says %s", group, e.Method, e.Path, e.Service, owner)
			}
		}
	}
	if n < 50 {
		t.Fatalf("read only %d documented paths", n)
	}
}
