package journey_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const password = "correct-Horse-42"

// latestCode waits for the newest message to `to` with the purpose and returns its code.
func (c *client) latestCode(t *testing.T, to, purpose string, after int) string {
	t.Helper()
	var code string
	eventually(t, 10*time.Second, "an OTP for "+purpose+" in the dev outbox", func() bool {
		r := c.do("GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil).want(t, 200, "dev outbox")
		msgs, _ := r.Body["messages"].([]any)
		if len(msgs) <= after {
			return false
		}
		m := msgs[0].(map[string]any)
		if m["purpose"] != purpose {
			return false
		}
		code, _ = m["code"].(string)
		return true
	})
	return code
}

func (c *client) outboxCount(t *testing.T, to string) int {
	t.Helper()
	r := c.do("GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil).want(t, 200, "dev outbox")
	msgs, _ := r.Body["messages"].([]any)
	return len(msgs)
}

type account struct {
	email, username, device string
	access, refresh, sid    string
	id                      string
}

// register runs steps 1 and 2 of the journey and returns the new account with its first session.
func register(t *testing.T, c *client, name string) account {
	t.Helper()
	a := account{email: name + "@example.com", username: name, device: "device-" + name}
	r := c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": a.email}).want(t, 202, "initiate registration")
	if str(r.Body, "message") == "" || r.Body["expires_in"] == nil {
		t.Fatalf("initiate registration body = %s, want message and expires_in", r.Raw)
	}
	code := c.latestCode(t, a.email, "registration", 0)
	if len(code) != 6 {
		t.Fatalf("registration code = %q, want 6 digits", code)
	}
	r = c.do("POST", "/api/v1/auth/verify-registration", map[string]any{
		"email": a.email, "otp_code": code, "password": password, "username": a.username,
		"first_name": "Ada", "last_name": "Lovelace", "device_id": a.device, "device_name": "Test laptop", "platform": "WEB",
	}).want(t, 201, "verify registration")
	a.access, a.refresh, a.sid = str(r.Body, "access_token"), str(r.Body, "refresh_token"), str(r.Body, "session_id")
	a.id = str(r.Body, "user", "id")
	if a.access == "" || a.refresh == "" || a.sid == "" || a.id == "" || str(r.Body, "token_type") != "Bearer" || r.Body["expires_in"] == nil {
		t.Fatalf("verify registration body = %s, want tokens, session_id and user", r.Raw)
	}
	if str(r.Body, "user", "email") != a.email || str(r.Body, "user", "username") != a.username {
		t.Fatalf("user = %v, want email %s and username %s", r.Body["user"], a.email, a.username)
	}
	return a
}

func TestJourney(t *testing.T) {
	c := startStack(t, withShortRefreshGrace)
	a := register(t, c, "ada")

	t.Run("profile right after registration", func(t *testing.T) {
		r := c.do("GET", "/api/v1/me", nil, bearer(a.access)...).want(t, 200, "GET /api/v1/me")
		if str(r.Body, "id") != a.id {
			t.Fatalf("profile id = %v, want %s", r.Body["id"], a.id)
		}
		eventually(t, 10*time.Second, "the profile filled in from account.created", func() bool {
			r := c.do("GET", "/api/v1/me", nil, bearer(a.access)...).want(t, 200, "GET /api/v1/me")
			return str(r.Body, "email") == a.email && str(r.Body, "first_name") == "Ada" && str(r.Body, "username") == a.username
		})
	})

	t.Run("access token is an EdDSA JWT verifiable from the JWKS", func(t *testing.T) {
		r := c.do("GET", "/.well-known/jwks.json", nil).want(t, 200, "JWKS")
		keys, _ := r.Body["keys"].([]any)
		if len(keys) == 0 {
			t.Fatalf("JWKS = %s, want keys", r.Raw)
		}
		byKid := map[string]ed25519.PublicKey{}
		for _, k := range keys {
			m := k.(map[string]any)
			x, err := base64.RawURLEncoding.DecodeString(str(m, "x"))
			if err != nil || str(m, "kty") != "OKP" || str(m, "crv") != "Ed25519" {
				t.Fatalf("key = %v, want an Ed25519 OKP key", m)
			}
			byKid[str(m, "kid")] = ed25519.PublicKey(x)
		}
		claims := jwt.MapClaims{}
		tok, err := jwt.ParseWithClaims(a.access, claims, func(tok *jwt.Token) (any, error) {
			key, ok := byKid[fmt.Sprint(tok.Header["kid"])]
			if !ok {
				return nil, fmt.Errorf("unknown kid %v", tok.Header["kid"])
			}
			return key, nil
		}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
		if err != nil || !tok.Valid {
			t.Fatalf("access token does not verify against the JWKS: %v", err)
		}
		for _, claim := range []string{"sub", "sid", "iss", "aud", "exp"} {
			if claims[claim] == nil {
				t.Errorf("claim %s missing from %v", claim, claims)
			}
		}
		if claims["sub"] != a.id || claims["sid"] != a.sid {
			t.Errorf("sub/sid = %v/%v, want %s/%s", claims["sub"], claims["sid"], a.id, a.sid)
		}
	})

	t.Run("login from the registering device needs no challenge", func(t *testing.T) {
		for _, identifier := range []string{a.email, strings.ToUpper(a.username)} {
			r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": identifier, "password": password, "device_id": a.device}).want(t, 200, "login "+identifier)
			if str(r.Body, "access_token") == "" || str(r.Body, "session_id") == "" || str(r.Body, "user", "id") != a.id {
				t.Fatalf("login body = %s, want tokens", r.Raw)
			}
		}
	})

	t.Run("wrong password and unknown account answer the same 401", func(t *testing.T) {
		wrong := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": "wrong-Password-1", "device_id": a.device}).want(t, 401, "wrong password")
		unknown := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": "nobody@example.com", "password": "wrong-Password-1", "device_id": a.device}).want(t, 401, "unknown account")
		if string(wrong.Raw) != string(unknown.Raw) {
			t.Fatalf("bodies differ: %s vs %s", wrong.Raw, unknown.Raw)
		}
	})

	t.Run("new device: challenge, device verify, then trusted", func(t *testing.T) {
		before := c.outboxCount(t, a.email)
		r := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "phone-1", "device_name": "Pixel", "platform": "ANDROID"}).want(t, 200, "login from a new device")
		if str(r.Body, "challenge") != "device_verification" || str(r.Body, "device_verification_token") == "" || str(r.Body, "access_token") != "" {
			t.Fatalf("login body = %s, want a device_verification challenge and no tokens", r.Raw)
		}
		if masked := str(r.Body, "masked_value"); masked == "" || strings.Contains(masked, a.email) {
			t.Fatalf("masked_value = %q, want a masked email", masked)
		}
		code := c.latestCode(t, a.email, "device_verification", before)
		dvt := str(r.Body, "device_verification_token")

		bad := c.do("POST", "/api/v1/account/device/verify", map[string]any{"deviceVerificationToken": dvt, "otp": wrongCode(code), "deviceId": "phone-1"})
		bad.want(t, 403, "device verify with a wrong code")
		if bad.Body["success"] != false || str(bad.Body, "httpStatus") != "FORBIDDEN" {
			t.Fatalf("wrong code body = %s, want the envelope", bad.Raw)
		}
		ok := c.do("POST", "/api/v1/account/device/verify", map[string]any{"deviceVerificationToken": dvt, "otp": code, "deviceId": "phone-1", "deviceName": "Pixel", "platform": "ANDROID"}).want(t, 200, "device verify")
		if ok.Body["success"] != true || str(ok.Body, "data", "accessToken") == "" || str(ok.Body, "data", "refreshToken") == "" || str(ok.Body, "data", "user", "id") != a.id {
			t.Fatalf("device verify body = %s, want the documented tokens", ok.Raw)
		}
		if _, has := ok.Body["data"].(map[string]any)["onboarding"]; !has {
			t.Fatalf("device verify body = %s, want onboarding flags", ok.Raw)
		}
		again := c.do("POST", "/api/v1/account/device/verify", map[string]any{"deviceVerificationToken": dvt, "otp": code, "deviceId": "phone-1"})
		if again.Status < 400 || again.Status >= 500 {
			t.Fatalf("reusing a device verification token: status %d, want a 4xx: %s", again.Status, again.Raw)
		}
		r = c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": "phone-1"}).want(t, 200, "login from the now trusted device")
		if str(r.Body, "access_token") == "" {
			t.Fatalf("login body = %s, want tokens for a trusted device", r.Raw)
		}
	})

	t.Run("refresh rotates, and reuse revokes the session", func(t *testing.T) {
		login := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": a.device}).want(t, 200, "login")
		first := str(login.Body, "refresh_token")
		r := c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": first}).want(t, 200, "refresh")
		second := str(r.Body, "refresh_token")
		if second == "" || second == first || str(r.Body, "access_token") == "" || r.Body["expires_in"] == nil {
			t.Fatalf("refresh body = %s, want a new pair", r.Raw)
		}
		// Within the grace the spent token returns the same pair (a client's parallel refreshes)...
		again := c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": first}).want(t, 200, "the spent token within the grace")
		if str(again.Body, "refresh_token") != second || str(again.Body, "access_token") != str(r.Body, "access_token") {
			t.Fatalf("refresh within the grace = %s, want the pair of the first refresh", again.Raw)
		}
		// ...after it, the spent token is a replay and ends the session.
		time.Sleep(shortRefreshGrace + 200*time.Millisecond)
		c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": first}).want(t, 401, "reusing a rotated refresh token")
		c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": second}).want(t, 401, "the newest refresh token after reuse was detected")
		access := str(r.Body, "access_token")
		eventually(t, 10*time.Second, "the reused session's access token refused by the profile service", func() bool {
			return c.do("GET", "/api/v1/me", nil, bearer(access)...).Status == 401
		})
	})

	t.Run("logout revokes the token in every service", func(t *testing.T) {
		login := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": a.device}).want(t, 200, "login")
		access := str(login.Body, "access_token")
		c.do("GET", "/api/v1/me", nil, bearer(access)...).want(t, 200, "profile before logout")
		c.do("POST", "/api/v1/auth/logout", nil, bearer(access)...).want(t, 200, "logout")
		eventually(t, 10*time.Second, "the logged-out token refused by the profile service", func() bool {
			return c.do("GET", "/api/v1/me", nil, bearer(access)...).Status == 401
		})
		c.do("POST", "/api/v1/auth/logout", nil, bearer(access)...).want(t, 401, "the session service refuses the logged-out token")
		c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": str(login.Body, "refresh_token")}).want(t, 401, "refresh of a logged-out session")
		// The first session is untouched.
		c.do("GET", "/api/v1/me", nil, bearer(a.access)...).want(t, 200, "another session of the same account")
	})

	t.Run("registering a taken email answers the same and sends a notice", func(t *testing.T) {
		fresh := c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": "newcomer@example.com"}).want(t, 202, "initiate for a new email")
		before := c.outboxCount(t, a.email)
		var taken response
		eventually(t, 10*time.Second, "initiate for a taken email past the resend cooldown", func() bool {
			taken = c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": strings.ToUpper(a.email)})
			return taken.Status != 429
		})
		taken.want(t, 202, "initiate for a taken email")
		if string(fresh.Raw) != string(taken.Raw) {
			t.Fatalf("answers differ: %s vs %s", fresh.Raw, taken.Raw)
		}
		eventually(t, 10*time.Second, "the existing-account notice", func() bool {
			r := c.do("GET", "/api/v1/dev/outbox?to="+url.QueryEscape(a.email), nil)
			msgs, _ := r.Body["messages"].([]any)
			if len(msgs) <= before {
				return false
			}
			m := msgs[0].(map[string]any)
			return m["purpose"] == "registration_existing_account" && (m["code"] == nil || m["code"] == "")
		})
	})
}

func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}
