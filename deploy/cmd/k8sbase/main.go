// Command k8sbase writes the kustomize base (k8s/base/latchkey.yaml) from the Helm chart, so the chart
// stays the one source of the manifests. Run it from the repository root (make k8s).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/latchkey/latchkey/deploy/render"
)

func main() {
	chart := flag.String("chart", "charts/latchkey", "chart directory")
	values := flag.String("values", "k8s/base/chart-values.yaml", "values for the base")
	out := flag.String("out", "k8s/base/latchkey.yaml", "file to write")
	flag.Parse()
	b, err := render.KustomizeBase(*chart, *values)
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "k8sbase: %v\n", err)
		os.Exit(1)
	}
}
