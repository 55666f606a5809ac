package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/account"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/identityclient"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	safariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	goodPassword = "correct-Horse-42"
	goodCode     = "654321"
	goodStepUp   = "rat_good-step-up-token"
)

// doH is do with extra request headers.
func doH(t *testing.T, app *fiber.App, method, path, auth, body string, headers map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, []byte(body), resp.StatusCode, resp.Header, raw)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// createSessionAs starts a session of the account from a device with the User-Agent.
func (s *stack) createSessionAs(t testing.TB, accountID, deviceName, platform, ua string) createdSession {
	t.Helper()
	body, _ := json.Marshal(map[string]string{
		"accountId": accountID, "deviceId": "dev-" + deviceName, "deviceName": deviceName, "platform": platform,
		"ipAddress": "203.0.113.9", "userAgent": ua,
	})
	r := do(t, s.internal, http.MethodPost, "/internal/v1/sessions", "Bearer "+internalToken, string(body))
	if r.status != http.StatusCreated {
		t.Fatalf("create session: status %d, body %s", r.status, r.raw)
	}
	var out createdSession
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// usable reports whether the session service still accepts the access token.
func (s *stack) usable(t *testing.T, access string) bool {
	t.Helper()
	r := do(t, s.public, http.MethodGet, "/api/v1/auth/token-health", "Bearer "+access, "")
	switch r.status {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("token-health: status %d body %s", r.status, r.raw)
	return false
}

// fakeIdentity follows identity's internal re-authenticate contract (docs/architecture.md): 204 for
// the right password or code, 403 otherwise, 429 when told to throttle; and its API-key revocation
// (204, recorded).
func fakeIdentity(t *testing.T, throttle bool) string {
	t.Helper()
	return newFakeIdentity(t, throttle, http.StatusNoContent).url
}

// identityFake is a fake identity and the accounts whose API keys it was asked to revoke.
type identityFake struct {
	url     string
	mu      sync.Mutex
	revoked []string
}

func (f *identityFake) keysRevoked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.revoked...)
}

// newFakeIdentity is fakeIdentity answering keysStatus to API-key revocations.
func newFakeIdentity(t *testing.T, throttle bool, keysStatus int) *identityFake {
	t.Helper()
	f := &identityFake{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api-keys/revoke") && r.Header.Get("Authorization") == "Bearer "+internalToken {
			parts := strings.Split(r.URL.Path, "/")
			if keysStatus == http.StatusNoContent {
				f.mu.Lock()
				f.revoked = append(f.revoked, parts[len(parts)-3])
				f.mu.Unlock()
			}
			w.WriteHeader(keysStatus)
			return
		}
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/reauthenticate") || r.Header.Get("Authorization") != "Bearer "+internalToken {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch {
		case throttle:
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"too_many_attempts","retryAfter":30}`))
		case body["password"] == goodPassword || body["otp"] == goodCode:
			w.WriteHeader(http.StatusNoContent)
		case body["reauthToken"] == goodStepUp && body["sessionId"] != "" && body["password"] == "" && body["otp"] == "":
			// identity checks that the step-up token is the account's and was issued to this session
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"invalid_credentials"}`))
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func reauthVia(url string) session.Options {
	c := identityclient.New(url, config.Secret(internalToken), nil)
	return session.Options{Reauth: c, APIKeys: c}
}

