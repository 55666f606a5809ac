package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/latchkey/latchkey/deploy/render"
)

// monitoringOn turns on the ServiceMonitor, the PrometheusRule and the Grafana dashboard.
var monitoringOn = []string{
	"monitoring.serviceMonitor.enabled=true",
	"monitoring.serviceMonitor.labels.release=kube-prometheus-stack",
	"monitoring.prometheusRule.enabled=true",
	"monitoring.grafanaDashboard.enabled=true",
}

// wantAlerts are the alerts the chart's PrometheusRule must carry.
var wantAlerts = []string{
	"LatchkeyHigh5xxRatio", "LatchkeyOutboxBacklog", "LatchkeyDeadLetters", "LatchkeyConsumerLag",
	"LatchkeyConsumerStuck", "LatchkeyRevocationLag", "LatchkeyLoginFailureSpike",
}

// monitoringObjects renders the chart with monitoringOn on top of vs and returns the three objects.
func monitoringObjects(t *testing.T, vs valueSet) (*monitoringv1.ServiceMonitor, *monitoringv1.PrometheusRule, *corev1.ConfigMap, []render.Object) {
	t.Helper()
	vs.set = append(slices.Clone(vs.set), monitoringOn...)
	objs := renderChart(t, vs)
	var (
		sm   *monitoringv1.ServiceMonitor
		rule *monitoringv1.PrometheusRule
		dash *corev1.ConfigMap
	)
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *monitoringv1.ServiceMonitor:
			sm = v
		case *monitoringv1.PrometheusRule:
			rule = v
		case *corev1.ConfigMap:
			if strings.HasSuffix(v.Name, "-dashboard") {
				dash = v
			}
		}
	}
	if sm == nil || rule == nil || dash == nil {
		t.Fatalf("%s values with monitoring on: ServiceMonitor %v, PrometheusRule %v, dashboard ConfigMap %v; want all three", vs.name, sm != nil, rule != nil, dash != nil)
	}
	return sm, rule, dash, objs
}

func TestMonitoringOffByDefault(t *testing.T) {
	for _, vs := range valueSets {
		for _, o := range renderChart(t, vs) {
			switch o.Typed.(type) {
			case *monitoringv1.ServiceMonitor, *monitoringv1.PrometheusRule:
				t.Errorf("%s values render %s; monitoring objects need the Prometheus Operator's CRDs and are opt-in", vs.name, o)
			}
			if strings.HasSuffix(o.Name, "-dashboard") {
				t.Errorf("%s values render %s", vs.name, o)
			}
		}
	}
}

// The ServiceMonitor selects the four Services, in the release's namespace, on their internal port.
func TestMonitoringServiceMonitorScrapesEveryService(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			sm, _, _, objs := monitoringObjects(t, vs)
			if sm.Labels["release"] != "kube-prometheus-stack" {
				t.Errorf("ServiceMonitor labels %v lack monitoring.serviceMonitor.labels", sm.Labels)
			}
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "internal" || sm.Spec.Endpoints[0].Path != "/metrics" {
				t.Fatalf("endpoints = %+v, want the port named internal, /metrics", sm.Spec.Endpoints)
			}
			if got := sm.Spec.NamespaceSelector.MatchNames; !slices.Equal(got, []string{"latchkey"}) {
				t.Errorf("namespaceSelector = %v, want the release's namespace", got)
			}
			sel := labels.SelectorFromSet(sm.Spec.Selector.MatchLabels)
			var scraped []string
			for _, o := range objs {
				svc, ok := o.Typed.(*corev1.Service)
				if !ok || !sel.Matches(labels.Set(svc.Labels)) {
					continue
				}
				hasPort := slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "internal" })
				if !hasPort {
					t.Errorf("Service %s is selected but has no port named internal", svc.Name)
				}
				scraped = append(scraped, svc.Labels["app.kubernetes.io/name"])
			}
			slices.Sort(scraped)
			if !slices.Equal(scraped, services) {
				t.Errorf("ServiceMonitor selects the Services of %v, want %v", scraped, services)
			}
		})
	}
}

