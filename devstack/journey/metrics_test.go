package journey_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
)

// documentedMetrics reads docs/metrics.md, the list the chart's alerts and dashboard are checked
// against (deploy/monitoring_test.go): metric name → the services that export it.
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(latchkey_[a-z0-9_]+)` \\| [a-z]+ \\|[^|]*\\| ([a-z, ]+) \\|")
	all := []string{stack.Identity, stack.Session, stack.Profile, stack.Notification}
	out := map[string][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if strings.TrimSpace(m[2]) == "all" {
			out[m[1]] = all
			continue
		}
		for _, s := range strings.Split(m[2], ",") {
			out[m[1]] = append(out[m[1]], strings.TrimSpace(s))
		}
	}
	if len(out) < 10 {
		t.Fatalf("docs/metrics.md lists %d metrics", len(out))
	}
	return out
}

// After a journey every service exports the metrics docs/metrics.md lists for it, without a service
// label (the scrape target's), and the journey's steps moved them: sign-ins by outcome, a token
// refresh, events relayed by the outboxes and consumed, a logout applied to the deny-lists.
func TestMetricsAfterAJourney(t *testing.T) {
	s := startFullStack(t)
	c := s.client
	a := register(t, c, "metrics")
	c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": "wrong-Password-1", "device_id": a.device}).want(t, 401, "wrong password")
	login := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": a.device}).want(t, 200, "login")
	r := c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": str(login.Body, "refresh_token")}).want(t, 200, "refresh")
	c.do("GET", "/api/v1/me", nil, bearer(str(r.Body, "access_token"))...).want(t, 200, "profile") // a request to profile
	c.do("POST", "/api/v1/auth/logout", nil, bearer(str(r.Body, "access_token"))...).want(t, 200, "logout")

	scrape := func(service string) metricstest.Families {
		t.Helper()
		return scrapeService(t, s.stack, service)
	}
	// moved waits until the series' value reaches at least min.
	moved := func(service, name string, labels map[string]string, min float64) {
		t.Helper()
		var v float64
		eventually(t, 20*time.Second, service+" "+name+" to move", func() bool {
			v, _ = scrape(service).Value(name, labels)
			return v >= min
		})
	}

	moved(stack.Identity, "latchkey_identity_login_attempts_total", map[string]string{"step": "password", "outcome": "failure"}, 1)
	moved(stack.Identity, "latchkey_identity_login_attempts_total", map[string]string{"step": "password", "outcome": "success"}, 1)
	moved(stack.Session, "latchkey_session_token_refreshes_total", map[string]string{"outcome": "success"}, 1)
	moved(stack.Identity, "latchkey_outbox_published_events_total", nil, 1) // the registration code
	moved(stack.Session, "latchkey_outbox_published_events_total", nil, 1)  // session.created, session.revoked
	moved(stack.Notification, "latchkey_kafka_consumer_events_total", map[string]string{"outcome": "handled"}, 1)
	moved(stack.Notification, "latchkey_notification_messages_total", map[string]string{"outcome": "sent"}, 1)
	for _, svc := range []string{stack.Identity, stack.Session, stack.Profile} {
		moved(svc, "latchkey_revocation_lag_seconds", map[string]string{"event_type": "session.revoked"}, 1)
	}

	documented := documentedMetrics(t)
	for _, svc := range []string{stack.Identity, stack.Session, stack.Profile, stack.Notification} {
		got := scrape(svc)
		if v, ok := got.Value("latchkey_build_info", nil); !ok || v != float64(s.stack.Replicas(svc)) {
			t.Errorf("%s: latchkey_build_info = %v (present %v), want 1 per replica", svc, v, ok)
		}
		if slices.Contains(got.LabelNames(), "service") {
			t.Errorf("%s: a series carries a service label (it clashes with the scrape target's)", svc)
		}
		for name, exporters := range documented {
			if !slices.Contains(exporters, svc) {
				continue
			}
			if _, ok := got[name]; !ok {
				t.Errorf("%s does not export %s (docs/metrics.md says it does)", svc, name)
			}
		}
	}
}
