package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

// eventually polls check every 50ms until it returns true or timeout passes.
func eventually(timeout time.Duration, check func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !check() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// TestRun starts the whole service against the test MongoDB and Kafka and walks it as its neighbours
// do: identity's account.created fills the profile, session's session.revoked shuts a token out, and a
// SIGTERM (the cancelled context) stops it cleanly.
func TestRun(t *testing.T) {
	env := testenv.New(t)
	env.Database("profile") // dropped when the test ends
	keys := authntest.New(t)
	public, internal := freeAddr(t), freeAddr(t)
	loader := config.NewLoaderFrom(map[string]string{
		"HTTP_ADDR":            public,
		"INTERNAL_ADDR":        internal,
		"MONGODB_URI":          env.MongoURI,
		"MONGODB_DATABASE":     env.DBPrefix + "profile",
		"KAFKA_BROKERS":        strings.Join(env.Brokers, ","),
		"KAFKA_TOPIC_PREFIX":   env.TopicPrefix,
		"JWKS_URL":             keys.JWKSURL,
		"INTERNAL_API_TOKEN":   "test-internal-token-0123456789",
		"PROFILE_WAIT_TIMEOUT": "300ms",
		"SHUTDOWN_TIMEOUT":     "5s",
		// Nothing to drain in a test: stop at once.
		"SHUTDOWN_DRAIN_DELAY": "0s",
		// Required; nothing listens there in this test.
		"IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.DiscardHandler), loader) }()

	if !eventually(30*time.Second, func() bool {
		status, body := getJSON(t, "http://"+internal+"/readyz", "")
		return status == http.StatusOK && body["checks"] != nil
	}) {
		t.Fatal("/readyz never answered 200")
	}

	token := keys.Token(t, "acc-1", "sess-1", nil)
	me := "http://" + public + "/api/v1/me"
	t.Run("profile before the account event: answered from the token", func(t *testing.T) {
		status, body := getJSON(t, me, token)
		if status != http.StatusOK || body["id"] != "acc-1" || body["email"] != nil {
			t.Errorf("got %d %v", status, body)
		}
	})

	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	defer func() { _ = producer.Close() }()
	publish := func(topic, typ string, payload any) {
		t.Helper()
		ev, err := events.New(typ, "acc-1", payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.Publish(context.Background(), topic, ev); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("account.created fills the profile in", func(t *testing.T) {
		publish(events.TopicAccountEvents, events.TypeAccountCreated, events.AccountCreated{Email: "jane@example.com", Username: "jane", FirstName: "Jane"})
		if !eventually(20*time.Second, func() bool {
			_, body := getJSON(t, me, token)
			return body["email"] == "jane@example.com" && body["first_name"] == "Jane"
		}) {
			_, body := getJSON(t, me, token)
			t.Errorf("profile never filled in: %v", body)
		}
	})

	t.Run("account.updated reaches /api/v1/auth/me", func(t *testing.T) {
		publish(events.TopicAccountEvents, events.TypeAccountUpdated, events.AccountSnapshot{
			Version: 2, Email: "jane@example.com", EmailVerified: true, PhoneNumber: "+254712345678", PhoneVerified: true,
			Username: "jane_d", Status: events.AccountStatusActive,
		})
		if !eventually(20*time.Second, func() bool {
			_, body := getJSON(t, "http://"+public+"/api/v1/auth/me", token)
			return body["username"] == "jane_d" && body["phone_number"] == "+254712345678" && body["phone_verified"] == true && body["is_verified"] == true
		}) {
			_, body := getJSON(t, "http://"+public+"/api/v1/auth/me", token)
			t.Errorf("snapshot never applied: %v", body)
		}
	})

	t.Run("PATCH publishes profile.updated through the outbox", func(t *testing.T) {
		var (
			mu   sync.Mutex
			seen []events.ProfileSnapshot
		)
		rctx, stopReading := context.WithCancel(context.Background())
		defer stopReading()
		go func() {
			_ = kafkax.RunBroadcast(rctx, kafkax.Cluster{Brokers: env.Brokers}, kafkax.Topic(env.TopicPrefix, events.TopicProfileEvents), time.Now().Add(-time.Minute),
				func(_ context.Context, ev events.Envelope) error {
					var snap events.ProfileSnapshot
					if ev.Type == events.TypeProfileUpdated && ev.AccountID == "acc-1" && ev.Decode(&snap) == nil {
						mu.Lock()
						seen = append(seen, snap)
						mu.Unlock()
					}
					return nil
				})
		}()
		req, _ := http.NewRequest(http.MethodPatch, me, strings.NewReader(`{"display_name":"Jane D.","locale":"en-ke"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PATCH: %d", resp.StatusCode)
		}
		if !eventually(20*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range seen {
				if s.DisplayName == "Jane D." && s.Locale == "en-KE" && s.FirstName == "Jane" && s.OnboardingComplete && s.Version > 1 {
					return true
				}
			}
			return false
		}) {
			mu.Lock()
			defer mu.Unlock()
			t.Errorf("no profile.updated with the new display name; saw %+v", seen)
		}
	})

	t.Run("a revoked session's token is refused", func(t *testing.T) {
		publish(events.TopicSessionEvents, events.TypeSessionRevoked, events.SessionRevoked{SessionID: "sess-1", Reason: "logout", DenyUntil: time.Now().Add(time.Hour)})
		start := time.Now()
		if !eventually(10*time.Second, func() bool { status, _ := getJSON(t, me, token); return status == http.StatusUnauthorized }) {
			t.Fatal("the revoked token is still accepted")
		}
		t.Logf("refused %s after the event was published", time.Since(start).Round(time.Millisecond))
		if status, _ := getJSON(t, me, keys.Token(t, "acc-1", "sess-2", nil)); status != http.StatusOK {
			t.Errorf("another session's token: %d, want 200", status)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + internal + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(raw), "latchkey_http_requests_total") {
			t.Error("/metrics lacks the HTTP request counter")
		}
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after SIGTERM, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of SIGTERM")
	}
	if _, err := net.DialTimeout("tcp", public, time.Second); err == nil {
		t.Error("the public port still accepts connections after shutdown")
	}
}

func TestRunReportsEveryConfigError(t *testing.T) {
	err := run(context.Background(), slog.New(slog.DiscardHandler), config.NewLoaderFrom(map[string]string{
		"PROFILE_WAIT_TIMEOUT": "forever",
		"LOG_LEVEL":            "loud",
	}))
	if err == nil {
		t.Fatal("run succeeded without configuration")
	}
	for _, want := range []string{"INTERNAL_API_TOKEN", "PROFILE_WAIT_TIMEOUT", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
