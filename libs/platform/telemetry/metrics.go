package telemetry

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is a service's Prometheus registry with the HTTP metrics every service exports. What it
// exports is the registry's metrics plus the process-wide ones registered with MustRegister.
type Metrics struct {
	Registry     *prometheus.Registry
	HTTPRequests *prometheus.CounterVec
	HTTPDuration *prometheus.HistogramVec
}

// NewMetrics builds a registry with Go runtime, process and HTTP metrics. No metric carries a constant
// service label: the scrape target's labels (job, namespace, pod, service) say which service it is,
// and a label of the same name would clash with them. The service argument is therefore not used.
func NewMetrics(service string) *Metrics {
	_ = service
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total", Help: "HTTP requests served, by route and status.",
		}, []string{"method", "route", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latchkey_http_request_duration_seconds", Help: "HTTP request latency, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration)
	return m
}

// Gatherer returns what the service exports on /metrics: the registry's metrics and the process-wide
// ones (build info, outbox, Kafka consumers, deny-list, the services' own packages).
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return prometheus.Gatherers{m.Registry, processRegistry}
}

// processRegistry holds the metrics of code that runs once per process whatever builds it: the
// platform libraries' (outbox relay, consumers, deny-list) and a service's domain packages'. They are
// package-level collectors, registered once, and exported by every Metrics of the process.
var processRegistry = prometheus.NewRegistry()

// MustRegister adds process-wide collectors to what every Metrics exports; it panics when a metric of
// the same name is already registered. Call it from package-level variable initialisation.
func MustRegister(cs ...prometheus.Collector) { processRegistry.MustRegister(cs...) }

// Build information, set at link time by the image build and `make build`:
//
//	go build -ldflags "-X github.com/latchkey/latchkey/libs/platform/telemetry.version=1.2.3 \
//	  -X github.com/latchkey/latchkey/libs/platform/telemetry.revision=$(git rev-parse HEAD)"
//
// When they are empty, the Go build information fills them in (the module version; the VCS revision
// that `go build` stamps in a checkout), else "unknown".
var version, revision string

// BuildInfo returns the running binary's version, VCS revision and Go version.
func BuildInfo() (ver, rev, goVersion string) {
	ver, rev = version, revision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		if rev == "" {
			rev = vcsRevision(bi)
		}
	}
	if ver == "" {
		ver = "unknown"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, runtime.Version()
}

// vcsRevision is the revision `go build` stamped, with "-dirty" when the checkout had changes.
func vcsRevision(bi *debug.BuildInfo) string {
	rev, modified := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" && modified {
		rev += "-dirty"
	}
	return rev
}

func init() {
	ver, rev, goVersion := BuildInfo()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "latchkey_build_info",
		Help:        "Always 1; the labels say which build of the service is running.",
		ConstLabels: prometheus.Labels{"version": ver, "revision": rev, "go_version": goVersion},
	})
	buildInfo.Set(1)
	MustRegister(buildInfo)
}
