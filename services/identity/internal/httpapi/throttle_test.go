package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/services/identity/internal/captcha"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Forty people behind one NAT address all sign in with their right passwords: successes are not
// counted against the address (before, the 31st got 429 with Retry-After 891 s).
func TestManyAccountsSignInFromOneAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const nat = "203.0.113.40"
	emails := make([]string, 40)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%d@example.com", i)
		h.register(t, emails[i], map[string]any{"device_id": "laptop-" + strconv.Itoa(i)})
	}
	for round := range 2 {
		for i, email := range emails {
			r := h.do(t, request{path: "/api/v1/auth/login", ip: nat, body: jsonBody(t, login(email, goodPassword, "laptop-"+strconv.Itoa(i)))})
			if r.status != http.StatusOK || r.str("access_token") == "" {
				t.Fatalf("round %d, sign-in %d of 40 from one address = %d %s, want 200 with tokens", round+1, i+1, r.status, r.raw)
			}
		}
	}
	// Their typos do not add up to a block either: one each.
	for _, email := range emails {
		h.do(t, request{path: "/api/v1/auth/login", ip: nat, body: jsonBody(t, login(email, "Typo-password-1", "laptop"))})
	}
	if r := h.do(t, request{path: "/api/v1/auth/login", ip: nat, body: jsonBody(t, login(emails[0], goodPassword, "laptop-0"))}); r.status != http.StatusOK {
		t.Errorf("sign-in after 40 typos from the address = %d %s, want 200 (about 100 failures per address are allowed)", r.status, r.raw)
	}
}

// An attacker who knows the username fails the password over and over, from one address and from
// many; the owner's right password on their trusted device still signs in. (Before, 11 failures
// made it answer 429 for 11 minutes.)
func TestAttackerCannotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register(t, "ada@example.com", map[string]any{"username": "ada", "device_id": "laptop"})
	owner := func(what string) {
		t.Helper()
		r := h.do(t, request{path: "/api/v1/auth/login", ip: "198.51.100.7", body: jsonBody(t, login("ada", goodPassword, "laptop"))})
		if r.status != http.StatusOK || r.str("access_token") == "" {
			t.Fatalf("the owner's right password on the trusted device after %s = %d %s, want 200 with tokens", what, r.status, r.raw)
		}
	}
	statuses := map[int]int{}
	for i := range 50 { // one address, even naming the owner's device
		r := h.do(t, request{path: "/api/v1/auth/login", ip: "192.0.2.66", body: jsonBody(t, login("ada", fmt.Sprintf("Guess-%d-password", i), "laptop"))})
		statuses[r.status]++
	}
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("50 wrong passwords from one address: %v, want the address held back (429)", statuses)
	}
	owner("50 failures from one address")
	for i := range 120 { // past the per-account ceiling, spread over many addresses
		h.do(t, request{path: "/api/v1/auth/login", ip: fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), body: jsonBody(t, login("ada", fmt.Sprintf("Spread-%d-password", i), "phone"))})
	}
	r := h.do(t, request{path: "/api/v1/auth/login", ip: "192.0.2.77", body: jsonBody(t, login("ada", goodPassword, "new-phone"))})
	if r.status != http.StatusTooManyRequests {
		t.Errorf("right password from a new device past the ceiling = %d %s, want 429 (distributed guessing stays bounded)", r.status, r.raw)
	}
	owner("120 failures from 120 addresses")
}

