package journey_test

import (
	"fmt"
	"reflect"
	"testing"
)

// TestTwoFactorFailsClosedJourney replays the review's takeover of issue 13 item 3 through the
// gateway: 2FA on, e-mail unlinked, then the phone "replaced" through the profile service's PATCH
// paths with nothing but an access token. The verified phone stays, and a password sign-in from a
// new device gets a two-factor challenge at the owner's phone instead of tokens. It also checks item
// 7's first side door: PATCH /api/v1/me with a number another account verified answers exactly like
// an unused number, and phone changes are limited per account.
func TestTwoFactorFailsClosedJourney(t *testing.T) {
	c := startStack(t)
	ada := register(t, c, "ada")
	bob := register(t, c, "bob")
	cyd := register(t, c, "cyd")
	const adaPhone, attackerPhone = "+447700900123", "+447700900666"

	t.Run("a stolen token cannot swap the second factor", func(t *testing.T) {
		// The owner sets things up, proving presence with a step-up token.
		owner := c.stepUp(t, ada.access, password)
		c.do("POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": adaPhone}, owner...).want(t, 200, "send phone code")
		code := c.latestCode(t, adaPhone, "phone_verification", 0)
		c.do("POST", "/api/v1/auth/verify-phone", map[string]any{"phone_number": adaPhone, "otp_code": code}, owner...).want(t, 200, "verify phone")
		c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": password}, bearer(ada.access)...).want(t, 200, "enable 2FA")
		c.do("DELETE", "/api/v1/account/link/email", nil, owner...).want(t, 200, "unlink e-mail")

		// The attacker, holding only ada's access token, sets a number of theirs through both profile paths.
		r := c.do("PATCH", "/api/v1/me", map[string]any{"phone": attackerPhone}, bearer(ada.access)...).want(t, 200, "PATCH /api/v1/me phone")
		if str(r.Body, "phone") != adaPhone || r.Body["phone_verified"] != true || str(r.Body, "pending_phone") != attackerPhone {
			t.Fatalf("PATCH /api/v1/me = %s, want the verified phone kept and the new number pending", r.Raw)
		}
		r = c.do("PATCH", "/api/v1/auth/me", map[string]any{"phone_number": "07700 900667", "country_code": "+44"}, bearer(ada.access)...).want(t, 200, "PATCH /api/v1/auth/me phone")
		if str(r.Body, "phone_number") != adaPhone || r.Body["phone_verified"] != true || str(r.Body, "pending_phone_number") != "+447700900667" {
			t.Fatalf("PATCH /api/v1/auth/me = %s, want the verified phone kept and the new number pending", r.Raw)
		}

		sentToAttacker := c.outboxCount(t, "+447700900667") + c.outboxCount(t, attackerPhone)
		before := c.outboxCount(t, adaPhone)
		r = c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": "ada", "password": password, "device_id": "attacker-pc"}).want(t, 200, "login from a new device")
		if r.Body["access_token"] != nil || r.Body["refresh_token"] != nil || str(r.Body, "challenge") != "two_factor" || str(r.Body, "masked_value") != "+447***0123" {
			t.Fatalf("login = %s, want a two_factor challenge at ada's phone and no tokens", r.Raw)
		}
		if code := c.latestCode(t, adaPhone, "two_factor", before); len(code) != 6 {
			t.Fatalf("two_factor code = %q", code)
		}
		if n := c.outboxCount(t, "+447700900667") + c.outboxCount(t, attackerPhone); n != sentToAttacker {
			t.Errorf("%d messages went to the attacker's numbers", n-sentToAttacker)
		}
	})

	t.Run("a number verified elsewhere answers like an unused one", func(t *testing.T) {
		taken := c.do("PATCH", "/api/v1/me", map[string]any{"phone": adaPhone}, bearer(bob.access)...)
		unused := c.do("PATCH", "/api/v1/me", map[string]any{"phone": "+447700900700"}, bearer(cyd.access)...)
		norm := func(r response) map[string]any {
			out := map[string]any{"status": r.Status}
			for k, v := range r.Body {
				switch k {
				case "id", "email", "username", "phone", "created_at", "updated_at":
				default:
					out[k] = v
				}
			}
			return out
		}
		if !reflect.DeepEqual(norm(taken), norm(unused)) || taken.Status != 200 {
			t.Fatalf("answers differ:\n taken:  %d %s\n unused: %d %s", taken.Status, taken.Raw, unused.Status, unused.Raw)
		}
		if str(taken.Body, "phone") != adaPhone || str(unused.Body, "phone") != "+447700900700" {
			t.Fatalf("taken = %s, unused = %s; want each caller's own (pending) number", taken.Raw, unused.Raw)
		}
		// Ada's verified phone is untouched.
		r := c.do("GET", "/api/v1/auth/me", nil, bearer(ada.access)...).want(t, 200, "ada's account")
		if str(r.Body, "phone_number") != adaPhone || r.Body["phone_verified"] != true {
			t.Fatalf("ada after bob's PATCH = %s", r.Raw)
		}
	})

	t.Run("phone changes are limited per account", func(t *testing.T) {
		// cyd has made 1 change; OTP_MAX_PER_ACCOUNT_PER_HOUR (10) is the budget.
		for i := range 9 {
			c.do("PATCH", "/api/v1/me", map[string]any{"phone": fmt.Sprintf("+4477009008%02d", i)}, bearer(cyd.access)...).want(t, 200, "change")
		}
		r := c.do("PATCH", "/api/v1/me", map[string]any{"phone": "+447700900899"}, bearer(cyd.access)...).want(t, 429, "11th change within the hour")
		if r.Header.Get("Retry-After") == "" || str(r.Body, "detail") == "" {
			t.Fatalf("429 = %v %s, want Retry-After and a detail", r.Header, r.Raw)
		}
	})
}
