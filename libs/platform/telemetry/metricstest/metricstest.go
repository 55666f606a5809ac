// Package metricstest reads the metrics a process exports, for tests that assert a metric exists and
// moves: from a telemetry.Metrics, or scraped from a running service's /metrics.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

// Families is a set of gathered metric families by name.
type Families map[string]*dto.MetricFamily

// Gather returns what m exports (its registry and the process-wide metrics).
func Gather(m *telemetry.Metrics) (Families, error) {
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	out := make(Families, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out, nil
}

// Scrape fetches and parses the Prometheus text exposition at url (a service's /metrics).
func Scrape(url string) (Families, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("scrape %s: status %d: %s", url, resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return mfs, nil
}

// Names returns the metric names, sorted.
func (f Families) Names() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Value returns the value of the series of name whose labels include labels (a counter's or gauge's
// value; a histogram's sample count), summed over the matching series, and whether any matched.
func (f Families) Value(name string, labels map[string]string) (float64, bool) {
	mf, ok := f[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

// LabelNames returns every label name used by any series of any family.
func (f Families) LabelNames() []string {
	var names []string
	for _, mf := range f {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(names, lp.GetName()) {
					names = append(names, lp.GetName())
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		ok := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// String lists the families' names, for failure messages.
func (f Families) String() string { return strings.Join(f.Names(), ", ") }
