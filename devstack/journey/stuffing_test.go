package journey_test

import (
	"fmt"
	"testing"

	"github.com/latchkey/latchkey/devstack/stack"
)

// TestCredentialStuffingAndOTPGuessing attacks sign-in the way bots do, through the gateway from
// many client addresses, and checks that the throttles and locks of identity hold, and that they do
// not tell an existing account from an unknown one.
func TestCredentialStuffingAndOTPGuessing(t *testing.T) {
	c := startStack(t, func(cfg *stack.Config) { cfg.TrustForwardedFor = true }, withServiceEnv("identity", map[string]string{
		"LOGIN_MAX_FAILURES_PER_ACCOUNT": "10", "LOGIN_MAX_PER_IP": "30",
	}))
	victim := register(t, c, "stuffed")
	ip := 0
	from := func() []string {
		ip++
		return []string{"X-Forwarded-For", fmt.Sprintf("127.7.%d.%d", ip/250, 1+ip%250)}
	}
	login := func(identifier, pw string, headers []string) response {
		return c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": identifier, "password": pw, "device_id": victim.device}, headers...)
	}

	t.Run("one account from many addresses: new devices held back, the owner's trusted device not, and the lock looks like an unknown account", func(t *testing.T) {
		const unknown = "nobody-stuffed@example.com"
		loginNew := func(identifier, pw string, headers []string) response {
			return c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": identifier, "password": pw, "device_id": "bot-device"}, headers...)
		}
		for i := range 12 { // LOGIN_MAX_FAILURES_PER_ACCOUNT is 10 here
			loginNew(victim.email, fmt.Sprintf("guess-Password-%d", i), from())
			loginNew(unknown, fmt.Sprintf("guess-Password-%d", i), from())
		}
		right := loginNew(victim.email, password, from())
		if right.Status == 200 {
			t.Fatalf("the right password from a new device after 12 failures from 12 addresses: 200 %s, want it held back", right.Raw)
		}
		if owner := login(victim.email, password, from()); owner.Status != 200 || str(owner.Body, "access_token") == "" {
			t.Fatalf("the owner's right password on the trusted device: %d %s, want 200 with tokens (attackers cannot lock the owner out)", owner.Status, owner.Raw)
		}
		if right.Status >= 500 || str(right.Body, "access_token") != "" {
			t.Fatalf("locked login: status %d body %s", right.Status, right.Raw)
		}
		wrongKnown := loginNew(victim.email, "guess-Password-x", from())
		wrongUnknown := loginNew(unknown, "guess-Password-x", from())
		if wrongKnown.Status != wrongUnknown.Status || string(wrongKnown.Raw) != string(wrongUnknown.Raw) {
			t.Fatalf("locked account and unknown account answer differently: %d %s vs %d %s",
				wrongKnown.Status, wrongKnown.Raw, wrongUnknown.Status, wrongUnknown.Raw)
		}
	})

	t.Run("forty people behind one address all sign in", func(t *testing.T) {
		nat := []string{"X-Forwarded-For", "127.9.9.9"}
		people := make([]account, 40)
		for i := range people {
			people[i] = register(t, c, fmt.Sprintf("nat%d", i))
		}
		for i, p := range people {
			r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": p.email, "password": password, "device_id": p.device}, nat...)
			if r.Status != 200 || str(r.Body, "access_token") == "" {
				t.Fatalf("sign-in %d of 40 from one address: %d %s, want 200 with tokens (successes are not counted)", i+1, r.Status, r.Raw)
			}
		}
	})

	t.Run("one address spraying many accounts: throttled with Retry-After", func(t *testing.T) {
		attacker := from()
		var last response
		for i := range 40 { // LOGIN_MAX_PER_IP is 30 failures here
			last = login(fmt.Sprintf("spray-%d@example.com", i), "Spring2026!", attacker)
			if last.Status == 429 {
				break
			}
		}
		if last.Status != 429 || last.Header.Get("Retry-After") == "" || last.Header.Get("X-RateLimit-Limit") != "30" || last.Header.Get("X-RateLimit-Remaining") != "0" {
			t.Fatalf("40 logins from one address: last status %d (Retry-After %q), want 429 with Retry-After: %s",
				last.Status, last.Header.Get("Retry-After"), last.Raw)
		}
		// Another address is not affected.
		login("spray-0@example.com", "Spring2026!", from()).want(t, 401, "the same request from another address")
	})

	t.Run("guessing a registration code: the code dies after the allowed attempts", func(t *testing.T) {
		email := "guessed@example.com"
		c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": email}, from()...).want(t, 202, "initiate registration")
		code := c.latestCode(t, email, "registration", 0)
		verify := func(otp string) response {
			return c.do("POST", "/api/v1/auth/verify-registration", map[string]any{
				"email": email, "otp_code": otp, "password": password, "device_id": "d-guess", "device_name": "Laptop", "platform": "WEB",
			}, from()...)
		}
		for i := range 5 { // OTP_MAX_ATTEMPTS is 5
			guess := fmt.Sprintf("%06d", i)
			if guess == code {
				guess = "999999"
			}
			if r := verify(guess); r.Status < 400 || r.Status >= 500 {
				t.Fatalf("wrong code %d: status %d, want a 4xx: %s", i, r.Status, r.Raw)
			}
		}
		if r := verify(code); r.Status < 400 || r.Status >= 500 {
			t.Fatalf("the right code after 5 wrong guesses: status %d, want a 4xx (the code is dead): %s", r.Status, r.Raw)
		}
	})
}
