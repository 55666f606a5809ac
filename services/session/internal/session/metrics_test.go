package session_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// refreshCounts returns latchkey_session_token_refreshes_total by outcome and the reuse counter.
func refreshCounts(t *testing.T) map[string]float64 {
	t.Helper()
	got, err := metricstest.Gather(telemetry.NewMetrics("session"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, o := range []string{"success", "invalid", "error"} {
		out[o], _ = got.Value("latchkey_session_token_refreshes_total", map[string]string{"outcome": o})
	}
	out["reuses"], _ = got.Value("latchkey_session_refresh_token_reuses_total", nil)
	return out
}

// Each refresh is counted by outcome, and a reused refresh token also as a reuse. Not parallel: the
// counters are the process's, and the other tests refresh too.
func TestRefreshOutcomeMetrics(t *testing.T) {
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	first, err := f.svc.Create(ctx, "acc-metrics", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	before := refreshCounts(t)
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, ""); err != nil { // success
		t.Fatal(err)
	}
	_, _ = f.svc.Refresh(ctx, "not-a-refresh-token", "") // invalid
	_, _ = f.svc.Refresh(ctx, first.RefreshToken, "")    // invalid: reused, the session is revoked
	after := refreshCounts(t)

	want := map[string]float64{"success": 1, "invalid": 2, "error": 0, "reuses": 1}
	for k, n := range want {
		if got := after[k] - before[k]; got != n {
			t.Errorf("%s counted %v times, want %v", k, got, n)
		}
	}
}