func TestListSessions(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	laptop := s.createSessionAs(t, "acc-1", "", "", firefoxLinux)
	phone := s.createSessionAs(t, "acc-1", "Ada's iPhone", "ios", safariIPhone)
	s.createSessionAs(t, "acc-2", "Bob's laptop", "WEB", firefoxLinux)
	auth := "Bearer " + laptop.AccessToken

	t.Run("account API lists the account's sessions and marks the current one", func(t *testing.T) {
		r := doH(t, s.public, http.MethodGet, "/api/v1/account/sessions", auth, "", map[string]string{"X-Session-Id": laptop.SessionID})
		if r.status != http.StatusOK || r.body["success"] != true || r.body["message"] != "Sessions retrieved" {
			t.Fatalf("status %d body %s", r.status, r.raw)
		}
		data := r.body["data"].(map[string]any)
		list := data["sessions"].([]any)
		if data["totalCount"] != float64(2) || len(list) != 2 {
			t.Fatalf("totalCount %v, %d sessions, want 2 (acc-2's is not listed): %s", data["totalCount"], len(list), r.raw)
		}
		byID := map[string]map[string]any{}
		for _, item := range list {
			m := item.(map[string]any)
			byID[m["id"].(string)] = m
		}
		got := byID[laptop.SessionID]
		if got == nil || got["currentSession"] != true || got["browser"] != "Firefox 128.0" || !strings.HasPrefix(got["os"].(string), "Linux") ||
			got["platform"] != "WEB" || got["deviceName"] != "Firefox on Linux" || got["ipAddress"] != "203.0.113.9" || got["location"] != nil {
			t.Errorf("laptop session = %v, want current, parsed Firefox on Linux, WEB, no location", got)
		}
		if p := byID[phone.SessionID]; p == nil || p["currentSession"] != false || p["platform"] != "IOS" || p["deviceName"] != "Ada's iPhone" || !strings.HasPrefix(p["os"].(string), "iOS") {
			t.Errorf("phone session = %v, want not current, IOS, its own name", p)
		}
		for _, field := range []string{"createdAt", "lastActiveAt", "expiresAt"} {
			if _, err := time.Parse("2006-01-02T15:04:05", got[field].(string)); err != nil {
				t.Errorf("%s = %v, want the envelope's time format", field, got[field])
			}
		}
		if cur, _ := data["currentSession"].(map[string]any); cur["id"] != laptop.SessionID {
			t.Errorf("currentSession = %v, want the laptop's", data["currentSession"])
		}
	})

	t.Run("X-Session-Id must be the token's session", func(t *testing.T) {
		for _, tc := range []struct{ name, header, want string }{
			{"malformed", "not-a-uuid", "X-Session-Id must be a valid UUID"},
			{"another session", phone.SessionID, "X-Session-Id does not match the session of the access token"},
		} {
			r := doH(t, s.public, http.MethodGet, "/api/v1/account/sessions", auth, "", map[string]string{"X-Session-Id": tc.header})
			if r.status != http.StatusBadRequest || r.body["message"] != tc.want || r.body["httpStatus"] != "BAD_REQUEST" {
				t.Errorf("%s: status %d body %s, want 400 %q", tc.name, r.status, r.raw, tc.want)
			}
		}
	})

	t.Run("AudioPod path lists the same sessions in plain style", func(t *testing.T) {
		r := doH(t, s.public, http.MethodGet, "/api/v1/auth/sessions", "Bearer "+phone.AccessToken, "", nil)
		var list []map[string]any
		if err := json.Unmarshal([]byte(r.raw), &list); err != nil || r.status != http.StatusOK || len(list) != 2 {
			t.Fatalf("status %d body %s, want an array of 2", r.status, r.raw)
		}
		for _, item := range list {
			current := item["session_id"] == phone.SessionID
			if item["is_current"] != current || item["user_id"] != "acc-1" || item["user_agent"] == "" || item["expires_at"] == nil || item["last_active"] == nil {
				t.Errorf("session = %v", item)
			}
			// The AudioPod document's device_info is a string; the details are under device.
			summary, ok := item["device_info"].(string)
			if !ok {
				t.Fatalf("device_info = %#v, want a string", item["device_info"])
			}
			dev := item["device"].(map[string]any)
			if current && (summary != "Safari 17.5 on iOS" || dev["platform"] != "IOS" || !strings.HasPrefix(dev["browser"].(string), "Safari")) {
				t.Errorf("device_info = %q, device = %v, want Safari 17.5 on iOS", summary, dev)
			}
		}
	})

	t.Run("no token", func(t *testing.T) {
		r := do(t, s.public, http.MethodGet, "/api/v1/account/sessions", "", "")
		if r.status != http.StatusUnauthorized || r.body["success"] != false {
			t.Errorf("status %d body %s, want 401 envelope", r.status, r.raw)
		}
	})
}

