package telemetry_test

import (
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
)

func TestBuildInfo(t *testing.T) {
	m := telemetry.NewMetrics("identity")
	got, err := metricstest.Gather(m)
	if err != nil {
		t.Fatal(err)
	}
	ver, rev, goVersion := telemetry.BuildInfo()
	if goVersion != runtime.Version() || ver == "" || rev == "" {
		t.Errorf("BuildInfo() = %q, %q, %q; want a version, a revision and %s", ver, rev, goVersion, runtime.Version())
	}
	v, ok := got.Value("latchkey_build_info", map[string]string{"version": ver, "revision": rev, "go_version": goVersion})
	if !ok || v != 1 {
		t.Errorf("latchkey_build_info{version=%q,revision=%q,go_version=%q} = %v (present %v), want 1; exported: %s", ver, rev, goVersion, v, ok, got)
	}
}

// The scrape target's labels say which service a series comes from; a constant "service" label on the
// series would clash with the target's own.
func TestMetricsHaveNoServiceLabel(t *testing.T) {
	m := telemetry.NewMetrics("session")
	m.HTTPRequests.WithLabelValues("GET", "/x", "200").Inc()
	m.HTTPDuration.WithLabelValues("GET", "/x").Observe(0.1)
	got, err := metricstest.Gather(m)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Value("latchkey_http_requests_total", map[string]string{"route": "/x", "status": "200"}); v != 1 {
		t.Errorf("latchkey_http_requests_total = %v (present %v), want 1", v, ok)
	}
	if names := got.LabelNames(); slices.Contains(names, "service") {
		t.Errorf("label names %v include service", names)
	}
}

// Two Metrics of one process (two services built in one test) both export the process-wide metrics.
func TestTwoMetricsShareProcessMetrics(t *testing.T) {
	for _, svc := range []string{"identity", "profile"} {
		got, err := metricstest.Gather(telemetry.NewMetrics(svc))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Value("latchkey_build_info", nil); !ok {
			t.Errorf("%s: latchkey_build_info missing: %s", svc, got)
		}
	}
}

// The linker flags the image build and `make build` pass (docker/Dockerfile, Makefile; deploy checks
// they use these) set the version and revision latchkey_build_info shows.
func TestBuildInfoFromLinkerFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	ldflags := "-X github.com/latchkey/latchkey/libs/platform/telemetry.version=9.8.7 -X github.com/latchkey/latchkey/libs/platform/telemetry.revision=abc123"
	out, err := exec.Command("go", "run", "-ldflags", ldflags, "./testdata/buildinfo").CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "9.8.7 abc123 "+runtime.Version(); got != want {
		t.Errorf("BuildInfo() with linker flags = %q, want %q", got, want)
	}
}
