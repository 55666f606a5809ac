package journey_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
)

// replicaLimit is the failed logins per client address the two-replica journey allows.
const replicaLimit = 4

// replicaKeyRate is profile's API-key rate in the two-replica journey: 30 requests per 6 s window
// for both replicas together, and a burst of 30 on each replica's own limiter.
const replicaKeyRate = 300

// TestTwoReplicas runs two replicas of every service and probes each replica directly, not through
// the gateway: what one replica learns (a revoked token or key, a failed login, a consumed event) must
// hold on the other, because it lives in MongoDB or reaches every replica over Kafka.
func TestTwoReplicas(t *testing.T) {
	tw, mailer := newFakeTwilio(t), newFakeSMTP(t)
	s := startFullStack(t, withReplicas(2), withLiveDelivery(tw, mailer), withServiceEnv(stack.Identity, map[string]string{
		"LOGIN_MAX_PER_IP":            fmt.Sprint(replicaLimit),
		"LOGIN_BACKOFF_FREE_FAILURES": "50", // only the per-address limit under test answers 429
	}), withServiceEnv(stack.Profile, map[string]string{"API_KEY_RATE_PER_MINUTE": fmt.Sprint(replicaKeyRate)}))
	c, st := s.client, s.stack
	for _, name := range stack.Services {
		if pids := st.Pids(name); len(pids) != 2 || pids[0] == 0 || pids[1] == 0 {
			t.Fatalf("%s runs as %v, want two processes", name, pids)
		}
	}
	a := registerByMail(t, c, mailer, "twin")

	// onReplica is a client of replica i of the service's public port.
	onReplica := func(t *testing.T, name string, i int) *client {
		return &client{t: t, base: st.ReplicaURL(name, i), http: &http.Client{Timeout: 10 * time.Second}}
	}
	// tokenUses are a protected path of each service that takes an access token.
	tokenUses := []keyUse{
		{stack.Identity, "GET", "/api/v1/account/security-info", http.StatusOK},
		{stack.Profile, "GET", "/api/v1/me", http.StatusOK},
		{stack.Session, "GET", "/api/v1/auth/token-health", http.StatusOK},
	}

	t.Run("an access token revoked by logout is refused by every replica", func(t *testing.T) {
		victim := login(t, c, a, firefoxOnLinux)
		for _, use := range tokenUses {
			for i := range 2 {
				onReplica(t, use.service, i).do(use.method, use.path, nil, bearer(victim.access)...).
					want(t, use.want, fmt.Sprintf("%s-%d before logout", use.service, i+1))
			}
		}
		c.do("POST", "/api/v1/auth/logout", nil, bearer(victim.access)...).want(t, http.StatusOK, "logout")
		for _, use := range tokenUses {
			for i := range 2 {
				rc := onReplica(t, use.service, i)
				eventually(t, 10*time.Second, fmt.Sprintf("%s-%d refuses the logged-out token", use.service, i+1), func() bool {
					return rc.do(use.method, use.path, nil, bearer(victim.access)...).Status == http.StatusUnauthorized
				})
			}
		}
	})

	t.Run("a revoked API key is refused by every replica", func(t *testing.T) {
		r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "twin", "scopes": []string{"read", "write"}}, c.stepUp(t, a.access, password)...).
			want(t, http.StatusCreated, "create api key")
		key, keyID := str(r.Body, "key"), str(r.Body, "id")
		// Every replica verifies the key once, so each has it in its cache when it is revoked.
		for _, use := range keyUses {
			for i := range 2 {
				onReplica(t, use.service, i).do(use.method, use.path, nil, "X-API-Key", key).
					want(t, use.want, fmt.Sprintf("%s-%d with the key", use.service, i+1))
			}
		}
		c.do("DELETE", "/api/v1/auth/api-keys/"+keyID, nil, bearer(a.access)...).want(t, http.StatusNoContent, "revoke the key")
		for _, use := range keyUses {
			for i := range 2 {
				rc := onReplica(t, use.service, i)
				eventually(t, 10*time.Second, fmt.Sprintf("%s-%d refuses the revoked key", use.service, i+1), func() bool {
					return rc.do(use.method, use.path, nil, "X-API-Key", key).Status == http.StatusUnauthorized
				})
			}
		}
	})

	t.Run("an API key's budget is shared by both replicas", func(t *testing.T) {
		r := c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "twin-budget", "scopes": []string{"read"}}, c.stepUp(t, a.access, password)...).
			want(t, http.StatusCreated, "create api key")
		key := str(r.Body, "key")
		budget, window := authn.APIKeyWindow(replicaKeyRate)
		// Each replica verifies the key once (a lookup at identity), before the windows measured.
		for i := range 2 {
			onReplica(t, stack.Profile, i).do("GET", "/api/v1/me", nil, "X-API-Key", key).want(t, http.StatusOK, fmt.Sprintf("profile-%d with the key", i+1))
		}
		// Requests alternate between the replicas from the start of a window until the first 429.
		// Counted per replica, each would let its own budget through (2×); shared, the pair stops
		// at the budget plus what one replica admits before it has counted the other's requests.
		bound := budget + budget/2
		for attempt := 1; ; attempt++ {
			// Start at a window's start, two windows on, so each replica's own limiter has refilled.
			now := time.Now()
			start := now.Truncate(window).Add(2 * window)
			time.Sleep(time.Until(start) + 20*time.Millisecond)
			admitted, limited := 0, response{}
			for i := 0; i < 2*budget+2 && time.Now().Before(start.Add(window)); i++ {
				got := onReplica(t, stack.Profile, i%2).do("GET", "/api/v1/me", nil, "X-API-Key", key)
				if got.Status == http.StatusTooManyRequests {
					limited = got
					break
				}
				if got.Status != http.StatusOK {
					t.Fatalf("request %d on profile-%d: %d %s", i+1, i%2+1, got.Status, got.Raw)
				}
				admitted++
			}
			if limited.Status == 0 && time.Now().After(start.Add(window)) && attempt < 3 {
				t.Logf("attempt %d ran past its window (%d admitted): again", attempt, admitted)
				continue
			}
			if limited.Status != http.StatusTooManyRequests {
				t.Fatalf("two profile replicas admitted %d requests of one key in a window and never answered 429; the budget is %d for both together", admitted, budget)
			}
			if admitted > bound {
				t.Fatalf("two profile replicas admitted %d requests of one key in a window before a 429, want at most %d (budget %d for both together)", admitted, bound, budget)
			}
			if admitted < budget {
				t.Fatalf("429 after %d requests, want the whole budget %d first", admitted, budget)
			}
			if ra := limited.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
			}
			break
		}
		// The next window brings the budget back.
		eventually(t, 4*window, "the key admitted again in a later window", func() bool {
			return onReplica(t, stack.Profile, 1).do("GET", "/api/v1/me", nil, "X-API-Key", key).Status == http.StatusOK
		})
	})

	t.Run("failed logins spread over both replicas are counted once", func(t *testing.T) {
		from := []string{"X-Forwarded-For", "198.51.100.7"} // identity trusts loopback proxies; one address for this test only
		attempt := func(i int) response {
			return onReplica(t, stack.Identity, i%2).do("POST", "/api/v1/auth/login",
				map[string]any{"identifier": a.email, "password": fmt.Sprintf("wrong-Password-%d", i), "device_id": "guesser"}, from...)
		}
		for i := range replicaLimit {
			attempt(i).want(t, http.StatusUnauthorized, fmt.Sprintf("failed login %d of %d on identity-%d", i+1, replicaLimit, i%2+1))
		}
		// Counted per process, each replica would have seen only half and let both of these through.
		for i := range 2 {
			if r := attempt(replicaLimit + i); r.Status != http.StatusTooManyRequests {
				t.Fatalf("failed login %d on identity-%d: %d %s, want 429 (the limit is %d for both replicas together)",
					replicaLimit+i+1, (replicaLimit+i)%2+1, r.Status, r.Raw, replicaLimit)
			}
		}
	})

	t.Run("one SMS per phone code and one e-mail per e-mail code, though two notification replicas consume", func(t *testing.T) {
		const phone = "+14155550199"
		owner := c.stepUp(t, a.access, password) // changing the phone needs a step-up
		send := func() {
			t.Helper()
			eventually(t, 10*time.Second, "a phone code sent (past the resend cooldown)", func() bool {
				r := c.do("POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": phone}, owner...)
				if r.Status != http.StatusOK && r.Status != http.StatusTooManyRequests {
					t.Fatalf("send a phone code: %d %s", r.Status, r.Raw)
				}
				return r.Status == http.StatusOK
			})
		}
		send()
		eventually(t, 20*time.Second, "the SMS at Twilio", func() bool { return len(tw.Messages(phone)) >= 1 })
		// A second code for the same phone is keyed alike, so it is consumed after the first on the
		// same partition: once it has arrived, a duplicate of the first would have too.
		send()
		eventually(t, 20*time.Second, "the second SMS at Twilio", func() bool { return len(tw.Messages(phone)) >= 2 })
		sms := tw.Messages(phone)
		if len(sms) != 2 || codeIn(sms[0]) == "" || codeIn(sms[0]) == codeIn(sms[1]) {
			t.Fatalf("Twilio got %d SMS for two codes: %q, want one each with its own code", len(sms), sms)
		}
		c.do("POST", "/api/v1/auth/verify-phone", map[string]any{"phone_number": phone, "otp_code": codeIn(sms[1])}, owner...).
			want(t, http.StatusOK, "verify the phone with the code from the SMS")
		if p := tw.Problems(); len(p) > 0 {
			t.Errorf("requests the real Twilio would refuse: %q", p)
		}

		const email = "twin-mail@example.com"
		initiate := func() {
			t.Helper()
			eventually(t, 10*time.Second, "a registration code sent (past the resend cooldown)", func() bool {
				r := c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": email})
				if r.Status != http.StatusAccepted && r.Status != http.StatusTooManyRequests {
					t.Fatalf("initiate registration: %d %s", r.Status, r.Raw)
				}
				return r.Status == http.StatusAccepted
			})
		}
		initiate()
		eventually(t, 20*time.Second, "the registration e-mail", func() bool { return len(mailer.Mails(email)) >= 1 })
		initiate()
		eventually(t, 20*time.Second, "the second registration e-mail", func() bool { return len(mailer.Mails(email)) >= 2 })
		if mails := mailer.Mails(email); len(mails) != 2 || codeIn(mails[0]) == "" || codeIn(mails[0]) == codeIn(mails[1]) {
			t.Fatalf("SMTP got %d mails for two codes: %q, want one each with its own code", len(mails), mails)
		}
	})

	t.Run("session lists and refreshes through the gateway land on both session replicas", func(t *testing.T) {
		sess := login(t, c, a, safariOnIPhone)
		// The gateway takes turns per request, and nothing else calls the session service's public
		// port meanwhile: two requests in a row reach both replicas.
		for range 2 {
			c.do("GET", "/api/v1/account/sessions", nil, append(bearer(sess.access), "X-Session-Id", sess.sid)...).want(t, http.StatusOK, "list sessions")
		}
		for range 2 {
			r := c.do("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": sess.refresh}).want(t, http.StatusOK, "refresh")
			sess.access, sess.refresh = str(r.Body, "access_token"), str(r.Body, "refresh_token")
		}
		c.do("GET", "/api/v1/auth/token-health", nil, bearer(sess.access)...).want(t, http.StatusOK, "the refreshed token")
		for i := range 2 {
			url := st.ReplicaInternalURL(stack.Session, i) + "/metrics"
			var lists, refreshes float64
			eventually(t, 10*time.Second, fmt.Sprintf("session-%d served a list and a refresh", i+1), func() bool {
				got, err := metricstest.Scrape(url)
				if err != nil {
					t.Fatal(err)
				}
				lists, _ = got.Value("latchkey_http_requests_total", map[string]string{"method": "GET", "route": "/api/v1/account/sessions", "status": "200"})
				refreshes, _ = got.Value("latchkey_session_token_refreshes_total", map[string]string{"outcome": "success"})
				return lists >= 1 && refreshes >= 1
			})
		}
	})

	if mails := mailer.Mails(a.email); len(slices.DeleteFunc(mails, func(m string) bool { return codeIn(m) == "" })) != 1 {
		t.Errorf("%s got %d mails with a code, want the one registration code", a.email, len(mails))
	}
}

