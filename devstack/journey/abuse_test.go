package journey_test

// Abuse tests through the gateway: forged and replayed access tokens refused by every service that
// takes one, and another account's ids answered 404 on every endpoint that takes an id. (The
// verifier's own table in libs/platform/authn covers the same attacks and the claim checks that need
// the session service's private key, such as a wrong aud or iss, in isolation.)

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/devstack/stack"
)

// protected are user-authenticated GETs answered by each service that accepts access tokens, with
// the wire style of their errors (notification serves no user-authenticated route).
var protected = []struct {
	service, path string
	envelope      bool
}{
	{stack.Identity, "/api/v1/auth/whoami", false},
	{stack.Identity, "/api/v1/account/security-info", true},
	{stack.Session, "/api/v1/account/sessions", true},
	{stack.Session, "/api/v1/auth/token-health", false},
	{stack.Profile, "/api/v1/me", false},
}

// wantRefused checks that every protected route refuses the token with a 401 in its style.
func wantRefused(t *testing.T, c *client, token string) {
	t.Helper()
	for _, p := range protected {
		r := c.do("GET", p.path, nil, bearer(token)...)
		if r.Status != 401 {
			t.Errorf("%s %s: status %d, want 401: %s", p.service, p.path, r.Status, r.Raw)
			continue
		}
		if p.envelope && (r.Body["success"] != false || str(r.Body, "httpStatus") != "UNAUTHORIZED") {
			t.Errorf("%s %s: body %s, want the error envelope", p.service, p.path, r.Raw)
		}
		if !p.envelope && str(r.Body, "detail") == "" {
			t.Errorf("%s %s: body %s, want {\"detail\": ...}", p.service, p.path, r.Raw)
		}
	}
}

// segment encodes a JWT header or payload.
func segment(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestJWTAttacksRefusedByEveryService(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "jwtvictim")
	b := register(t, c, "jwtother")
	for _, p := range protected {
		c.do("GET", p.path, nil, bearer(a.access)...).want(t, 200, "a genuine token at "+p.path)
	}

	// The real key id and public key, as any attacker can read them.
	jwks := c.do("GET", "/.well-known/jwks.json", nil).want(t, 200, "JWKS")
	keys, _ := jwks.Body["keys"].([]any)
	if len(keys) == 0 {
		t.Fatalf("JWKS = %s", jwks.Raw)
	}
	k := keys[0].(map[string]any)
	kid, x := str(k, "kid"), str(k, "x")
	pub, err := base64.RawURLEncoding.DecodeString(x)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(a.access, ".")
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
	signed := func(method jwt.SigningMethod, key any, kid string, edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		if edit != nil {
			edit(c)
		}
		tok := jwt.NewWithClaims(method, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	asB := func(c jwt.MapClaims) { c["sub"], c["sid"] = b.id, b.sid }

	attacks := []struct{ name, token string }{
		{"alg none", segment(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + "."},
		{"alg none, empty signature of a real header", signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, nil)},
		{"HS256 keyed with the public key", signed(jwt.SigningMethodHS256, []byte(pub), kid, nil)},
		{"HS256 keyed with the JWK x string", signed(jwt.SigningMethodHS256, []byte(x), kid, nil)},
		{"unknown kid", signed(jwt.SigningMethodEdDSA, attackerKey, "attacker-kid", nil)},
		{"no kid", signed(jwt.SigningMethodEdDSA, attackerKey, "", nil)},
		{"attacker's key under the real kid", signed(jwt.SigningMethodEdDSA, attackerKey, kid, nil)},
		{"expired, re-signed by the attacker", signed(jwt.SigningMethodEdDSA, attackerKey, kid, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{"tampered payload (another account)", parts[0] + "." + segment(t, func() jwt.MapClaims {
			m := jwt.MapClaims{}
			for k, v := range claims {
				m[k] = v
			}
			asB(m)
			return m
		}()) + "." + parts[2]},
		{"tampered payload (later exp)", parts[0] + "." + segment(t, func() jwt.MapClaims {
			m := jwt.MapClaims{}
			for k, v := range claims {
				m[k] = v
			}
			m["exp"] = time.Now().Add(24 * time.Hour).Unix()
			return m
		}()) + "." + parts[2]},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(b.access, ".")[2]},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])/2]},
		{"not a JWT", "not-a-jwt"},
		{"four segments", a.access + ".extra"},
	}
	for _, at := range attacks {
		t.Run(at.name, func(t *testing.T) { wantRefused(t, c, at.token) })
	}

	t.Run("token of a revoked session", func(t *testing.T) {
		s := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": password, "device_id": a.device}).want(t, 200, "login")
		token := str(s.Body, "access_token")
		c.do("POST", "/api/v1/auth/logout", nil, bearer(token)...).want(t, 200, "logout")
		eventually(t, 15*time.Second, "every service refusing the revoked session's token", func() bool {
			for _, p := range protected {
				if c.do("GET", p.path, nil, bearer(token)...).Status != 401 {
					return false
				}
			}
			return true
		})
		wantRefused(t, c, token)
	})

	// None of the attacks disturbed the genuine session.
	c.do("GET", "/api/v1/me", nil, bearer(a.access)...).want(t, 200, "the genuine token after the attacks")
}

