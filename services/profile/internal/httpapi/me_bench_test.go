package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// BenchmarkGetMe is GET /api/v1/me as the profile service serves it: Fiber's router, the
// authentication middleware (access token, cached verification, deny-list), the profile read from the
// embedded MongoDB-compatible server and the rendering. The server runs in the test process, so
// ns/op includes its share; allocs/op are the service's and the driver's.
func BenchmarkGetMe(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	if err := f.service.ApplyAccountCreated(ctx, profile.AccountCreated{
		EventID: "ev-1", AccountID: "acc-1", OccurredAt: time.Now(), Email: "jane@example.com", Username: "jane", FirstName: "Jane",
	}); err != nil {
		b.Fatal(err)
	}
	token := f.keys.Token(b, "acc-1", "sess-1", nil)
	serve := f.app.Handler()
	var fctx fasthttp.RequestCtx
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		fctx.Request.Reset()
		fctx.Response.Reset()
		fctx.Request.Header.SetMethod(http.MethodGet)
		fctx.Request.SetRequestURI("/api/v1/me")
		fctx.Request.Header.Set("Authorization", "Bearer "+token)
		serve(&fctx)
		if got := fctx.Response.StatusCode(); got != http.StatusOK {
			b.Fatalf("status %d: %s", got, fctx.Response.Body())
		}
	}
}
