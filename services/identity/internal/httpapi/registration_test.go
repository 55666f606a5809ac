package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func TestInitiateRegistration(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "  Fresh@Example.COM "})
	if r.status != http.StatusAccepted {
		t.Fatalf("status = %d %s, want 202", r.status, r.raw)
	}
	if r.at("expires_in") != float64(600) || r.str("message") == "" {
		t.Errorf("body = %s, want message and expires_in 600", r.raw)
	}
	got := h.dispatches(t, "fresh@example.com")
	if len(got) != 1 || got[0].Purpose != events.PurposeRegistration || got[0].Channel != events.ChannelEmail ||
		len(got[0].Code) != 6 || got[0].ExpiresAt.IsZero() {
		t.Errorf("dispatches to the trimmed, lower-cased email = %+v, want one registration code by EMAIL", got)
	}
}

func TestInitiateRegistrationSameAnswerForTakenAndNew(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	// An account that exists without having gone through this harness's registration (so no
	// cooldown is running for its address).
	if err := store.NewAccounts(h.db).Create(ctx, accountFor("owner@example.com", "owner")); err != nil {
		t.Fatal(err)
	}
	taken := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "Owner@Example.com"})
	fresh := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "newcomer@example.com"})
	if taken.status != http.StatusAccepted || fresh.status != http.StatusAccepted {
		t.Fatalf("statuses %d and %d, want 202 for both", taken.status, fresh.status)
	}
	if !bytes.Equal(taken.raw, fresh.raw) {
		t.Errorf("answers differ:\ntaken: %s\nnew:   %s", taken.raw, fresh.raw)
	}

	notice := h.dispatches(t, "owner@example.com")
	if len(notice) != 1 || notice[0].Purpose != events.PurposeRegistrationExisting || notice[0].Code != "" {
		t.Errorf("dispatches to the owner = %+v, want one code-less registration_existing_account notice", notice)
	}
	code := h.dispatches(t, "newcomer@example.com")
	if len(code) != 1 || code[0].Purpose != events.PurposeRegistration || code[0].Code == "" {
		t.Errorf("dispatches to the new address = %+v, want one registration code", code)
	}

	// Throttled answers look alike too: both addresses are in their resend cooldown now.
	taken2 := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "owner@example.com"})
	fresh2 := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "newcomer@example.com"})
	if taken2.status != http.StatusTooManyRequests || fresh2.status != http.StatusTooManyRequests {
		t.Fatalf("repeat statuses %d and %d, want 429 for both", taken2.status, fresh2.status)
	}
	if !bytes.Equal(taken2.raw, fresh2.raw) || taken2.header.Get("Retry-After") == "" ||
		taken2.header.Get("Retry-After") != fresh2.header.Get("Retry-After") {
		t.Errorf("throttled answers differ: %s (Retry-After %q) vs %s (Retry-After %q)",
			taken2.raw, taken2.header.Get("Retry-After"), fresh2.raw, fresh2.header.Get("Retry-After"))
	}
	if taken2.str("detail") != "Too many attempts" {
		t.Errorf("429 body = %s, want detail \"Too many attempts\"", taken2.raw)
	}
}

func TestPlainValidationErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	type fieldErr struct {
		loc []any
		typ string
	}
	tests := []struct {
		name       string
		path, body string
		wantStatus int
		want       []fieldErr // expected detail entries (loc and type), in order
	}{
		{"initiate: missing email", "/api/v1/auth/initiate-registration", `{}`, 422, []fieldErr{{[]any{"body", "email"}, "missing"}}},
		{"initiate: invalid email", "/api/v1/auth/initiate-registration", `{"email":"not-an-email"}`, 422, []fieldErr{{[]any{"body", "email"}, "value_error"}}},
		{"initiate: display-name email", "/api/v1/auth/initiate-registration", `{"email":"Ada <ada@example.com>"}`, 422, []fieldErr{{[]any{"body", "email"}, "value_error"}}},
		{"initiate: wrong type", "/api/v1/auth/initiate-registration", `{"email":42}`, 422, []fieldErr{{[]any{"body", "email"}, "string_type"}}},
		{"initiate: malformed JSON", "/api/v1/auth/initiate-registration", `{"email":`, 422, []fieldErr{{[]any{"body", "9"}, "json_invalid"}}},
		{"initiate: empty body", "/api/v1/auth/initiate-registration", ``, 422, []fieldErr{{[]any{"body"}, "missing"}}},
		{"initiate: array body", "/api/v1/auth/initiate-registration", `["a@example.com"]`, 422, []fieldErr{{[]any{"body"}, "model_attributes_type"}}},
		{"verify: everything missing", "/api/v1/auth/verify-registration", `{}`, 422, []fieldErr{
			{[]any{"body", "email"}, "missing"}, {[]any{"body", "otp_code"}, "missing"}, {[]any{"body", "password"}, "missing"}}},
		{"verify: code not 6 digits", "/api/v1/auth/verify-registration", `{"email":"a@example.com","otp_code":"12345","password":"x"}`, 422,
			[]fieldErr{{[]any{"body", "otp_code"}, "string_pattern_mismatch"}}},
		{"verify: code with letters", "/api/v1/auth/verify-registration", `{"email":"a@example.com","otp_code":"12345a","password":"x"}`, 422,
			[]fieldErr{{[]any{"body", "otp_code"}, "string_pattern_mismatch"}}},
		{"verify: code as number", "/api/v1/auth/verify-registration", `{"email":"a@example.com","otp_code":123456,"password":"x"}`, 422,
			[]fieldErr{{[]any{"body", "otp_code"}, "string_type"}}},
		{"verify: bad platform", "/api/v1/auth/verify-registration", `{"email":"a@example.com","otp_code":"123456","password":"x","platform":"i OS!"}`, 422,
			[]fieldErr{{[]any{"body", "platform"}, "string_pattern_mismatch"}}},
		{"verify: long first name", "/api/v1/auth/verify-registration", `{"email":"a@example.com","otp_code":"123456","password":"x","first_name":"` + strings.Repeat("a", 101) + `"}`, 422,
			[]fieldErr{{[]any{"body", "first_name"}, "string_too_long"}}},
		{"login: everything missing", "/api/v1/auth/login", `{}`, 422, []fieldErr{
			{[]any{"body", "identifier"}, "missing"}, {[]any{"body", "password"}, "missing"}, {[]any{"body", "device_id"}, "missing"}}},
		{"login: password wrong type", "/api/v1/auth/login", `{"identifier":"a","password":true,"device_id":"d"}`, 422,
			[]fieldErr{{[]any{"body", "password"}, "string_type"}}},
		{"login: device id too long", "/api/v1/auth/login", `{"identifier":"a","password":"p","device_id":"` + strings.Repeat("d", 129) + `"}`, 422,
			[]fieldErr{{[]any{"body", "device_id"}, "string_too_long"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, request{path: tc.path, body: tc.body})
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			detail, ok := r.body["detail"].([]any)
			if !ok || len(detail) != len(tc.want) {
				t.Fatalf("detail = %s, want %d FastAPI entries", r.raw, len(tc.want))
			}
			for i, w := range tc.want {
				entry, _ := detail[i].(map[string]any)
				if !reflect.DeepEqual(entry["loc"], w.loc) || entry["type"] != w.typ || entry["msg"] == "" {
					t.Errorf("detail[%d] = %v, want loc %v type %s with a msg", i, entry, w.loc, w.typ)
				}
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	base := h.serve(t)         // fasthttp refuses the body before Fiber's app.Test can see an answer
	const bigLength = 70 << 10 // over the 64 KiB body limit
	tests := []struct {
		path       string
		wantDetail bool // plain style
	}{
		{"/api/v1/auth/initiate-registration", true},
		{"/api/v1/auth/login", true},
		{"/api/v1/account/device/verify", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := postAnnouncing(t, base, tc.path, bigLength)
			defer resp.Body.Close()
			r := response{status: resp.StatusCode}
			r.raw, _ = io.ReadAll(resp.Body)
			_ = json.Unmarshal(r.raw, &r.body)
			if r.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413", r.status)
			}
			if tc.wantDetail && r.str("detail") != "Request body too large" {
				t.Errorf("body = %s, want plain detail", r.raw)
			}
			if !tc.wantDetail && (r.at("success") != false || r.str("httpStatus") != "REQUEST_ENTITY_TOO_LARGE") {
				t.Errorf("body = %s, want the envelope", r.raw)
			}
		})
	}
}

// postAnnouncing sends a POST whose headers announce a JSON body of length bytes and reads the answer
// without sending the body: the server refuses an oversized body on its Content-Length, then closes.
// (Writing the body too races that close: the client's write fails with a broken pipe, or the unread
// bytes make the server's kernel reset the connection before the answer is read.)
func postAnnouncing(t *testing.T, base, path string, length int) *http.Response {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, u.Host, length); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestVerifyRegistration(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.register(t, "Ada@Example.com", map[string]any{
		"username": "Ada_L", "first_name": "Ada", "last_name": "Lovelace",
		"device_id": "dev-1", "device_name": "Pixel 8", "platform": "android",
	})
	if r.str("user.email") != "ada@example.com" || r.str("user.username") != "ada_l" || r.str("user.id") == "" {
		t.Errorf("user = %v, want the lower-cased email and username", r.at("user"))
	}
	if r.str("token_type") != "Bearer" || r.str("access_token") == "" || r.str("refresh_token") == "" ||
		r.str("session_id") == "" || r.at("expires_in") != float64(900) {
		t.Errorf("tokens = %s, want the session service's tokens", r.raw)
	}
	id := r.str("user.id")

	queued := h.queued(t, events.TopicAccountEvents)
	if len(queued) != 2 || queued[1].Type != events.TypeAccountUpdated || queued[1].AccountID != id {
		t.Fatalf("account events = %+v, want account.created then account.updated for %s", queued, id)
	}
	created := queued[:1]
	if created[0].Type != events.TypeAccountCreated || created[0].AccountID != id {
		t.Fatalf("first account event = %+v, want account.created for %s", created[0], id)
	}
	var payload events.AccountCreated
	if err := created[0].Decode(&payload); err != nil {
		t.Fatal(err)
	}
	snap := payload.Account
	payload.Account = nil
	want := events.AccountCreated{Email: "ada@example.com", EmailVerified: true, Username: "ada_l", FirstName: "Ada", LastName: "Lovelace"}
	if payload != want {
		t.Errorf("account.created payload = %+v, want %+v", payload, want)
	}
	// The whole snapshot travels with it, so a consumer of this event alone projects every fact.
	if snap == nil || snap.Version != 1 || snap.Email != "ada@example.com" || !snap.EmailVerified || snap.Username != "ada_l" ||
		snap.Status != events.AccountStatusActive || snap.UpdatedAt.IsZero() {
		t.Errorf("account.created snapshot = %+v, want version 1, the verified email, the username and ACTIVE", snap)
	}

	reqs := h.sessions.requests()
	if len(reqs) != 1 {
		t.Fatalf("session service got %d requests, want 1", len(reqs))
	}
	wantReq := map[string]string{"accountId": id, "deviceId": "dev-1", "deviceName": "Pixel 8", "platform": "ANDROID", "ipAddress": "198.51.100.7"}
	for k, v := range wantReq {
		if reqs[0][k] != v {
			t.Errorf("session request %s = %q, want %q", k, reqs[0][k], v)
		}
	}

	// The registering device is trusted: logging in from it needs no device verification.
	login := h.post(t, "/api/v1/auth/login", map[string]any{"identifier": "ADA_L", "password": goodPassword, "device_id": "dev-1"})
	if login.status != http.StatusOK || login.str("access_token") == "" || login.at("challenge") != nil {
		t.Errorf("login from the registering device = %d %s, want tokens", login.status, login.raw)
	}
}

func TestVerifyRegistrationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       func(h *harness, code string) map[string]any
		wantStatus int
		wantDetail string // for string details
		wantLoc    string // for 422: the field
		wantMsg    string // for 422: part of the message
	}{
		{"wrong code", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": otherCode(code), "password": goodPassword}
		}, 400, "Invalid or expired code", "", ""},
		{"code for another email", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "other@example.com", "otp_code": code, "password": goodPassword}
		}, 400, "Invalid or expired code", "", ""},
		{"too short", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": "ab1"}
		}, 422, "", "password", "at least 8 characters"},
		{"too long", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": strings.Repeat("a1", 65)}
		}, 422, "", "password", "at most 128 characters"},
		{"common", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": "Password123"}
		}, 422, "", "password", "too common"},
		{"contains username", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": "xx-grace77", "username": "Grace77"}
		}, 422, "", "password", "username"},
		{"contains email local part", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": "my-new-1234"}
		}, 422, "", "password", "email"},
		{"username reserved", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword, "username": "Admin"}
		}, 422, "", "username", "reserved"},
		{"username too short", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword, "username": "ab"}
		}, 422, "", "username", "at least 3"},
		{"username starts with a digit", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword, "username": "1ada"}
		}, 422, "", "username", "start with a letter"},
		{"username with a dash", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword, "username": "ada-l"}
		}, 422, "", "username", "only letters"},
		{"username taken", func(h *harness, code string) map[string]any {
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword, "username": "TAKEN_NAME"}
		}, 409, "Username already taken", "", ""},
		{"email registered meanwhile", func(h *harness, code string) map[string]any {
			if err := store.NewAccounts(h.db).Create(context.Background(), accountFor("new@example.com", "")); err != nil {
				t.Fatal(err)
			}
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword}
		}, 400, "Invalid or expired code", "", ""},
		{"right code after five wrong ones", func(h *harness, code string) map[string]any {
			for range 5 {
				r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "new@example.com", "otp_code": otherCode(code), "password": goodPassword})
				if r.status != 400 {
					t.Fatalf("wrong code = %d, want 400", r.status)
				}
			}
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword}
		}, 400, "Invalid or expired code", "", ""},
		{"session service down", func(h *harness, code string) map[string]any {
			h.sessions.setDown(true)
			return map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword}
		}, 503, "Service temporarily unavailable", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if err := store.NewAccounts(h.db).Create(context.Background(), accountFor("someone@example.com", "taken_name")); err != nil {
				t.Fatal(err)
			}
			if r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "new@example.com"}); r.status != 202 {
				t.Fatalf("initiate = %d", r.status)
			}
			r := h.post(t, "/api/v1/auth/verify-registration", tc.body(h, h.lastCode(t, "new@example.com")))
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			if tc.wantDetail != "" && r.str("detail") != tc.wantDetail {
				t.Errorf("body = %s, want detail %q", r.raw, tc.wantDetail)
			}
			if tc.wantLoc != "" {
				detail, _ := r.body["detail"].([]any)
				entry, _ := detail[0].(map[string]any)
				msg, _ := entry["msg"].(string)
				if len(detail) != 1 || !reflect.DeepEqual(entry["loc"], []any{"body", tc.wantLoc}) || !strings.Contains(msg, tc.wantMsg) {
					t.Errorf("detail = %s, want loc [body %s] with a message containing %q", r.raw, tc.wantLoc, tc.wantMsg)
				}
			}
			if tc.wantStatus != http.StatusServiceUnavailable && tc.wantStatus >= 400 {
				if n := len(h.queued(t, events.TopicAccountEvents)); n != 0 {
					t.Errorf("%d account.created events queued after a failed registration, want 0", n)
				}
			}
		})
	}
}

func TestPolicyFailureKeepsTheCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "new@example.com"})
	code := h.lastCode(t, "new@example.com")
	if r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "new@example.com", "otp_code": code, "password": "short1"}); r.status != 422 {
		t.Fatalf("weak password = %d, want 422", r.status)
	}
	if r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword}); r.status != 201 {
		t.Errorf("retry with a good password and the same code = %d %s, want 201", r.status, r.raw)
	}
}

func TestRegistrationCodeIsSingleUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(t, "once@example.com", nil)
	// The same code cannot create a second account (and the address is taken anyway).
	code := h.lastCode(t, "once@example.com")
	r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "once@example.com", "otp_code": code, "password": goodPassword})
	if r.status != 400 || r.str("detail") != "Invalid or expired code" {
		t.Errorf("reused code = %d %s, want 400 Invalid or expired code", r.status, r.raw)
	}
}

func TestMongoOutageAnswers503(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	client := mongoClient(t, env)
	db := client.Database(env.DBPrefix + "identity")
	t.Cleanup(func() { _ = env.Database("identity").Drop(context.Background()) })
	h := newHarness(t, func(o *setup) { o.db = db })
	if err := client.Disconnect(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "a@example.com"})
	if r.status != http.StatusServiceUnavailable || r.str("detail") != "Service temporarily unavailable" {
		t.Errorf("with MongoDB gone = %d %s, want 503 Service temporarily unavailable", r.status, r.raw)
	}
}