func TestMonitoringRulesAndDashboard(t *testing.T) {
	exported := exportedMetrics(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			_, rule, dash, _ := monitoringObjects(t, vs)

			var alerts []string
			for _, g := range rule.Spec.Groups {
				for _, r := range g.Rules {
					expr := r.Expr.String()
					alerts = append(alerts, r.Alert)
					if !strings.Contains(expr, `namespace="latchkey"`) || !strings.Contains(expr, `service=~"latchkey-identity|latchkey-notification|latchkey-profile|latchkey-session"`) {
						t.Errorf("alert %s does not select the release's series by namespace and service: %s", r.Alert, expr)
					}
					if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
						t.Errorf("alert %s needs a severity label and summary and description annotations", r.Alert)
					}
					if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
						t.Errorf("alert %s: unbalanced expression %s", r.Alert, expr)
					}
					checkMetricNames(t, "alert "+r.Alert, expr, exported)
				}
			}
			slices.Sort(alerts)
			want := slices.Sorted(slices.Values(wantAlerts))
			if !slices.Equal(alerts, want) {
				t.Errorf("alerts = %v, want %v", alerts, want)
			}

			if dash.Labels["grafana_dashboard"] != "1" {
				t.Errorf("dashboard labels %v lack the Grafana sidecar's grafana_dashboard: \"1\"", dash.Labels)
			}
			var board struct {
				UID    string `json:"uid"`
				Panels []struct {
					Title   string `json:"title"`
					Targets []struct {
						Expr string `json:"expr"`
					} `json:"targets"`
				} `json:"panels"`
			}
			if err := json.Unmarshal([]byte(dash.Data["latchkey.json"]), &board); err != nil {
				t.Fatalf("dashboard is not JSON: %v", err)
			}
			exprs := 0
			for _, p := range board.Panels {
				for _, tg := range p.Targets {
					exprs++
					checkMetricNames(t, "panel "+p.Title, tg.Expr, exported)
				}
			}
			if board.UID == "" || exprs < 10 {
				t.Errorf("dashboard uid %q with %d queries; want a uid and the services' panels", board.UID, exprs)
			}
		})
	}
}

// TestMonitoringLintStrict is `helm lint --strict` with the ServiceMonitor, the rules and the
// dashboard on.
func TestMonitoringLintStrict(t *testing.T) {
	file := filepath.Join(t.TempDir(), "monitoring.yaml")
	values := `monitoring:
  serviceMonitor: {enabled: true}
  prometheusRule: {enabled: true}
  grafanaDashboard: {enabled: true}
`
	if err := os.WriteFile(file, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			if err := render.Lint(chartDir, append(slices.Clone(vs.files), file)); err != nil {
				t.Errorf("helm lint --strict with monitoring on: %v", err)
			}
		})
	}
}

func TestMonitoringSchemaRefusesBadValues(t *testing.T) {
	for _, set := range []string{
		"monitoring.serviceMonitor.enabled=yes",
		"monitoring.serviceMonitor.interval=soon",
		"monitoring.prometheusRule.thresholds.http5xxRatio=2",
		"monitoring.prometheusRule.threshold.http5xxRatio=0.1",
		"monitoring.grafanaDashboard.label.a=b",
	} {
		t.Run(set, func(t *testing.T) {
			if _, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{set}); err == nil {
				t.Errorf("--set %s rendered; want a schema error", set)
			}
		})
	}
}

// metricRef finds metric names in PromQL.
var metricRef = regexp.MustCompile(`\blatchkey_[a-z0-9_]+`)

// checkMetricNames fails when expr uses a latchkey_* metric the services do not export (a histogram's
// _bucket, _sum and _count series count as the histogram).
func checkMetricNames(t *testing.T, where, expr string, exported map[string]string) {
	t.Helper()
	names := metricRef.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s uses no latchkey metric: %s", where, expr)
	}
	for _, name := range names {
		if _, ok := exported[name]; ok {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if typ, ok := exported[base]; ok && base != name && typ == "histogram" {
			continue
		}
		t.Errorf("%s uses %s, which no service exports (docs/metrics.md)", where, name)
	}
}

// exportedMetrics reads the table of docs/metrics.md: metric name → type. The journey
// TestMetricsAfterAJourney checks the same table against the running services.
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(latchkey_[a-z0-9_]+)` \\| (counter|gauge|histogram) \\|")
	out := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2]
		}
	}
	if len(out) < 10 {
		t.Fatalf("docs/metrics.md lists %d metrics: %v", len(out), fmt.Sprint(out))
	}
	return out
}