// fakeSiteVerify is a local siteverify endpoint (the protocol of Turnstile, hCaptcha and reCAPTCHA):
// the token "valid-token" with the right secret succeeds.
func fakeSiteVerify(t *testing.T) (*captcha.SiteVerify, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ok := r.PostForm.Get("secret") == "site-secret" && r.PostForm.Get("response") == "valid-token" && r.PostForm.Get("remoteip") != ""
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"success":%v}`, ok)
	}))
	t.Cleanup(srv.Close)
	return captcha.NewSiteVerify(srv.URL, "site-secret", srv.Client()), &calls
}

func TestRegistrationLimits(t *testing.T) {
	t.Parallel()
	initiate := func(h *harness, email, ip string) response {
		return h.do(t, request{path: "/api/v1/auth/initiate-registration", ip: ip, body: jsonBody(t, map[string]any{"email": email})})
	}
	wantPlain429 := func(t *testing.T, r response, what string) {
		t.Helper()
		if r.status != http.StatusTooManyRequests || r.str("detail") != "Too many attempts" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s = %d %s, want the plain 429 with Retry-After", what, r.status, r.raw)
		}
		wantRateLimitHeaders(t, r, what)
	}
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, noCooldown, func(s *setup) { s.login.Registration.PerEmail = throttle.Limit{Max: 3, Window: 24 * time.Hour} })
		for i := range 3 {
			initiate(h, "victim@example.com", fmt.Sprintf("203.0.113.%d", i)).wantStatus(t, http.StatusAccepted, "send "+strconv.Itoa(i+1))
		}
		wantPlain429(t, initiate(h, "Victim@Example.com", "203.0.113.9"), "4th code to one inbox from another address")
		initiate(h, "other@example.com", "203.0.113.9").wantStatus(t, http.StatusAccepted, "another inbox")
		if n := len(h.dispatches(t, "victim@example.com")); n != 3 {
			t.Errorf("%d messages sent to the inbox, want 3", n)
		}
	})
	t.Run("per domain", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(s *setup) { s.login.Registration.PerDomain = throttle.Limit{Max: 3, Window: time.Hour} })
		for i := range 3 {
			initiate(h, fmt.Sprintf("u%d@corp.example", i), fmt.Sprintf("203.0.113.%d", i)).wantStatus(t, http.StatusAccepted, "send "+strconv.Itoa(i+1))
		}
		wantPlain429(t, initiate(h, "u9@corp.example", "203.0.113.9"), "4th address of one domain")
		initiate(h, "u9@other.example", "203.0.113.9").wantStatus(t, http.StatusAccepted, "another domain")
	})
	t.Run("global", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(s *setup) { s.login.Registration.Global = throttle.Limit{Max: 4, Window: time.Hour} })
		for i := range 4 {
			initiate(h, fmt.Sprintf("u%d@d%d.example", i, i), fmt.Sprintf("203.0.113.%d", i)).wantStatus(t, http.StatusAccepted, "send "+strconv.Itoa(i+1))
		}
		wantPlain429(t, initiate(h, "u9@d9.example", "203.0.113.9"), "5th registration code in all")
	})
	t.Run("per IP, except allow-listed addresses", func(t *testing.T) {
		t.Parallel()
		allow, _ := throttle.ParseAllowList([]string{"192.0.2.0/24"})
		h := newHarness(t, func(s *setup) {
			s.login.Registration.PerIP = throttle.Limit{Max: 3, Window: time.Minute}
			s.login.AllowIPs = allow
		})
		for i := range 3 {
			initiate(h, fmt.Sprintf("u%d@example.com", i), "203.0.113.5").wantStatus(t, http.StatusAccepted, "send "+strconv.Itoa(i+1))
		}
		wantPlain429(t, initiate(h, "u9@example.com", "203.0.113.5"), "4th registration from one address")
		for i := range 5 {
			initiate(h, fmt.Sprintf("office%d@example.com", i), "192.0.2.10").wantStatus(t, http.StatusAccepted, "from the office "+strconv.Itoa(i+1))
		}
	})
}

// After a few registration sends (or failed logins) from one address, the next ones need a CAPTCHA
// token, checked server-side with the provider through the real siteverify client.
func TestRegistrationCaptcha(t *testing.T) {
	t.Parallel()
	verifier, calls := fakeSiteVerify(t)
	h := newHarness(t, func(s *setup) {
		s.captcha = verifier
		s.login.Registration.CaptchaAfter = throttle.Limit{Max: 2, Window: time.Hour}
	})
	const ip = "203.0.113.8"
	initiate := func(email string, body map[string]any, header string) response {
		if body == nil {
			body = map[string]any{}
		}
		body["email"] = email
		r := request{path: "/api/v1/auth/initiate-registration", ip: ip, body: jsonBody(t, body)}
		if header != "" {
			return h.doWithHeader(t, r, "X-Captcha-Token", header)
		}
		return h.do(t, r)
	}
	for i := range 2 {
		initiate(fmt.Sprintf("u%d@example.com", i), nil, "").wantStatus(t, http.StatusAccepted, "send without a CAPTCHA "+strconv.Itoa(i+1))
	}
	if calls.Load() != 0 {
		t.Errorf("the provider was asked %d times before a CAPTCHA was due", calls.Load())
	}
	r := initiate("u2@example.com", nil, "")
	if r.status != http.StatusPreconditionRequired || r.str("detail") != "captcha required" {
		t.Fatalf("3rd send without a token = %d %s, want 428 captcha required", r.status, r.raw)
	}
	r = initiate("u2@example.com", map[string]any{"captcha_token": "forged-token"}, "")
	if r.status != http.StatusPreconditionRequired || r.str("detail") != "captcha invalid" {
		t.Fatalf("with an invalid token = %d %s, want 428 captcha invalid", r.status, r.raw)
	}
	if d := h.dispatches(t, "u2@example.com"); len(d) != 0 {
		t.Errorf("%d messages sent without a valid CAPTCHA, want none", len(d))
	}
	initiate("u2@example.com", map[string]any{"captcha_token": "valid-token"}, "").wantStatus(t, http.StatusAccepted, "with a valid token in the body")
	initiate("u3@example.com", nil, "valid-token").wantStatus(t, http.StatusAccepted, "with a valid token in the header")
	if calls.Load() != 3 {
		t.Errorf("the provider was asked %d times, want 3", calls.Load())
	}
	// Another address is not asked.
	r = h.do(t, request{path: "/api/v1/auth/initiate-registration", ip: "203.0.113.9", body: jsonBody(t, map[string]any{"email": "u4@example.com"})})
	r.wantStatus(t, http.StatusAccepted, "from another address")
	// Failed logins count towards the CAPTCHA too.
	for range 2 {
		h.do(t, request{path: "/api/v1/auth/login", ip: "203.0.113.10", body: jsonBody(t, login("nobody@example.com", "Wr0ng-password", "d"))})
	}
	r = h.do(t, request{path: "/api/v1/auth/initiate-registration", ip: "203.0.113.10", body: jsonBody(t, map[string]any{"email": "u5@example.com"})})
	if r.status != http.StatusPreconditionRequired {
		t.Errorf("registration after 2 failed logins from the address = %d %s, want 428", r.status, r.raw)
	}
	// Login and forgot-password from that address need one too.
	r = h.do(t, request{path: "/api/v1/auth/login", ip: "203.0.113.10", body: jsonBody(t, login("nobody@example.com", "Wr0ng-password", "d"))})
	if r.status != http.StatusPreconditionRequired || r.str("detail") != "captcha required" {
		t.Errorf("login after 2 failures from the address = %d %s, want 428 captcha required", r.status, r.raw)
	}
	body := login("nobody@example.com", "Wr0ng-password", "d")
	body["captcha_token"] = "valid-token"
	if r := h.do(t, request{path: "/api/v1/auth/login", ip: "203.0.113.10", body: jsonBody(t, body)}); r.status != http.StatusUnauthorized {
		t.Errorf("login with a valid CAPTCHA = %d %s, want the password checked (401)", r.status, r.raw)
	}
	r = h.do(t, request{path: "/api/v1/auth/forgot-password", ip: "203.0.113.10", body: jsonBody(t, map[string]any{"email": "u5@example.com"})})
	if r.status != http.StatusPreconditionRequired {
		t.Errorf("forgot-password from the address = %d %s, want 428", r.status, r.raw)
	}
	h.doWithHeader(t, request{path: "/api/v1/auth/forgot-password", ip: "203.0.113.10", body: jsonBody(t, map[string]any{"email": "u5@example.com"})},
		"X-Captcha-Token", "valid-token").wantStatus(t, http.StatusAccepted, "forgot-password with a valid CAPTCHA")
}

// doWithHeader is h.do with one extra request header.
func (h *harness) doWithHeader(t *testing.T, r request, name, value string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, r.path, strings.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", r.ip)
	req.Header.Set(name, value)
	resp, err := h.app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("POST %s: %v", r.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, []byte(r.body), resp.StatusCode, resp.Header, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("POST %s: answer is not JSON: %s", r.path, raw)
		}
	}
	return out
}
