package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

func login(identifier, pw, deviceID string) map[string]any {
	return map[string]any{"identifier": identifier, "password": pw, "device_id": deviceID}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reg := h.register(t, "ada@example.com", map[string]any{"username": "ada", "device_id": "laptop"})
	id := reg.str("user.id")

	tests := []struct {
		name          string
		body          map[string]any
		wantChallenge bool
	}{
		{"trusted device, by email", login("ada@example.com", goodPassword, "laptop"), false},
		{"trusted device, email in other case", login("  ADA@Example.com ", goodPassword, "laptop"), false},
		{"trusted device, by username", login("Ada", goodPassword, "laptop"), false},
		{"trusted device, by @username", login("@ada", goodPassword, "laptop"), false},
		{"new device", login("ada", goodPassword, "phone"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(t, "/api/v1/auth/login", tc.body)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d %s, want 200", r.status, r.raw)
			}
			if !tc.wantChallenge {
				if r.str("access_token") == "" || r.str("token_type") != "Bearer" || r.str("user.id") != id ||
					r.str("user.username") != "ada" || r.str("session_id") == "" {
					t.Errorf("body = %s, want tokens for %s", r.raw, id)
				}
				return
			}
			if r.str("challenge") != "device_verification" || r.str("masked_value") != "ad***@example.com" ||
				r.at("expires_in") != float64(600) || len(r.str("device_verification_token")) < 40 || r.at("access_token") != nil {
				t.Errorf("body = %s, want a device_verification challenge and no tokens", r.raw)
			}
			d := h.dispatches(t, "ada@example.com")
			last := d[len(d)-1]
			if last.Purpose != events.PurposeDeviceVerification || last.Channel != events.ChannelEmail || len(last.Code) != 6 {
				t.Errorf("last dispatch = %+v, want a device_verification code by EMAIL", last)
			}
		})
	}
	reqs := h.sessions.requests()
	if got := len(reqs); got != 5 { // registration + four trusted logins
		t.Errorf("session service got %d requests, want 5", got)
	}
	if reqs[len(reqs)-1]["deviceId"] != "laptop" || reqs[len(reqs)-1]["accountId"] != id {
		t.Errorf("last session request = %v, want account %s on laptop", reqs[len(reqs)-1], id)
	}
}

func TestLoginDoesNotEnumerate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(t, "ada@example.com", map[string]any{"username": "ada", "device_id": "laptop"})
	ctx := context.Background()
	locked := accountFor("locked@example.com", "locked")
	locked.Status = account.StatusDeactivated
	locked.PasswordHash, _ = h.hasher.Hash(goodPassword)
	if err := store.NewAccounts(h.db).Create(ctx, locked); err != nil {
		t.Fatal(err)
	}
	noPassword := accountFor("oauth@example.com", "oauth_only")
	if err := store.NewAccounts(h.db).Create(ctx, noPassword); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		body map[string]any
	}{
		{"wrong password", login("ada@example.com", "Wr0ng-password", "laptop")},
		{"unknown email", login("nobody@example.com", goodPassword, "laptop")},
		{"unknown username", login("nobody", goodPassword, "laptop")},
		{"deactivated account, right password", login("locked@example.com", goodPassword, "laptop")},
		{"account without password", login("oauth@example.com", goodPassword, "laptop")},
	}
	var first []byte
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(t, "/api/v1/auth/login", tc.body)
			if r.status != http.StatusUnauthorized || r.str("detail") != "Invalid credentials" {
				t.Fatalf("answer = %d %s, want 401 Invalid credentials", r.status, r.raw)
			}
			if first == nil {
				first = r.raw
			} else if !bytes.Equal(first, r.raw) {
				t.Errorf("answer %s differs from %s", r.raw, first)
			}
		})
	}
}

// TestLoginTiming checks that an unknown account costs an argon2id verification like a wrong password
// does (with the production parameters, where a missing hash would answer ~50x faster).
// TestLoginDoesTheSameWork checks the mechanism behind "same timing" for login: an unknown account
// (by e-mail or username) costs the same argon2id work as a wrong password for a real one, so the
// answer cannot tell them apart. (Speed itself is measured by BenchmarkLoginWrongPassword and
// BenchmarkLoginUnknownAccount, not asserted.)
func TestLoginDoesTheSameWork(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(t, "ada@example.com", map[string]any{"username": "ada", "device_id": "laptop"})
	work := func(t *testing.T, body map[string]any) password.Work {
		t.Helper()
		before := h.hasher.Work()
		if r := h.post(t, "/api/v1/auth/login", body); r.status != http.StatusUnauthorized || r.str("detail") != "Invalid credentials" {
			t.Fatalf("login = %d %s, want 401 Invalid credentials", r.status, r.raw)
		}
		after := h.hasher.Work()
		return password.Work{Derivations: after.Derivations - before.Derivations, Cost: after.Cost - before.Cost}
	}
	want := work(t, login("ada@example.com", "Wr0ng-password", "laptop"))
	if want.Derivations != 1 {
		t.Fatalf("wrong password: %d argon2id derivations, want 1", want.Derivations)
	}
	tests := []struct {
		name string
		body map[string]any
	}{
		{"unknown e-mail", login("nobody@example.com", "Wr0ng-password", "laptop")},
		{"unknown username", login("nobody", "Wr0ng-password", "laptop")},
		{"wrong password by username", login("ada", "Wr0ng-password", "laptop")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := work(t, tc.body); got != want {
				t.Errorf("argon2id work = %+v, want %+v (as for a wrong password)", got, want)
			}
		})
	}
}

