package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/profile/internal/httpapi"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
)

// phoneDesk answers for identity's phone API: the next snapshot or error, and the client IP it got.
type phoneDesk struct {
	mu   sync.Mutex
	snap events.AccountSnapshot
	err  error
	ip   string
}

func (d *phoneDesk) SetPhone(_ context.Context, _, _, clientIP string) (events.AccountSnapshot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ip = clientIP
	return d.snap, d.err
}

func newPhoneFixture(t *testing.T, desk *phoneDesk) *fixture {
	t.Helper()
	env := testenv.New(t)
	log := slog.New(slog.DiscardHandler)
	f := &fixture{keys: authntest.New(t), profiles: store.NewProfiles(env.Database("profile")), deny: authn.NewDenyList()}
	f.service = profile.NewService(f.profiles, profile.Options{Wait: 300 * time.Millisecond, Phones: desk})
	app, err := httpx.NewApp(httpx.Options{Service: "profile", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	verifier := authn.NewVerifier(authn.VerifierConfig{JWKSURL: f.keys.JWKSURL, Issuer: authntest.Issuer, Audience: authntest.Audience, Logger: log})
	httpapi.Routes(app, authn.Middleware(verifier, f.deny), httpapi.NewHandler(f.service, log))
	f.app = app
	return f
}

// A number set through PATCH stays pending beside the verified one (identity's answer), and
// identity's limit on phone changes reaches the caller as a 429 with Retry-After.
func TestPatchPhoneStaysPendingAndIsLimited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const verified, pending = "+14155550100", "+14155550177"
	desk := &phoneDesk{snap: events.AccountSnapshot{Version: 3, Email: "jane@example.com", EmailVerified: true,
		PhoneNumber: verified, PhoneVerified: true, PendingPhoneNumber: pending, Username: "jane", Status: events.AccountStatusActive}}
	f := newPhoneFixture(t, desk)
	if err := f.service.ApplyAccountCreated(ctx, profile.AccountCreated{EventID: "ev-1", AccountID: "acc-1", Email: "jane@example.com", Username: "jane", FirstName: "Jane"}); err != nil {
		t.Fatal(err)
	}
	if err := f.service.ApplyAccountSnapshot(ctx, "acc-1", events.AccountSnapshot{Version: 2, Email: "jane@example.com", EmailVerified: true,
		PhoneNumber: verified, PhoneVerified: true, Username: "jane", Status: events.AccountStatusActive}); err != nil {
		t.Fatal(err)
	}
	token := f.keys.Token(t, "acc-1", "sess-1", nil)

	status, body := f.send(t, http.MethodPatch, "/api/v1/me", token, `{"phone":"`+pending+`"}`)
	if status != http.StatusOK || body["phone"] != verified || body["phone_verified"] != true || body["pending_phone"] != pending {
		t.Fatalf("PATCH /api/v1/me = %d %v, want the verified phone and the pending one beside it", status, body)
	}
	if desk.ip == "" {
		t.Error("identity got no client IP")
	}
	status, body = f.do(t, http.MethodGet, "/api/v1/auth/me", token)
	if status != http.StatusOK || body["phone_number"] != verified || body["phone_verified"] != true || body["pending_phone_number"] != pending {
		t.Fatalf("GET /api/v1/auth/me = %d %v", status, body)
	}

	desk.err = &profile.PhoneChangesThrottledError{RetryAfter: 90 * time.Second}
	req := httptest.NewRequest(http.MethodPatch, "/api/v1/auth/me", strings.NewReader(`{"phone_number":"+14155550188","full_name":"Mallory"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "90" || !strings.Contains(string(raw), "Too many phone number changes") {
		t.Fatalf("throttled PATCH = %d %s (Retry-After %q), want 429 with Retry-After 90", resp.StatusCode, raw, resp.Header.Get("Retry-After"))
	}
	if _, body = f.do(t, http.MethodGet, "/api/v1/auth/me", token); body["full_name"] == "Mallory" {
		t.Errorf("a refused edit changed the profile: %v", body)
	}
}