func TestRevokeOneSession(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	mine := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
	second := s.createSessionAs(t, "acc-1", "phone", "IOS", safariIPhone)
	third := s.createSessionAs(t, "acc-1", "tablet", "ANDROID", "")
	theirs := s.createSessionAs(t, "acc-2", "theirs", "WEB", firefoxLinux)
	auth := "Bearer " + mine.AccessToken

	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		wantStatus  int
		wantMessage string // envelope message or plain detail
		revoked     string // access token refused afterwards
	}{
		{"envelope: malformed id", http.MethodDelete, "/api/v1/account/sessions/not-a-uuid", "", 400, "Invalid session id", ""},
		{"envelope: another account's session", http.MethodDelete, "/api/v1/account/sessions/" + theirs.SessionID, "", 404, "Session not found", ""},
		{"envelope: unknown session", http.MethodDelete, "/api/v1/account/sessions/" + uuid.NewString(), "", 404, "Session not found", ""},
		{"envelope: own other session", http.MethodDelete, "/api/v1/account/sessions/" + second.SessionID, "", 200, "Session revoked", second.AccessToken},
		{"envelope: already revoked", http.MethodDelete, "/api/v1/account/sessions/" + second.SessionID, "", 404, "Session not found", ""},
		{"plain: malformed id", http.MethodPost, "/api/v1/auth/sessions/revoke", `{"session_id":"123"}`, 422, "", ""},
		{"plain: missing id", http.MethodPost, "/api/v1/auth/sessions/revoke", `{}`, 422, "", ""},
		{"plain: another account's session", http.MethodPost, "/api/v1/auth/sessions/revoke", `{"session_id":"` + theirs.SessionID + `"}`, 404, "Session not found", ""},
		{"plain: own other session", http.MethodPost, "/api/v1/auth/sessions/revoke", `{"session_id":"` + strings.ToUpper(third.SessionID) + `"}`, 200, "Session revoked", third.AccessToken},
		{"plain: current", http.MethodPost, "/api/v1/auth/sessions/revoke", `{"session_id":"current"}`, 200, "Session revoked", mine.AccessToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.public, tc.method, tc.path, auth, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d body %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			if tc.wantMessage != "" && r.body["message"] != tc.wantMessage && r.body["detail"] != tc.wantMessage {
				t.Errorf("body %s, want %q", r.raw, tc.wantMessage)
			}
			if tc.wantStatus == 422 {
				if d, _ := r.body["detail"].([]any); len(d) == 0 {
					t.Errorf("body %s, want a 422 detail list", r.raw)
				}
			}
			if tc.revoked != "" && s.usable(t, tc.revoked) {
				t.Errorf("the revoked session's token is still accepted")
			}
		})
	}
	if !s.usable(t, theirs.AccessToken) {
		t.Error("the other account's session was touched")
	}
	s.waitForEvent(t, 5*time.Second, func(ev events.Envelope) bool {
		var p events.SessionRevoked
		return ev.Type == events.TypeSessionRevoked && ev.Decode(&p) == nil && p.SessionID == second.SessionID && p.Reason == session.ReasonRevokedByOwner
	})
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	mine := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
	other := s.createSessionAs(t, "acc-1", "phone", "IOS", safariIPhone)
	auth := "Bearer " + mine.AccessToken

	for _, tc := range []struct{ name, header, want string }{
		{"no X-Session-Id", "", "X-Session-Id header is required"},
		{"malformed X-Session-Id", "abc", "X-Session-Id must be a valid UUID"},
		{"another session's id", other.SessionID, "X-Session-Id does not match the session of the access token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := doH(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out", auth, "", map[string]string{"X-Session-Id": tc.header})
			if r.status != http.StatusBadRequest || r.body["message"] != tc.want {
				t.Fatalf("status %d body %s, want 400 %q", r.status, r.raw, tc.want)
			}
		})
	}
	r := doH(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out", auth, "", map[string]string{"X-Session-Id": mine.SessionID})
	if r.status != http.StatusOK || r.body["message"] != "Signed out successfully" || r.body["data"] != nil {
		t.Fatalf("sign-out: status %d body %s", r.status, r.raw)
	}
	if s.usable(t, mine.AccessToken) {
		t.Error("the signed-out token is still accepted")
	}
	if r := s.refresh(t, mine.RefreshToken); r.status != http.StatusUnauthorized {
		t.Errorf("refresh of the signed-out session: status %d, want 401", r.status)
	}
	if !s.usable(t, other.AccessToken) {
		t.Error("the other session was signed out too")
	}
}

