package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// The attack: a burst of logins, each taking argon2id's 19 MiB block, with nothing bounding how many
// hash at once. Now hashing has a fixed number of slots and a bounded wait; a request that finds
// them taken for too long answers 503 with Retry-After, in either wire style, for a known and an
// unknown account alike, instead of growing the process's memory.
func TestHashingOverloadAnswers503WithRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *setup) {
		o.hashing = password.Concurrency{MaxHashes: 1, MaxQueue: 1, MaxWait: time.Millisecond}
	})
	ada := h.signUp(t, "ada@example.com")

	// The only slot is taken (as by a login in the middle of its hash) ...
	release, err := h.hasher.Hold()
	if err != nil {
		t.Fatal(err)
	}
	// ... so these find no slot within the wait.
	for _, r := range []response{
		h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")),
		h.post(t, "/api/v1/auth/login", login("nobody@example.com", goodPassword, "laptop")),
	} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" || r.str("detail") != "Service temporarily unavailable" {
			t.Errorf("login while hashing is saturated = %d %s (Retry-After %q), want 503 with Retry-After 1", r.status, r.raw, r.header.Get("Retry-After"))
		}
	}
	change := h.authed(t, "POST", "/api/v1/account/password/change", ada.token,
		map[string]any{"currentPassword": goodPassword, "newPassword": "Quiet-Harbor-77", "confirmPassword": "Quiet-Harbor-77"})
	wantEnvelopeError(t, change, http.StatusServiceUnavailable, "Service temporarily unavailable")
	if change.header.Get("Retry-After") != "1" {
		t.Errorf("envelope 503 Retry-After = %q, want 1", change.header.Get("Retry-After"))
	}
	release()

	// Shedding load is not a failed login: once the slot is free the owner signs in.
	if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("login after the burst = %d %s, want 200 with tokens", r.status, r.raw)
	}
	if peak := h.hasher.PeakConcurrent(); peak != 1 {
		t.Errorf("peak concurrent hashes = %d, want 1", peak)
	}
}

// No composition rule (NIST SP 800-63B-4, ASVS v5 6.2): a long passphrase of letters only is a
// good password.
func TestRegistrationAcceptsALetterOnlyPassphrase(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "poet@example.com"})
	const phrase = "mauve lantern quietly hums" // 26 characters, no digit, no capital
	r := h.post(t, "/api/v1/auth/verify-registration", map[string]any{"email": "poet@example.com", "otp_code": h.lastCode(t, "poet@example.com"), "password": phrase})
	if r.status != http.StatusCreated {
		t.Fatalf("register with a letter-only passphrase = %d %s, want 201", r.status, r.raw)
	}
	// Typed as NFKC-equivalent text (a full-width space is a space once normalised) it still signs in.
	if r := h.post(t, "/api/v1/auth/login", login("poet@example.com", "mauve\u3000lantern quietly hums", "laptop")); r.status != http.StatusOK {
		t.Errorf("login with the NFKC-equivalent passphrase = %d %s, want 200", r.status, r.raw)
	}
}

// A registration refused for load does not spend its code: the password is hashed after the code
// matched and before it is consumed, so the same code works once hashing has room again.
func TestRegistrationRefusedForLoadKeepsTheCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *setup) {
		o.argon2 = password.Params{MemoryKiB: 19456, Iterations: 64, Parallelism: 1} // ~1 s a hash
		o.hashing = password.Concurrency{MaxHashes: 1, MaxQueue: 1, MaxWait: time.Millisecond}
	})
	ada := h.signUp(t, "ada@example.com")
	h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "new@example.com"})
	code := h.lastCode(t, "new@example.com")

	before := h.hasher.Work().Derivations
	done := make(chan response, 1)
	go func() { done <- h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")) }()
	for deadline := time.Now().Add(10 * time.Second); h.hasher.Work().Derivations == before; {
		if time.Now().After(deadline) {
			t.Fatal("the login never started hashing")
		}
		time.Sleep(time.Millisecond)
	}
	body := map[string]any{"email": "new@example.com", "otp_code": code, "password": goodPassword}
	if r := h.post(t, "/api/v1/auth/verify-registration", body); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("registration while hashing is saturated = %d %s, want 503 with Retry-After", r.status, r.raw)
	}
	<-done
	if r := h.post(t, "/api/v1/auth/verify-registration", body); r.status != http.StatusCreated {
		t.Errorf("the same code once hashing has room = %d %s, want 201", r.status, r.raw)
	}
}
