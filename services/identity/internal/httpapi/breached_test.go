package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/hibptest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// breachedPassword passes the password policy and is known to the local range server only.
const (
	breachedPassword = "Lantern-Quarry-58"
	msgBreached      = "This password has appeared in a data breach; choose another"
)

// withBreachCheck gives h's flows a breached-password check asking a local range server that knows
// breachedPassword, and returns the server.
func withBreachCheck(t *testing.T, h *harness) *hibptest.Server {
	t.Helper()
	srv := hibptest.New(t, breachedPassword)
	h.svc.BreachedPasswords = password.NewBreachChecker(password.BreachConfig{Online: true, APIURL: srv.URL}, nil, nil)
	return srv
}

// wantPlainBreach checks the plain style's 422: one entry at body.field with the breach message.
func wantPlainBreach(t *testing.T, r response, field string) {
	t.Helper()
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("answer = %d %s, want 422", r.status, r.raw)
	}
	detail, _ := r.body["detail"].([]any)
	if len(detail) != 1 {
		t.Fatalf("answer = %s, want one detail entry", r.raw)
	}
	entry, _ := detail[0].(map[string]any)
	if !reflect.DeepEqual(entry["loc"], []any{"body", field}) || entry["msg"] != msgBreached || entry["type"] != "value_error" {
		t.Errorf("detail = %s, want loc [body %s], msg %q, type value_error", r.raw, field, msgBreached)
	}
}

// wantEnvelopeBreach checks the envelope style's 422: data maps field to the breach message.
func wantEnvelopeBreach(t *testing.T, r response, field string) {
	t.Helper()
	wantFieldError(t, r, field)
	if got := r.str("data." + field); got != msgBreached {
		t.Errorf("data.%s = %q, want %q", field, got, msgBreached)
	}
	if data, _ := r.body["data"].(map[string]any); len(data) != 1 {
		t.Errorf("data = %v, want only %s", r.body["data"], field)
	}
}

var onlyPrefix = regexp.MustCompile(`^/range/[0-9A-F]{5}$`)

// wantOnlyPrefixes checks that every request the range server got carried a five-character prefix.
func wantOnlyPrefixes(t *testing.T, srv *hibptest.Server) {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("the range server was never asked")
	}
	for _, r := range reqs {
		if !onlyPrefix.MatchString(r.Path) || !r.Padding {
			t.Errorf("range request %+v, want /range/ + five upper-case hex characters with Add-Padding", r)
		}
	}
}

func TestBreachedPasswordRefusedAtRegistration(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := withBreachCheck(t, h)
	const email = "new@example.com"
	if r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": email}); r.status != http.StatusAccepted {
		t.Fatalf("initiate = %d %s", r.status, r.raw)
	}
	code := h.lastCode(t, email)
	work := h.hasher.Work()
	r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": email, "otp_code": code, "password": breachedPassword})
	wantPlainBreach(t, r, "password")
	if got := h.hasher.Work(); got != work {
		t.Errorf("argon2id work %+v → %+v: a refused password was hashed", work, got)
	}
	if _, err := store.NewAccounts(h.db).ByEmail(context.Background(), email); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("account after the refusal: %v, want none", err)
	}
	if n := len(h.queued(t, events.TopicAccountEvents)); n != 0 {
		t.Errorf("%d account events queued, want none", n)
	}
	wantOnlyPrefixes(t, srv)
	// The code stays live for the corrected form.
	if r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": email, "otp_code": code, "password": goodPassword}); r.status != http.StatusCreated {
		t.Fatalf("registration with another password and the same code = %d %s, want 201", r.status, r.raw)
	}

	t.Run("a wrong code never reaches the range server", func(t *testing.T) {
		before := len(srv.Requests())
		if r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "other@example.com"}); r.status != http.StatusAccepted {
			t.Fatalf("initiate = %d", r.status)
		}
		code := h.lastCode(t, "other@example.com")
		r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "other@example.com", "otp_code": otherCode(code), "password": "Velvet-Canyon-31"})
		if r.status != http.StatusBadRequest {
			t.Fatalf("wrong code = %d %s, want 400", r.status, r.raw)
		}
		if n := len(srv.Requests()); n != before {
			t.Errorf("%d range requests for a wrong code, want none", n-before)
		}
	})
}

