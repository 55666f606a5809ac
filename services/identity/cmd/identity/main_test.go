package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/config"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRun starts the service as main does, checks that it serves and is ready, and that it stops
// cleanly when its context is cancelled.
func TestRun(t *testing.T) {
	env := testenv.New(t)
	db := env.Database("identity")
	public, internal := freeAddr(t), freeAddr(t)
	loader := config.NewLoaderFrom(map[string]string{
		"HTTP_ADDR": public, "INTERNAL_ADDR": internal, "MONGODB_URI": env.MongoURI, "MONGODB_DATABASE": db.Name(),
		"KAFKA_BROKERS": strings.Join(env.Brokers, ","), "KAFKA_TOPIC_PREFIX": env.TopicPrefix,
		"TOTP_ENCRYPTION_KEYS": "test:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "INTERNAL_API_TOKEN": "internal-token-0123456789", "OTP_PEPPER": strings.Repeat("p", 32), "SHUTDOWN_TIMEOUT": "2s",
		"SHUTDOWN_DRAIN_DELAY": "0s",
		// Required peer URLs (nothing listens there in this test).
		"SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.DiscardHandler), loader) }()

	get := func(url string) (int, map[string]any) {
		for deadline := time.Now().Add(10 * time.Second); ; {
			resp, err := http.Get(url)
			if err == nil {
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				var body map[string]any
				_ = json.Unmarshal(raw, &body)
				return resp.StatusCode, body
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", url, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if status, body := get("http://" + internal + "/readyz"); status != http.StatusOK || body["status"] != "ok" {
		t.Errorf("/readyz = %d %v, want ok with MongoDB and Kafka up", status, body)
	} else if checks, _ := body["checks"].(map[string]any); checks["workers"] != "ok" || checks["running"] != "ok" {
		t.Errorf("/readyz checks = %v, want the runtime's workers and running checks", checks)
	}
	resp, err := http.Post("http://"+public+"/api/v1/auth/initiate-registration", "application/json", strings.NewReader(`{"email":"ada@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("initiate-registration = %d, want 202", resp.StatusCode)
	}
	if status, _ := get("http://" + public + "/api/v1/auth/unknown"); status != http.StatusNotFound {
		t.Errorf("unknown route = %d, want 404", status)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run() = %v, want nil after cancellation", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run() did not return after cancellation")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := run(context.Background(), slog.New(slog.DiscardHandler), config.NewLoaderFrom(map[string]string{
		"INTERNAL_API_TOKEN": "", "OTP_MAX_ATTEMPTS": "zero",
	}))
	if err == nil || !strings.Contains(err.Error(), "INTERNAL_API_TOKEN") || !strings.Contains(err.Error(), "OTP_MAX_ATTEMPTS") {
		t.Errorf("run() = %v, want every configuration error", err)
	}
}
