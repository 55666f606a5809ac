package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// loginCounts returns latchkey_identity_login_attempts_total of the password step by outcome.
func loginCounts(t *testing.T) map[string]float64 {
	t.Helper()
	got, err := metricstest.Gather(telemetry.NewMetrics("identity"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, o := range []string{"success", "challenge", "failure", "throttled", "captcha", "error"} {
		out[o], _ = got.Value("latchkey_identity_login_attempts_total", map[string]string{"step": "password", "outcome": o})
	}
	return out
}

// Every sign-in is counted by its outcome. Not parallel: the counter is the process's, and the other
// tests sign in too.
func TestLoginOutcomeMetrics(t *testing.T) {
	h := newHarness(t, func(s *setup) { s.login.LoginPerIP = throttle.Limit{Max: 2, Window: time.Hour} })
	h.register(t, "grace@example.com", map[string]any{"username": "grace", "device_id": "laptop"})
	before := loginCounts(t)

	steps := []struct {
		body       map[string]any
		wantStatus int
	}{
		{login("grace", goodPassword, "laptop"), http.StatusOK},                 // success
		{login("grace", goodPassword, "phone"), http.StatusOK},                  // challenge
		{login("grace", "wrong-Password-1", "laptop"), http.StatusUnauthorized}, // failure
		{login("grace", "wrong-Password-2", "laptop"), http.StatusUnauthorized}, // failure: the address's last one
		{login("grace", "wrong-Password-3", "laptop"), http.StatusTooManyRequests},
	}
	for i, s := range steps {
		if r := h.post(t, "/api/v1/auth/login", s.body); r.status != s.wantStatus {
			t.Fatalf("login %d: status %d %s, want %d", i, r.status, r.raw, s.wantStatus)
		}
	}

	after := loginCounts(t)
	want := map[string]float64{"success": 1, "challenge": 1, "failure": 2, "throttled": 1, "captcha": 0, "error": 0}
	for outcome, n := range want {
		if got := after[outcome] - before[outcome]; got != n {
			t.Errorf("outcome %s counted %v times, want %v", outcome, got, n)
		}
	}
}