// BenchmarkLoginWrongPassword and BenchmarkLoginUnknownAccount measure the two failures login must
// not tell apart, with the production argon2id parameters: their ns/op should be alike.
func BenchmarkLoginWrongPassword(b *testing.B) {
	benchmarkFailedLogin(b, "ada@example.com")
}

func BenchmarkLoginUnknownAccount(b *testing.B) {
	benchmarkFailedLogin(b, "nobody@example.com")
}

func benchmarkFailedLogin(b *testing.B, identifier string) {
	h := newHarness(b, func(s *setup) {
		s.argon2 = password.DefaultParams
		s.login = auth.Config{} // no limits: every iteration does the full work
	})
	a := accountFor("ada@example.com", "ada")
	hash, err := h.hasher.Hash(goodPassword)
	if err != nil {
		b.Fatal(err)
	}
	a.PasswordHash = hash
	if err := store.NewAccounts(h.db).Create(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, err := h.svc.Login(context.Background(), auth.Login{Identifier: identifier, Password: "Wr0ng-password", Device: device.Info{DeviceID: "laptop"}, Client: auth.Client{IP: "198.51.100.7"}})
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			b.Fatalf("login = %v, want invalid credentials", err)
		}
	}
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	t.Run("failures per account from many addresses hold back new devices, not trusted ones", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(s *setup) { s.login.LoginFailuresPerAccount.Max = 10 })
		h.register(t, "ada@example.com", map[string]any{"username": "ada", "device_id": "laptop"})
		for i := range 10 {
			// Alternate identifiers and IPs: the ceiling is per account, whatever names it.
			id := []string{"ada@example.com", "ada"}[i%2]
			r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login(id, "Wr0ng-password", "laptop")), ip: "203.0.113." + strconv.Itoa(i)})
			if r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d, want 401", i+1, r.status)
			}
		}
		r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada", goodPassword, "new-phone")), ip: "203.0.113.200"})
		retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != http.StatusTooManyRequests || r.str("detail") != "Too many attempts" || retry < 1 || retry > 60*60 {
			t.Fatalf("right password from a new device after 10 failures = %d %s (Retry-After %q), want 429 Too many attempts",
				r.status, r.raw, r.header.Get("Retry-After"))
		}
		wantRateLimitHeaders(t, r, "login past the account's ceiling")
		if r := h.post(t, "/api/v1/auth/login", login("ada", goodPassword, "laptop")); r.status != http.StatusOK || r.str("access_token") == "" {
			t.Errorf("right password on the trusted device = %d %s, want 200 with tokens", r.status, r.raw)
		}
		other := h.register(t, "bob@example.com", map[string]any{"device_id": "laptop"})
		if r := h.post(t, "/api/v1/auth/login", login("bob@example.com", goodPassword, "laptop")); r.status != http.StatusOK {
			t.Errorf("another account = %d %s, want 200 (%s)", r.status, r.raw, other.str("user.id"))
		}
	})
	t.Run("unknown identifiers are throttled alike", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
		answers := map[string][]int{}
		for _, id := range []string{"ghost@example.com", "ada@example.com"} {
			for range 8 {
				r := h.post(t, "/api/v1/auth/login", login(id, "Wr0ng-password", "laptop"))
				answers[id] = append(answers[id], r.status)
			}
		}
		if fmt.Sprint(answers["ghost@example.com"]) != fmt.Sprint(answers["ada@example.com"]) {
			t.Errorf("failed logins answer %v for an unknown account and %v for a real one, want the same", answers["ghost@example.com"], answers["ada@example.com"])
		}
		if last := answers["ghost@example.com"][7]; last != http.StatusTooManyRequests {
			t.Errorf("8th failure in a row for an unknown account = %d, want 429 (backoff)", last)
		}
	})
	t.Run("failures per IP", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(s *setup) { s.login.LoginPerIP = throttle.Limit{Max: 3, Window: 15 * time.Minute} })
		h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
		for range 5 { // successes are not counted
			if r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada@example.com", goodPassword, "laptop")), ip: "203.0.113.50"}); r.status != http.StatusOK {
				t.Fatalf("right password = %d %s, want 200", r.status, r.raw)
			}
		}
		for i := range 3 {
			r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("user"+strconv.Itoa(i), "x1x1x1x1", "d")), ip: "203.0.113.50"})
			if r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d, want 401", i+1, r.status)
			}
		}
		r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada@example.com", goodPassword, "laptop")), ip: "203.0.113.50"})
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("attempt after 3 failures from the IP = %d %s, want 429 with Retry-After", r.status, r.raw)
		}
		wantRateLimitHeaders(t, r, "login past the IP's failures")
		r = h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada@example.com", goodPassword, "laptop")), ip: "203.0.113.51"})
		if r.status != http.StatusOK {
			t.Errorf("another IP = %d %s, want 200", r.status, r.raw)
		}
	})
	t.Run("allow-listed addresses skip the per-IP limit, not the per-account ones", func(t *testing.T) {
		t.Parallel()
		allow, err := throttle.ParseAllowList([]string{"203.0.113.0/24"})
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, func(s *setup) {
			s.login.LoginPerIP = throttle.Limit{Max: 2, Window: time.Hour}
			s.login.AllowIPs = allow
		})
		h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
		for i := range 5 {
			r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("user"+strconv.Itoa(i), "x1x1x1x1", "d")), ip: "203.0.113.50"})
			if r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d from the office = %d, want 401", i+1, r.status)
			}
		}
		if r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada@example.com", goodPassword, "laptop")), ip: "203.0.113.50"}); r.status != http.StatusOK {
			t.Errorf("right password from the office after 5 failures = %d %s, want 200", r.status, r.raw)
		}
		var last response
		for range 8 {
			last = h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada@example.com", "Wr0ng-password", "d")), ip: "203.0.113.50"})
		}
		if last.status != http.StatusTooManyRequests {
			t.Errorf("8th wrong password for one account from the office = %d, want 429 (per-account backoff applies)", last.status)
		}
	})
	t.Run("one client backs off after a few failures, others do not", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
		for i := range 6 { // 5 free, the 6th sets the first wait
			r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada@example.com", "Wr0ng-password", "d")), ip: "203.0.113.7"})
			if r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d %s, want 401", i+1, r.status, r.raw)
			}
		}
		r := h.do(t, request{path: "/api/v1/auth/login", body: jsonBody(t, login("ada@example.com", goodPassword, "d")), ip: "203.0.113.7"})
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
			t.Errorf("after 6 failures = %d %s (Retry-After %q), want 429 with Retry-After 1 (the first, shortest wait)", r.status, r.raw, r.header.Get("Retry-After"))
		}
		if r := h.post(t, "/api/v1/auth/login", login("ada@example.com", goodPassword, "laptop")); r.status != http.StatusOK {
			t.Errorf("the owner from elsewhere = %d %s, want 200", r.status, r.raw)
		}
	})
	t.Run("success clears the failures", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.register(t, "ada@example.com", map[string]any{"device_id": "laptop"})
		for round := range 3 {
			for range 5 {
				h.post(t, "/api/v1/auth/login", login("ada@example.com", "Wr0ng-password", "laptop"))
			}
			if r := h.post(t, "/api/v1/auth/login", login("ada@example.com", goodPassword, "laptop")); r.status != http.StatusOK {
				t.Fatalf("round %d: right password after 5 failures = %d, want 200", round+1, r.status)
			}
		}
	})
}

func TestLoginUpgradesWeakHash(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *setup) { s.argon2 = password.Params{MemoryKiB: 128, Iterations: 2, Parallelism: 1} })
	weak, _ := password.NewHasher(cheap)
	a := accountFor("old@example.com", "")
	a.PasswordHash, _ = weak.Hash(goodPassword)
	accounts := store.NewAccounts(h.db)
	if err := accounts.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	r := h.post(t, "/api/v1/auth/login", login("old@example.com", goodPassword, "laptop"))
	if r.status != http.StatusOK || r.str("challenge") != "device_verification" {
		t.Fatalf("login with a weaker stored hash = %d %s, want 200 (device challenge)", r.status, r.raw)
	}
	stored, _ := accounts.ByID(context.Background(), a.ID)
	if stored.PasswordHash == a.PasswordHash || !bytes.Contains([]byte(stored.PasswordHash), []byte("m=128,t=2,p=1")) {
		t.Errorf("stored hash = %q, want it re-hashed with m=128,t=2,p=1", stored.PasswordHash)
	}
	if ok, _, _ := h.hasher.Verify(goodPassword, stored.PasswordHash); !ok {
		t.Error("upgraded hash does not verify the password")
	}
}