func TestSignOutOthersAndAll(t *testing.T) {
	t.Parallel()
	identity := fakeIdentity(t, false)

	type sessions struct{ mine, other1, other2, stranger createdSession }
	setup := func(t *testing.T, opts session.Options) (*stack, sessions) {
		s := newStack(t, opts)
		return s, sessions{
			mine:     s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux),
			other1:   s.createSessionAs(t, "acc-1", "phone", "IOS", safariIPhone),
			other2:   s.createSessionAs(t, "acc-1", "tablet", "ANDROID", ""),
			stranger: s.createSessionAs(t, "acc-2", "theirs", "WEB", firefoxLinux),
		}
	}

	t.Run("refusals", func(t *testing.T) {
		s, ss := setup(t, reauthVia(identity))
		throttled, _ := setup(t, reauthVia(fakeIdentity(t, true)))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + ln.Addr().String()
		_ = ln.Close()
		unreachable, _ := setup(t, reauthVia(down))

		tests := []struct {
			name        string
			s           *stack
			path        string
			body        string
			wantStatus  int
			wantMessage string
			wantField   string // 422: the field named in data
		}{
			{"wrong password", s, "sign-out-others", `{"password":"wrong-Horse-1"}`, 403, "Password is incorrect", ""},
			{"wrong code", s, "sign-out-all", `{"otp":"000000"}`, 403, "Invalid or expired code", ""},
			{"neither", s, "sign-out-others", `{}`, 422, "Validation failed", "password"},
			{"both", s, "sign-out-all", `{"password":"x","otp":"123456"}`, 422, "Validation failed", "otp"},
			{"code not six digits", s, "sign-out-all", `{"otp":"12ab"}`, 422, "Validation failed", "otp"},
			{"no body", s, "sign-out-all", ``, 400, "Request body is required", ""},
			{"malformed JSON", s, "sign-out-others", `{"password":`, 400, "Malformed JSON request body", ""},
			{"throttled", throttled, "sign-out-all", `{"password":"` + goodPassword + `"}`, 429, "Too many attempts. Try again later.", ""},
			{"identity unreachable", unreachable, "sign-out-others", `{"password":"` + goodPassword + `"}`, 503, "Verification is temporarily unavailable", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				// Each stack has its own keys: sign in on that stack.
				tok := ss.mine
				if tc.s != s {
					tok = tc.s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
				}
				r := doH(t, tc.s.public, http.MethodPost, "/api/v1/account/sessions/"+tc.path, "Bearer "+tok.AccessToken, tc.body,
					map[string]string{"X-Session-Id": tok.SessionID})
				if r.status != tc.wantStatus || r.body["message"] != tc.wantMessage || r.body["success"] != false {
					t.Fatalf("status %d body %s, want %d %q", r.status, r.raw, tc.wantStatus, tc.wantMessage)
				}
				if tc.wantField != "" {
					if data, _ := r.body["data"].(map[string]any); data[tc.wantField] == nil {
						t.Errorf("data = %v, want a message for %s", r.body["data"], tc.wantField)
					}
				}
				if tc.wantStatus == 429 && r.header.Get("Retry-After") != "30" {
					t.Errorf("Retry-After = %q, want 30", r.header.Get("Retry-After"))
				}
			})
		}
		for _, tok := range []createdSession{ss.mine, ss.other1, ss.other2} {
			if !s.usable(t, tok.AccessToken) {
				t.Error("a refused sign-out ended a session")
			}
		}
	})

	t.Run("sign-out-others keeps only the current session", func(t *testing.T) {
		s, ss := setup(t, reauthVia(identity))
		r := doH(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out-others", "Bearer "+ss.mine.AccessToken,
			`{"password":"`+goodPassword+`"}`, map[string]string{"X-Session-Id": ss.mine.SessionID})
		if r.status != http.StatusOK || r.body["message"] != "Signed out of other devices" {
			t.Fatalf("status %d body %s", r.status, r.raw)
		}
		if !s.usable(t, ss.mine.AccessToken) || !s.usable(t, ss.stranger.AccessToken) {
			t.Error("the current session or another account's session was ended")
		}
		for _, tok := range []createdSession{ss.other1, ss.other2} {
			if s.usable(t, tok.AccessToken) {
				t.Error("another session of the account is still accepted")
			}
			if r := s.refresh(t, tok.RefreshToken); r.status != http.StatusUnauthorized {
				t.Errorf("refresh of a signed-out session: status %d, want 401", r.status)
			}
		}
		s.waitForEvent(t, 5*time.Second, func(ev events.Envelope) bool {
			var p events.SessionRevoked
			return ev.Type == events.TypeSessionRevoked && ev.Decode(&p) == nil && p.SessionID == ss.other2.SessionID && p.Reason == session.ReasonSignOutOthers
		})
	})

	t.Run("sign-out-all with a code ends every session", func(t *testing.T) {
		s, ss := setup(t, reauthVia(identity))
		r := do(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out-all", "Bearer "+ss.mine.AccessToken, `{"otp":"`+goodCode+`"}`)
		if r.status != http.StatusOK || r.body["message"] != "Signed out of all devices" {
			t.Fatalf("status %d body %s", r.status, r.raw)
		}
		for _, tok := range []createdSession{ss.mine, ss.other1, ss.other2} {
			if s.usable(t, tok.AccessToken) {
				t.Error("a session of the account is still accepted")
			}
		}
		if !s.usable(t, ss.stranger.AccessToken) {
			t.Error("another account's session was ended")
		}
	})

	// A sign-out everywhere also ends every API key of the account (identity revokes them and
	// publishes api_key.revoked); when identity cannot, nothing ends and the owner is told to retry.
	t.Run("sign-out-all revokes the account's API keys", func(t *testing.T) {
		fake := newFakeIdentity(t, false, http.StatusNoContent)
		s, ss := setup(t, reauthVia(fake.url))
		r := do(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out-all", "Bearer "+ss.mine.AccessToken, `{"password":"`+goodPassword+`"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d body %s", r.status, r.raw)
		}
		if got := fake.keysRevoked(); len(got) != 1 || got[0] != "acc-1" {
			t.Errorf("API keys revoked for %v, want [acc-1]", got)
		}

		down := newFakeIdentity(t, false, http.StatusInternalServerError)
		s, ss = setup(t, reauthVia(down.url))
		r = do(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out-all", "Bearer "+ss.mine.AccessToken, `{"password":"`+goodPassword+`"}`)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("sign-out-all while identity cannot revoke keys: status %d body %s, want 503", r.status, r.raw)
		}
		if !s.usable(t, ss.other1.AccessToken) {
			t.Error("sessions ended although the API keys could not be revoked")
		}
	})

	t.Run("AudioPod revoke_all_others", func(t *testing.T) {
		s, ss := setup(t, reauthVia(identity))
		r := do(t, s.public, http.MethodPost, "/api/v1/auth/sessions/revoke", "Bearer "+ss.mine.AccessToken, `{"revoke_all_others":true,"password":"`+goodPassword+`"}`)
		if r.status != http.StatusOK || r.body["revoked_count"] != float64(2) {
			t.Fatalf("status %d body %s, want 200 revoked_count 2", r.status, r.raw)
		}
		if !s.usable(t, ss.mine.AccessToken) || s.usable(t, ss.other1.AccessToken) || s.usable(t, ss.other2.AccessToken) {
			t.Error("want only the current session left")
		}
	})

	// Issue 13 item 8: with only a stolen access token, revoke_all_others signed the owner out of every
	// other device. Now it needs the proof the account API's sign-out-others needs.
	t.Run("revoke_all_others needs a proof", func(t *testing.T) {
		tests := []struct {
			name       string
			body       string
			headers    map[string]string
			wantStatus int
			wantDetail string
		}{
			{"access token only", `{"revoke_all_others":true}`, nil, 401, "Re-authentication required"},
			{"wrong password", `{"revoke_all_others":true,"password":"wrong-Horse-1"}`, nil, 403, "Password is incorrect"},
			{"wrong code", `{"revoke_all_others":true,"otp":"000000"}`, nil, 403, "Invalid or expired code"},
			{"step-up token identity refuses", `{"revoke_all_others":true}`, map[string]string{"X-Reauth-Token": "rat_stolen-or-expired"}, 401, "Re-authentication required"},
			{"malformed code", `{"revoke_all_others":true,"otp":"12ab"}`, nil, 422, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s, ss := setup(t, reauthVia(identity))
				r := doH(t, s.public, http.MethodPost, "/api/v1/auth/sessions/revoke", "Bearer "+ss.mine.AccessToken, tc.body, tc.headers)
				if r.status != tc.wantStatus || (tc.wantDetail != "" && r.body["detail"] != tc.wantDetail) {
					t.Fatalf("status %d body %s, want %d %q", r.status, r.raw, tc.wantStatus, tc.wantDetail)
				}
				if tc.wantStatus == 401 && r.header.Get("WWW-Authenticate") != "ReauthToken" {
					t.Errorf("WWW-Authenticate = %q, want ReauthToken", r.header.Get("WWW-Authenticate"))
				}
				for _, tok := range []createdSession{ss.mine, ss.other1, ss.other2} {
					if !s.usable(t, tok.AccessToken) {
						t.Fatal("a session ended although the request was refused")
					}
				}
			})
		}
		for _, proof := range []struct {
			name    string
			body    string
			headers map[string]string
		}{
			{"X-Reauth-Token", `{"revoke_all_others":true}`, map[string]string{"X-Reauth-Token": goodStepUp}},
			{"code", `{"revoke_all_others":true,"otp":"` + goodCode + `"}`, nil},
		} {
			t.Run("with "+proof.name, func(t *testing.T) {
				s, ss := setup(t, reauthVia(identity))
				r := doH(t, s.public, http.MethodPost, "/api/v1/auth/sessions/revoke", "Bearer "+ss.mine.AccessToken, proof.body, proof.headers)
				if r.status != http.StatusOK || r.body["revoked_count"] != float64(2) {
					t.Fatalf("status %d body %s", r.status, r.raw)
				}
				if !s.usable(t, ss.mine.AccessToken) || s.usable(t, ss.other1.AccessToken) || !s.usable(t, ss.stranger.AccessToken) {
					t.Error("want the other sessions of the account ended, the caller's and the stranger's kept")
				}
			})
		}
	})

	t.Run("sign-out-others with X-Reauth-Token and no body", func(t *testing.T) {
		s, ss := setup(t, reauthVia(identity))
		r := doH(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out-others", "Bearer "+ss.mine.AccessToken, "",
			map[string]string{"X-Session-Id": ss.mine.SessionID, "X-Reauth-Token": goodStepUp})
		if r.status != http.StatusOK || r.body["message"] != "Signed out of other devices" {
			t.Fatalf("status %d body %s", r.status, r.raw)
		}
		if !s.usable(t, ss.mine.AccessToken) || s.usable(t, ss.other1.AccessToken) {
			t.Error("want only the current session left")
		}
		r = doH(t, s.public, http.MethodPost, "/api/v1/account/sessions/sign-out-others", "Bearer "+ss.mine.AccessToken, "",
			map[string]string{"X-Session-Id": ss.mine.SessionID, "X-Reauth-Token": "rat_not-this-one"})
		if r.status != http.StatusUnauthorized || r.body["message"] != "Re-authentication required" {
			t.Fatalf("refused token: status %d body %s", r.status, r.raw)
		}
	})
}

func TestValidateAndTokenHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		window      time.Duration
		wantRefresh bool
	}{
		{"fresh token", 5 * time.Minute, false},
		{"token within the refresh window", 20 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, session.Options{RefreshWindow: tc.window})
			created := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
			auth := "Bearer " + created.AccessToken

			r := do(t, s.public, http.MethodGet, "/api/v1/auth/session/validate", auth, "")
			if r.status != http.StatusOK || r.body["is_valid"] != true || r.body["needs_refresh"] != tc.wantRefresh {
				t.Fatalf("validate: status %d body %s, want is_valid and needs_refresh %v", r.status, r.raw, tc.wantRefresh)
			}
			if in := r.body["expires_in"].(float64); in < 800 || in > 900 {
				t.Errorf("expires_in = %v, want about 900", in)
			}
			info := r.body["session_info"].(map[string]any)
			if info["session_id"] != created.SessionID || info["ip_address"] != "203.0.113.9" || info["user_agent"] != firefoxLinux {
				t.Errorf("session_info = %v", info)
			}
			// The AudioPod document's session_info: user_id, is_current, and device_info a string.
			if info["user_id"] != "acc-1" || info["is_current"] != true || info["device_info"] != "Firefox 128.0 on Linux" ||
				info["created_at"] == nil || info["last_active"] == nil || info["expires_at"] == nil {
				t.Errorf("session_info = %v, want user_id, is_current true, device_info \"Firefox 128.0 on Linux\"", info)
			}
			if user := r.body["user"].(map[string]any); user["id"] != "acc-1" {
				t.Errorf("user = %v, want id acc-1", user)
			}

			r = do(t, s.public, http.MethodGet, "/api/v1/auth/token-health", auth, "")
			if r.status != http.StatusOK || r.body["valid"] != true || r.body["expired"] != false || r.body["should_refresh"] != tc.wantRefresh || r.body["user_id"] != "acc-1" {
				t.Fatalf("token-health: status %d body %s", r.status, r.raw)
			}
			secs, mins := r.body["expires_in_seconds"].(float64), r.body["expires_in_minutes"].(float64)
			if secs < 800 || secs > 900 || mins != float64(int(secs)/60) {
				t.Errorf("expires_in_seconds/minutes = %v/%v", secs, mins)
			}
		})
	}

	t.Run("user facts from the account projection", func(t *testing.T) {
		dir := account.NewDirectory(store.NewAccounts(testenv.New(t).Database("session")), nil)
		ev, err := events.New(events.TypeAccountCreated, "acc-1", events.AccountCreated{Email: "ada@example.com", EmailVerified: true, FirstName: "Ada", LastName: "Lovelace"})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.Apply(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		s := newStackWith(t, session.Options{}, httpapi.Config{Accounts: dir}, nil)
		known := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
		unknown := s.createSessionAs(t, "acc-2", "laptop", "WEB", firefoxLinux)

		r := do(t, s.public, http.MethodGet, "/api/v1/auth/session/validate", "Bearer "+known.AccessToken, "")
		user, _ := r.body["user"].(map[string]any)
		if r.status != http.StatusOK || user["id"] != "acc-1" || user["email"] != "ada@example.com" || user["full_name"] != "Ada Lovelace" || user["is_verified"] != true {
			t.Errorf("validate: status %d body %s, want the projected user", r.status, r.raw)
		}
		r = do(t, s.public, http.MethodGet, "/api/v1/auth/session/validate", "Bearer "+unknown.AccessToken, "")
		user, _ = r.body["user"].(map[string]any)
		if r.status != http.StatusOK || user["id"] != "acc-2" || user["email"] != nil || user["full_name"] != nil || user["is_verified"] != nil {
			t.Errorf("validate of an account not projected yet: status %d body %s, want nulls", r.status, r.raw)
		}
	})

	t.Run("refused tokens", func(t *testing.T) {
		s := newStack(t, session.Options{})
		created := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
		if r := do(t, s.public, http.MethodPost, "/api/v1/auth/logout", "Bearer "+created.AccessToken, ""); r.status != http.StatusOK {
			t.Fatalf("logout: %d", r.status)
		}
		for _, path := range []string{"/api/v1/auth/session/validate", "/api/v1/auth/token-health"} {
			for _, auth := range []string{"", "Bearer garbage", "Bearer " + created.AccessToken} {
				if r := do(t, s.public, http.MethodGet, path, auth, ""); r.status != http.StatusUnauthorized || r.body["detail"] == nil {
					t.Errorf("%s with %.20q: status %d body %s, want 401", path, auth, r.status, r.raw)
				}
			}
		}
	})
}

func TestUpdateDeviceInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		trusted      []string
		body         string
		wantStatus   int
		wantLocation any
		wantName     string
		wantPlatform string
	}{
		{"from the trusted proxy: location believed", []string{"0.0.0.0/0", "::/0"}, `{"device_name":"Ada's iPhone","platform":"ios"}`, 200, "Nairobi, KE", "Ada's iPhone", "IOS"},
		{"from anyone else: location ignored", nil, `{"device_name":"Ada's iPhone"}`, 200, nil, "Ada's iPhone", "WEB"},
		{"no body: only the request's headers", nil, ``, 200, nil, "laptop", "WEB"},
		{"bad platform", nil, `{"platform":"i os!"}`, 422, nil, "", ""},
		{"overlong device name", nil, `{"device_name":"` + strings.Repeat("x", 201) + `"}`, 422, nil, "", ""},
		{"malformed JSON", nil, `{"device_name":`, 422, nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStackWith(t, session.Options{}, httpapi.Config{}, tc.trusted)
			created := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
			r := doH(t, s.public, http.MethodPost, "/api/v1/auth/sessions/update-device-info", "Bearer "+created.AccessToken, tc.body,
				map[string]string{"User-Agent": safariIPhone, "X-Client-Geo": "Nairobi, KE"})
			if r.status != tc.wantStatus {
				t.Fatalf("status %d body %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			if tc.wantStatus != 200 {
				return
			}
			if r.body["device_info"] != "Safari 17.5 on iOS" {
				t.Errorf("device_info = %#v, want the summary string", r.body["device_info"])
			}
			dev := r.body["device"].(map[string]any)
			if dev["location"] != tc.wantLocation || dev["device_name"] != tc.wantName || dev["platform"] != tc.wantPlatform ||
				!strings.HasPrefix(dev["os"].(string), "iOS") || !strings.HasPrefix(dev["browser"].(string), "Safari") || r.body["user_agent"] != safariIPhone {
				t.Errorf("session = %s", r.raw)
			}
			// The listing shows the same.
			l := doH(t, s.public, http.MethodGet, "/api/v1/auth/sessions", "Bearer "+created.AccessToken, "", nil)
			if !strings.Contains(l.raw, `"user_agent":"`+safariIPhone) {
				t.Errorf("listing %s does not show the new User-Agent", l.raw)
			}
		})
	}
}

