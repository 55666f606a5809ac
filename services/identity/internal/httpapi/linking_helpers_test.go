package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// googleClientID is the client id the harness's Google provider accepts.
const googleClientID = "latchkey-test.apps.googleusercontent.com"

// withGoogle points the harness's Google provider at a local OIDC issuer (Apple stays disabled).
func withGoogle(iss *oidctest.Issuer) func(*setup) {
	return func(s *setup) {
		s.oauth = []oauth.ProviderConfig{{Name: oauth.Google, Issuers: []string{iss.URL}, JWKSURL: iss.JWKSURL, ClientIDs: []string{googleClientID}}}
	}
}

// call sends a request with an access token (may be empty) and extra header pairs; body may be nil,
// a string, or a value sent as JSON.
func (h *harness) callAs(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	var sent []byte
	switch b := body.(type) {
	case nil:
	case string:
		rd, sent = strings.NewReader(b), []byte(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, sent = bytes.NewReader(raw), raw
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	req.Header.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	withStepUp(t, h.app, req)
	resp, err := h.app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, sent, resp.StatusCode, resp.Header, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return out
}

// list decodes a plain-style JSON array answer.
func (r response) list(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatalf("answer is not a JSON array: %s", r.raw)
	}
	return out
}

// dataList returns the envelope's data as a list of objects.
func (r response) dataList(t *testing.T) []map[string]any {
	t.Helper()
	raw, _ := json.Marshal(r.at("data"))
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || out == nil {
		t.Fatalf("data is not a list: %s", r.raw)
	}
	return out
}

// wantStatus fails unless r has the status.
func (r response) wantStatus(t *testing.T, status int, what string) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s = %d %s, want %d", what, r.status, r.raw, status)
	}
	return r
}

// alerts returns the security.alert payloads queued for the account.
func (h *harness) securityAlerts(t *testing.T, accountID string) []events.SecurityAlert {
	t.Helper()
	var out []events.SecurityAlert
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		if ev.Type != events.TypeSecurityAlert || ev.AccountID != accountID {
			continue
		}
		var a events.SecurityAlert
		if err := ev.Decode(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// alertOf returns the last alert of kind for the account, failing when there is none.
func (h *harness) alertOf(t *testing.T, accountID, kind string) events.SecurityAlert {
	t.Helper()
	all := h.securityAlerts(t, accountID)
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == kind {
			return all[i]
		}
	}
	t.Fatalf("no %s alert for %s (alerts: %+v)", kind, accountID, all)
	return events.SecurityAlert{}
}

// lastSnapshot returns the newest account.updated snapshot queued for the account.
func (h *harness) lastSnapshot(t *testing.T, accountID string) events.AccountSnapshot {
	t.Helper()
	var out events.AccountSnapshot
	found := false
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		if ev.Type != events.TypeAccountUpdated || ev.AccountID != accountID {
			continue
		}
		var s events.AccountSnapshot
		if err := ev.Decode(&s); err != nil {
			t.Fatal(err)
		}
		if !found || s.Version > out.Version {
			out, found = s, true
		}
	}
	if !found {
		t.Fatalf("no account.updated for %s", accountID)
	}
	return out
}

// signedUp registers email with a username and device and returns the account id and access token.
func (h *harness) signedUp(t *testing.T, email, username, deviceID string) (id, token string) {
	t.Helper()
	r := h.register(t, email, map[string]any{"username": username, "first_name": "Test", "device_id": deviceID})
	return r.str("user.id"), r.str("access_token")
}

// idToken signs a Google ID token for the harness's client id.
func idToken(t *testing.T, iss *oidctest.Issuer, sub, email string, mods ...func(*oidctest.Claims)) string {
	t.Helper()
	c := oidctest.Claims{Subject: sub, Audience: googleClientID, Email: email, EmailVerified: true}
	for _, m := range mods {
		m(&c)
	}
	return iss.MustSign(t, oidctest.RS256, c)
}

// noCooldown lets a test send several codes to one destination in a row.
func noCooldown(s *setup) { s.otp.ResendCooldown = 0 }
