package journey_test

import (
	"testing"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
)

// scrapeService scrapes /metrics of every replica of the service and merges what they export, so
// that a counter's Value is the service's total whichever replica did the work (with one replica,
// it is that replica's scrape).
func scrapeService(t *testing.T, st *stack.Stack, service string) metricstest.Families {
	t.Helper()
	merged := metricstest.Families{}
	for i := range st.Replicas(service) {
		got, err := metricstest.Scrape(st.ReplicaInternalURL(service, i) + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		for name, mf := range got {
			if have, ok := merged[name]; ok {
				have.Metric = append(have.Metric, mf.Metric...)
			} else {
				merged[name] = mf
			}
		}
	}
	return merged
}