func TestBreachedPasswordRefusedAtReset(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	srv := withBreachCheck(t, h)
	hash := h.account(t, ada.id).PasswordHash
	if r := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": ada.email}); r.status != http.StatusAccepted {
		t.Fatalf("forgot-password = %d %s", r.status, r.raw)
	}
	code := h.lastCode(t, ada.email)
	wantPlainBreach(t, h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": ada.email, "otp_code": code, "new_password": breachedPassword}), "new_password")
	if got := h.account(t, ada.id).PasswordHash; got != hash {
		t.Error("the password hash changed after a refused reset")
	}
	if live := h.sessions.liveSessions(ada.id); !live[ada.sid] {
		t.Error("a refused reset ended the sessions")
	}
	wantOnlyPrefixes(t, srv)
	// The code stays live for another password.
	if r := h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": ada.email, "otp_code": code, "new_password": "Quiet-Harbor-77"}); r.status != http.StatusOK {
		t.Fatalf("reset with another password and the same code = %d %s, want 200", r.status, r.raw)
	}
	h.signIn(t, ada.email, "Quiet-Harbor-77")
}

func TestBreachedPasswordRefusedAtChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	srv := withBreachCheck(t, h)
	hash := h.account(t, ada.id).PasswordHash

	t.Run("envelope: password/change", func(t *testing.T) {
		wantEnvelopeBreach(t, h.authed(t, "POST", "/api/v1/account/password/change", ada.token,
			map[string]any{"currentPassword": goodPassword, "newPassword": breachedPassword, "confirmPassword": breachedPassword}), "newPassword")
	})
	t.Run("envelope: password/change-with-otp/verify", func(t *testing.T) {
		s := h.authed(t, "POST", "/api/v1/account/password/change-with-otp/send-otp", ada.token, map[string]any{"channel": "EMAIL"})
		if s.status != http.StatusOK {
			t.Fatalf("send-otp = %d %s", s.status, s.raw)
		}
		wantEnvelopeBreach(t, h.authed(t, "POST", "/api/v1/account/password/change-with-otp/verify", ada.token,
			map[string]any{"tempToken": s.str("data.tempToken"), "otp": h.lastCode(t, ada.email), "newPassword": breachedPassword, "confirmPassword": breachedPassword}), "newPassword")
	})
	for _, path := range []string{"/api/v1/auth/change-password", "/api/v1/me/password"} {
		t.Run("plain: "+path, func(t *testing.T) {
			wantPlainBreach(t, h.authed(t, "POST", path, ada.token, map[string]any{"current_password": goodPassword, "new_password": breachedPassword}), "new_password")
		})
	}
	if got := h.account(t, ada.id).PasswordHash; got != hash {
		t.Error("the password hash changed after refused changes")
	}
	if calls := h.sessions.revokeCalls(); len(calls) != 0 {
		t.Errorf("revoke calls %+v after refused changes, want none", calls)
	}
	if h.hasAlert(t, ada.id, events.AlertPasswordChanged) {
		t.Error("a password_changed alert was queued for a refused change")
	}
	wantOnlyPrefixes(t, srv)
	h.signIn(t, ada.email, goodPassword)
}

func TestBreachedPasswordRefusedAtFirstSet(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	withBreachCheck(t, h)
	a := accountFor("oauth@example.com", "oauth_user") // passwordless, as a provider sign-in creates them
	if err := store.NewAccounts(h.db).Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	tok := h.sessions.keys.Token(t, a.ID, events.NewID(), nil)
	wantEnvelopeBreach(t, h.authed(t, "POST", "/api/v1/account/password/set", tok,
		map[string]any{"newPassword": breachedPassword, "confirmPassword": breachedPassword}), "newPassword")
	if got := h.account(t, a.ID); got.HasPassword() {
		t.Error("a refused first password was stored")
	}
}

func TestBreachCheckFailsOpenToTheOfflineList(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := withBreachCheck(t, h)
	srv.SetMode(hibptest.Fail)
	// The API is down: a password it alone knows is accepted, a common one still refused.
	ada := h.signUp(t, "ada@example.com")
	r := h.authed(t, "POST", "/api/v1/auth/change-password", ada.token, map[string]any{"current_password": goodPassword, "new_password": "Password123"})
	wantPlainError(t, r, http.StatusUnprocessableEntity, "new_password")
	r = h.authed(t, "POST", "/api/v1/auth/change-password", ada.token, map[string]any{"current_password": goodPassword, "new_password": breachedPassword})
	if r.status != http.StatusOK {
		t.Fatalf("change while the API is down = %d %s, want 200 (fail open to the offline list)", r.status, r.raw)
	}
	if len(srv.Requests()) == 0 {
		t.Error("the range server was never asked")
	}
}
