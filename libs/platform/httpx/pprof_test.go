package httpx_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/httpx"
)

func TestInternalAppProfilerIsOptIn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pprof bool
		want  int
	}{
		{"off by default", false, http.StatusNotFound},
		{"on with PPROF_ENABLED", true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, err := httpx.NewInternalApp(httpx.Options{Service: "test", Logger: slog.New(slog.DiscardHandler), BodyLimit: 1 << 10, Pprof: tc.pprof})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil), 5_000)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /debug/pprof/: status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
