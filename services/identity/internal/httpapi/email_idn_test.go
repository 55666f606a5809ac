package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// TestInternationalisedEmailIsOneAccount: an address with an internationalised domain is one
// account whichever form is typed: registered as "bücher.example", it signs in, is reset and cannot be
// registered again as "xn--bcher-kva.example" (and the other way round). Before, the two forms were two
// accounts, so one person's address could be registered twice and alerts went to the wrong one.
func TestInternationalisedEmailIsOneAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	reg := h.register(t, "Ada@Bücher.example", map[string]any{"device_id": "laptop"})
	id := reg.str("user.id")
	if got := reg.str("user.email"); got != "ada@xn--bcher-kva.example" {
		t.Errorf("registered email = %q, want the ASCII form", got)
	}
	r := h.post(t, "/api/v1/auth/login", login("ada@xn--bcher-kva.example", goodPassword, "laptop"))
	if r.status != http.StatusOK || r.str("access_token") == "" || r.str("user.id") != id {
		t.Fatalf("login with the punycode form = %d %s, want tokens of account %s", r.status, r.raw, id)
	}
	// Registering the other form is registering the same address again: no second account.
	before := len(h.dispatches(t, "ada@xn--bcher-kva.example"))
	if r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": "ada@XN--BCHER-KVA.example"}); r.status != http.StatusAccepted {
		t.Fatalf("initiate-registration = %d %s", r.status, r.raw)
	}
	d := h.dispatches(t, "ada@xn--bcher-kva.example")
	if len(d) != before+1 || d[len(d)-1].Purpose != events.PurposeRegistrationExisting {
		t.Fatalf("second registration in punycode: dispatches %+v, want one existing-account notice to the account's address", d[before:])
	}
	// Password reset finds the account from either form.
	if r := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": "ada@bücher.example"}); r.status >= 300 {
		t.Fatalf("forgot-password = %d %s", r.status, r.raw)
	}
	if n := len(h.dispatches(t, "ada@xn--bcher-kva.example")); n != len(d)+1 {
		t.Errorf("forgot-password with the Unicode form sent %d codes to the account's address, want 1", n-len(d))
	}
}

// TestIPLiteralEmailRefused: addresses at an IP address instead of a domain are a 422 wherever an
// address is entered.
func TestIPLiteralEmailRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, token := h.signedUp(t, "ada@example.com", "ada", "laptop")
	for _, email := range []string{"user@[127.0.0.1]", "user@127.0.0.1", "user@[IPv6:::1]", "user@10.0.0.7"} {
		t.Run(email, func(t *testing.T) {
			for _, path := range []string{"/api/v1/auth/initiate-registration", "/api/v1/auth/forgot-password"} {
				if r := h.post(t, path, map[string]any{"email": email}); r.status != http.StatusUnprocessableEntity {
					t.Errorf("%s = %d %s, want 422", path, r.status, r.raw)
				}
			}
			if r := h.callAs(t, "POST", "/api/v1/account/link/email/initiate", token, map[string]any{"email": email}); r.status != http.StatusUnprocessableEntity {
				t.Errorf("link email = %d %s, want 422", r.status, r.raw)
			}
			if n := len(h.dispatches(t, email)); n != 0 {
				t.Errorf("%d codes sent to %s, want none", n, email)
			}
		})
	}
}