// TestExpiredAccessTokenRefusedByEveryService runs the session service with one-second access
// tokens and waits out the verifiers' 30-second clock-skew leeway.
func TestExpiredAccessTokenRefusedByEveryService(t *testing.T) {
	c := startStack(t, func(cfg *stack.Config) {
		cfg.ExtraEnv[stack.Session] = map[string]string{"ACCESS_TOKEN_TTL": "1s"}
	})
	a := register(t, c, "expiring")
	c.do("GET", "/api/v1/me", nil, bearer(a.access)...).want(t, 200, "a fresh token")
	eventually(t, 90*time.Second, "the expired token refused by the profile service", func() bool {
		time.Sleep(time.Second)
		return c.do("GET", "/api/v1/me", nil, bearer(a.access)...).Status == 401
	})
	wantRefused(t, c, a.access)
	// The refresh token still works and yields a usable access token.
	r := c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": a.refresh}).want(t, 200, "refresh after expiry")
	c.do("GET", "/api/v1/me", nil, bearer(str(r.Body, "access_token"))...).want(t, 200, "the refreshed token")
}

// TestBOLAEveryIDTakingEndpoint walks every endpoint that takes an object id with another
// account's ids: each answers 404, exactly as for an id that does not exist, and the owner's objects
// are untouched.
func TestBOLAEveryIDTakingEndpoint(t *testing.T) {
	c := startStack(t)
	owner := register(t, c, "bolaowner")
	intruder := register(t, c, "bolaintruder")

	// The owner's objects: a second session, its trusted device, an API key.
	second := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": owner.email, "password": password, "device_id": owner.device}).want(t, 200, "owner's second session")
	ownerSID := str(second.Body, "session_id")
	devices := envelopeList(t, c.do("GET", "/api/v1/account/devices", nil, bearer(owner.access)...).want(t, 200, "owner's devices"))
	if len(devices) == 0 {
		t.Fatal("owner has no trusted device")
	}
	deviceKey, _ := devices[0]["id"].(string)
	key := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "owner-ci", "scopes": []string{"read"}}, c.stepUp(t, owner.access, password)...)
	if key.Status != 200 && key.Status != 201 {
		t.Fatalf("create API key: status %d: %s", key.Status, key.Raw)
	}
	keyID := str(key.Body, "id")
	if keyID == "" {
		keyID = str(key.Body, "data", "id")
	}
	if keyID == "" || deviceKey == "" || ownerSID == "" {
		t.Fatalf("ids: key %q device %q session %q", keyID, deviceKey, ownerSID)
	}
	const unknownUUID = "00000000-0000-4000-8000-000000000000"

	endpoints := []struct {
		name           string
		method         string
		path           func(id string) string
		body           func(id string) any
		ownerID, other string
	}{
		{"revoke a session by id (account API)", "DELETE", func(id string) string { return "/api/v1/account/sessions/" + id }, nil, ownerSID, unknownUUID},
		{"revoke a session by id (AudioPod API)", "POST", func(string) string { return "/api/v1/auth/sessions/revoke" }, func(id string) any { return map[string]any{"session_id": id} }, ownerSID, unknownUUID},
		{"revoke a trusted device", "DELETE", func(id string) string { return "/api/v1/account/devices/" + id }, nil, deviceKey, otherLike(deviceKey)},
		{"revoke an API key", "DELETE", func(id string) string { return "/api/v1/auth/api-keys/" + id }, nil, keyID, otherLike(keyID)},
	}
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			call := func(id string) response {
				var body any
				if ep.body != nil {
					body = ep.body(id)
				}
				return c.do(ep.method, ep.path(id), body, bearer(intruder.access)...)
			}
			foreign := call(ep.ownerID)
			if foreign.Status != 404 {
				t.Fatalf("intruder with the owner's id: status %d, want 404: %s", foreign.Status, foreign.Raw)
			}
			missing := call(ep.other)
			if missing.Status != 404 {
				t.Fatalf("intruder with an unknown id: status %d, want 404: %s", missing.Status, missing.Raw)
			}
			if messageOf(foreign) != messageOf(missing) {
				t.Errorf("another account's id and an unknown id answer differently: %s vs %s", foreign.Raw, missing.Raw)
			}
		})
	}

	t.Run("the owner's objects are untouched", func(t *testing.T) {
		c.do("GET", "/api/v1/me", nil, bearer(str(second.Body, "access_token"))...).want(t, 200, "owner's second session still valid")
		if d := envelopeList(t, c.do("GET", "/api/v1/account/devices", nil, bearer(owner.access)...).want(t, 200, "devices")); len(d) != len(devices) {
			t.Errorf("owner's devices = %v, want %d", d, len(devices))
		}
		list := c.do("GET", "/api/v1/auth/api-keys", nil, bearer(owner.access)...).want(t, 200, "owner's API keys")
		if !strings.Contains(string(list.Raw), keyID) {
			t.Errorf("owner's API keys = %s, want %s listed", list.Raw, keyID)
		}
	})
}

// otherLike returns an id of the same shape as id that names nothing: its last character changed.
func otherLike(id string) string {
	last := id[len(id)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return id[:len(id)-1] + string(repl)
}

// messageOf is the error message of a response in either wire style.
func messageOf(r response) string {
	if m := str(r.Body, "message"); m != "" {
		return m
	}
	return fmt.Sprint(r.Body["detail"])
}
