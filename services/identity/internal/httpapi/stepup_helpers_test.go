package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// harnessOf maps each harness's app to the harness.
var harnessOf sync.Map

// stepUpRoutes are the routes whose documented body has no proof field, so they need X-Reauth-Token.
var stepUpRoutes = []struct{ method, prefix string }{
	{http.MethodPost, "/api/v1/account/link/email/"},
	{http.MethodDelete, "/api/v1/account/link/email"},
	{http.MethodPost, "/api/v1/account/link/oauth"},
	{http.MethodDelete, "/api/v1/account/link/oauth/"},
	{http.MethodPost, "/api/v1/auth/send-phone-verification"},
	{http.MethodPost, "/api/v1/auth/verify-phone"},
	{http.MethodPost, "/api/v1/auth/account-providers"},
	{http.MethodDelete, "/api/v1/auth/account-providers/"},
	{http.MethodPost, "/api/v1/auth/api-keys"},
}

// withStepUp gives a request to a step-up route the step-up token its owner would have fetched first
// (a live token of the access token's account and session), unless the request sets X-Reauth-Token
// itself. The tests written before the step-up rule (linking, providers, API keys) exercise the flows
// behind the gate this way; the gate itself is tested in stepup_test.go, without this help.
func withStepUp(t testing.TB, app *fiber.App, req *http.Request) {
	t.Helper()
	if _, set := req.Header[http.CanonicalHeaderKey("X-Reauth-Token")]; set {
		return
	}
	bearer, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.HasPrefix(bearer, "lk_") {
		return
	}
	gated := false
	for _, r := range stepUpRoutes {
		gated = gated || (req.Method == r.method && strings.HasPrefix(req.URL.Path, r.prefix))
	}
	v, found := harnessOf.Load(app)
	if !gated || !found {
		return
	}
	sub, sid := tokenSubject(t, bearer)
	if sub == "" {
		return
	}
	req.Header.Set("X-Reauth-Token", v.(*harness).mintStepUp(t, sub, sid, auth.MethodOTP, time.Minute))
}

// mintStepUp stores a step-up token of the account and session, obtained by method, valid for ttl
// (negative: already expired), and returns it.
func (h *harness) mintStepUp(t testing.TB, accountID, sessionID, method string, ttl time.Duration) string {
	t.Helper()
	var b [24]byte
	_, _ = rand.Read(b[:])
	raw := auth.StepUpTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(raw))
	now := time.Now().UTC()
	if err := store.NewStepUps(h.db).InsertStepUp(context.Background(), auth.StepUpToken{
		Hash: hex.EncodeToString(sum[:]), AccountID: accountID, SessionID: sessionID, Method: method,
		IssuedAt: now, ExpiresAt: now.Add(ttl),
	}); err != nil {
		t.Fatal(err)
	}
	return raw
}

// tokenSubject reads sub and sid of an access token (unverified: the app verifies it).
func tokenSubject(t testing.TB, jwt string) (sub, sid string) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ""
	}
	var claims struct {
		Sub string `json:"sub"`
		Sid string `json:"sid"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return "", ""
	}
	return claims.Sub, claims.Sid
}

// reauthCode asks POST /api/v1/auth/reauth/send-otp for a re-authentication code by e-mail and
// returns it.
func (h *harness) reauthCode(t *testing.T, token, email string) string {
	t.Helper()
	if r := h.do(t, request{path: "/api/v1/auth/reauth/send-otp", body: `{"channel":"EMAIL"}`, token: token}); r.status != http.StatusOK {
		t.Fatalf("reauth/send-otp = %d %s", r.status, r.raw)
	}
	return h.lastCode(t, email)
}