// registerByMail registers an account with the code from the registration e-mail at the fake SMTP
// server (the live driver keeps no dev outbox).
func registerByMail(t *testing.T, c *client, mailer *fakeSMTP, name string) account {
	t.Helper()
	a := account{email: name + "@example.com", username: name, device: "device-" + name}
	c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": a.email}).want(t, http.StatusAccepted, "initiate registration")
	var code string
	eventually(t, 20*time.Second, "the registration e-mail", func() bool {
		if mails := mailer.Mails(a.email); len(mails) > 0 {
			code = codeIn(mails[0])
		}
		return code != ""
	})
	r := c.do("POST", "/api/v1/auth/verify-registration", map[string]any{
		"email": a.email, "otp_code": code, "password": password, "username": a.username,
		"first_name": "Ada", "last_name": "Lovelace", "device_id": a.device, "device_name": "Test laptop", "platform": "WEB",
	}).want(t, http.StatusCreated, "verify registration")
	a.access, a.refresh, a.sid = str(r.Body, "access_token"), str(r.Body, "refresh_token"), str(r.Body, "session_id")
	a.id = str(r.Body, "user", "id")
	if a.access == "" || a.refresh == "" || a.id == "" {
		t.Fatalf("verify registration body = %s, want tokens and user", r.Raw)
	}
	return a
}
