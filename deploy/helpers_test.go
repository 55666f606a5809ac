package deploy_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/deploy/render"
	"github.com/latchkey/latchkey/devstack/routes"
)

// root is the repository root, seen from this package's directory.
const root = ".."

var chartDir = filepath.Join(root, "charts", "latchkey")

// services are the four services, in the order of the route table's names.
var services = []string{"identity", "notification", "profile", "session"}

// valueSet is one way to install the chart, as the README documents it.
type valueSet struct {
	name  string
	files []string
	set   []string
}

// valueSets are the chart's three documented configurations: default, dev (Tilt) and production.
var valueSets = []valueSet{
	{name: "default"},
	{name: "dev", files: []string{filepath.Join(chartDir, "values-dev.yaml")}},
	{name: "production", files: []string{filepath.Join(chartDir, "values-production.yaml")}},
}

// overlays are the kustomize directories teams apply.
var overlays = []string{
	filepath.Join(root, "k8s", "base"),
	filepath.Join(root, "k8s", "overlays", "dev"),
}

// renderChart renders the chart like `helm template latchkey charts/latchkey -n latchkey ...`.
func renderChart(t *testing.T, vs valueSet) []render.Object {
	t.Helper()
	objs, err := render.Chart(chartDir, "latchkey", "latchkey", vs.files, vs.set)
	if err != nil {
		t.Fatalf("render chart with %s values: %v", vs.name, err)
	}
	return objs
}

// buildOverlay runs kustomize on dir.
func buildOverlay(t *testing.T, dir string) []render.Object {
	t.Helper()
	objs, err := render.Kustomize(dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objs
}

// routeTable loads charts/latchkey/routes.yaml.
func routeTable(t *testing.T) *routes.Table {
	t.Helper()
	table, err := routes.Load(filepath.Join(root, routes.DefaultPath))
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// tableServices lists the route table's services, sorted.
func tableServices(t *testing.T) []string {
	t.Helper()
	var names []string
	for name := range routeTable(t).Services {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
