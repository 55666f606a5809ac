package deploy_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// TestChartAccountExport: the identity service gets the export settings (a day to read an export, an
// hour between two) in every value set, no other service does, and the schema refuses a value that
// is not a duration.
func TestChartAccountExport(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			cms := byName(render.Of[*corev1.ConfigMap](renderChart(t, vs)))
			id := cms["latchkey-identity"].Data
			if id["ACCOUNT_EXPORT_TTL"] != "24h" || id["ACCOUNT_EXPORT_INTERVAL"] != "1h" {
				t.Errorf("identity: ACCOUNT_EXPORT_TTL=%q ACCOUNT_EXPORT_INTERVAL=%q, want 24h and 1h", id["ACCOUNT_EXPORT_TTL"], id["ACCOUNT_EXPORT_INTERVAL"])
			}
			for _, name := range services {
				if _, set := cms["latchkey-"+name].Data["ACCOUNT_EXPORT_TTL"]; name != "identity" && set {
					t.Errorf("%s got ACCOUNT_EXPORT_TTL", name)
				}
			}
		})
	}
	for _, set := range []string{"services.identity.env.ACCOUNT_EXPORT_TTL=a day", "services.identity.env.ACCOUNT_EXPORT_INTERVAL=1 hour"} {
		if _, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{set}); err == nil || !strings.Contains(err.Error(), "ACCOUNT_EXPORT_") {
			t.Errorf("--set %s: err = %v, want the schema to refuse it", set, err)
		}
	}
}