func TestInternalRevokeAccountSessions(t *testing.T) {
	t.Parallel()
	s := newStack(t, session.Options{})
	keep := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
	ended := []createdSession{s.createSessionAs(t, "acc-1", "phone", "IOS", safariIPhone), s.createSessionAs(t, "acc-1", "tablet", "", "")}
	stranger := s.createSessionAs(t, "acc-2", "theirs", "WEB", firefoxLinux)
	path := "/internal/v1/accounts/acc-1/sessions/revoke"

	tests := []struct {
		name        string
		auth        string
		path        string
		body        string
		wantStatus  int
		wantRevoked float64
	}{
		{"no internal token", "", path, `{"reason":"password_changed"}`, 401, 0},
		{"user token", "Bearer " + keep.AccessToken, path, `{"reason":"password_changed"}`, 401, 0},
		{"malformed exceptSessionId", "Bearer " + internalToken, path, `{"exceptSessionId":"x","reason":"password_changed"}`, 422, 0},
		{"missing reason", "Bearer " + internalToken, path, `{"exceptSessionId":""}`, 422, 0},
		{"bad reason", "Bearer " + internalToken, path, `{"reason":"Password Changed!"}`, 422, 0},
		{"ends all but one", "Bearer " + internalToken, path, `{"exceptSessionId":"` + keep.SessionID + `","reason":"password_changed"}`, 200, 2},
		{"idempotent", "Bearer " + internalToken, path, `{"exceptSessionId":"` + keep.SessionID + `","reason":"password_changed"}`, 200, 0},
		{"unknown account", "Bearer " + internalToken, "/internal/v1/accounts/nobody/sessions/revoke", `{"reason":"account_deactivated"}`, 200, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.internal, http.MethodPost, tc.path, tc.auth, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d body %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			if tc.wantStatus == 200 && r.body["revoked"] != tc.wantRevoked {
				t.Errorf("revoked = %v, want %v", r.body["revoked"], tc.wantRevoked)
			}
		})
	}
	for _, tok := range ended {
		if s.usable(t, tok.AccessToken) {
			t.Error("an ended session's token is still accepted")
		}
	}
	if !s.usable(t, keep.AccessToken) || !s.usable(t, stranger.AccessToken) {
		t.Error("the kept session or another account's session was ended")
	}
	s.waitForEvent(t, 5*time.Second, func(ev events.Envelope) bool {
		var p events.SessionRevoked
		return ev.Type == events.TypeSessionRevoked && ev.Decode(&p) == nil && p.SessionID == ended[1].SessionID && p.Reason == "password_changed"
	})

	// Without exceptSessionId every session ends.
	r := do(t, s.internal, http.MethodPost, path, "Bearer "+internalToken, `{"reason":"account_deactivated"}`)
	if r.status != 200 || r.body["revoked"] != float64(1) || s.usable(t, keep.AccessToken) {
		t.Errorf("revoke all: status %d body %s, want the last session ended", r.status, r.raw)
	}
}

func TestRefreshRecordsAddressAndLocation(t *testing.T) {
	t.Parallel()
	// app.Test's requests come from 0.0.0.0: that address plays the trusted ingress.
	s := newStackWith(t, session.Options{}, httpapi.Config{}, []string{"0.0.0.0/32"})
	created := s.createSessionAs(t, "acc-1", "laptop", "WEB", firefoxLinux)
	body, _ := json.Marshal(map[string]string{"refresh_token": created.RefreshToken})
	r := doH(t, s.public, http.MethodPost, "/api/v1/auth/refresh", "", string(body),
		map[string]string{"X-Client-Geo": "Mombasa, KE", "X-Forwarded-For": "198.51.100.23"})
	if r.status != http.StatusOK {
		t.Fatalf("refresh: status %d body %s", r.status, r.raw)
	}
	l := doH(t, s.public, http.MethodGet, "/api/v1/account/sessions", "Bearer "+r.body["access_token"].(string), "", nil)
	cur, _ := l.body["data"].(map[string]any)["currentSession"].(map[string]any)
	if cur["location"] != "Mombasa, KE" || cur["ipAddress"] != "198.51.100.23" {
		t.Errorf("current session = %v, want the refresh's location and client address", cur)
	}
}
