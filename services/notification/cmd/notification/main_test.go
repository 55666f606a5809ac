package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
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

func getJSON(target string) (int, map[string]any) {
	resp, err := http.Get(target)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

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

type service struct {
	public, internal string
	cancel           context.CancelFunc
	done             chan error
}

// start runs the service with the test's MongoDB database and topic prefix, and waits until it is ready.
func start(t *testing.T, env *testenv.Env, devOutbox bool) *service {
	t.Helper()
	enabled := "false"
	if devOutbox {
		enabled = "true"
	}
	return startWith(t, env, map[string]string{"DEV_OUTBOX_ENABLED": enabled})
}

// startWith is start with more (or other) environment variables.
func startWith(t *testing.T, env *testenv.Env, extra map[string]string) *service {
	t.Helper()
	s := &service{public: freeAddr(t), internal: freeAddr(t), done: make(chan error, 1)}
	vars := map[string]string{
		"HTTP_ADDR":          s.public,
		"INTERNAL_ADDR":      s.internal,
		"MONGODB_URI":        env.MongoURI,
		"MONGODB_DATABASE":   env.DBPrefix + "notification",
		"KAFKA_BROKERS":      strings.Join(env.Brokers, ","),
		"KAFKA_TOPIC_PREFIX": env.TopicPrefix,
		"INTERNAL_API_TOKEN": "test-internal-token-0123456789",
		"SHUTDOWN_TIMEOUT":   "5s",
		// Nothing to drain in a test: stop at once.
		"SHUTDOWN_DRAIN_DELAY": "0s",
		// The local stack's delivery: the outbox, allowed by DEVELOPMENT_MODE (extra may switch to live).
		"DELIVERY_DRIVER":  "outbox",
		"DEVELOPMENT_MODE": "true",
	}
	for k, v := range extra {
		vars[k] = v
	}
	loader := config.NewLoaderFrom(vars)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- run(ctx, slog.New(slog.DiscardHandler), loader) }()
	t.Cleanup(func() { s.stop(t) })
	if !eventually(30*time.Second, func() bool { status, _ := getJSON("http://" + s.internal + "/readyz"); return status == http.StatusOK }) {
		t.Fatal("/readyz never answered 200")
	}
	return s
}

// stop sends the equivalent of SIGTERM and waits for run to return.
func (s *service) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v after SIGTERM, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of SIGTERM")
	}
}

func (s *service) outbox(to string) []any {
	_, body := getJSON("http://" + s.public + "/api/v1/dev/outbox?to=" + url.QueryEscape(to))
	msgs, _ := body["messages"].([]any)
	return msgs
}

// TestRun starts the whole service, delivers a code published by "identity" into the dev outbox,
// restarts it (the offset was committed: nothing is delivered twice) and stops it cleanly.
func TestRun(t *testing.T) {
	env := testenv.New(t)
	env.Database("notification") // dropped when the test ends
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	defer func() { _ = producer.Close() }()
	publish := func(to, code string) {
		t.Helper()
		ev, err := events.New(events.TypeOTPDispatch, "acc-1", events.OTPDispatch{
			Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: to, Code: code, ExpiresAt: time.Now().Add(10 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.Publish(context.Background(), events.TopicOTPDispatch, ev); err != nil {
			t.Fatal(err)
		}
	}

	svc := start(t, env, true)
	publish("first@example.com", "111111")
	if !eventually(20*time.Second, func() bool { return len(svc.outbox("first@example.com")) == 1 }) {
		t.Fatal("the code never reached the dev outbox")
	}
	msg := svc.outbox("first@example.com")[0].(map[string]any)
	if msg["code"] != "111111" || msg["channel"] != "EMAIL" || !strings.Contains(msg["body"].(string), "111111") {
		t.Errorf("message = %v", msg)
	}
	if status, _ := getJSON("http://" + svc.public + "/api/v1/dev/outbox"); status != http.StatusUnprocessableEntity {
		t.Errorf("without ?to: %d, want 422", status)
	}
	svc.stop(t)

	again := start(t, env, true)
	publish("second@example.com", "222222")
	if !eventually(20*time.Second, func() bool { return len(again.outbox("second@example.com")) == 1 }) {
		t.Fatal("the restarted service never delivered the second code")
	}
	if got := again.outbox("first@example.com"); len(got) != 1 {
		t.Errorf("first@example.com has %d messages after the restart, want 1", len(got))
	}
}

func TestRunWithoutDevOutbox(t *testing.T) {
	env := testenv.New(t)
	env.Database("notification")
	svc := start(t, env, false)
	status, body := getJSON("http://" + svc.public + "/api/v1/dev/outbox?to=a@b.co")
	if status != http.StatusNotFound || body["detail"] != "Not Found" {
		t.Errorf("got %d %v, want the plain 404", status, body)
	}
}

func TestRunReportsEveryConfigError(t *testing.T) {
	err := run(context.Background(), slog.New(slog.DiscardHandler), config.NewLoaderFrom(map[string]string{
		"DELIVERY_DRIVER":    "twilio",
		"DEV_OUTBOX_ENABLED": "sometimes",
	}))
	if err == nil {
		t.Fatal("run succeeded with a broken configuration")
	}
	for _, want := range []string{"INTERNAL_API_TOKEN", "DELIVERY_DRIVER", "DEV_OUTBOX_ENABLED"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestRunRefusesOutboxOutsideDevelopment: the service does not start storing codes instead of sending
// them, nor serve them over HTTP, unless DEVELOPMENT_MODE=true says it runs on a developer's machine.
func TestRunRefusesOutboxOutsideDevelopment(t *testing.T) {
	for name, extra := range map[string]map[string]string{
		"outbox driver":    {"DELIVERY_DRIVER": "outbox"},
		"dev outbox route": {"DELIVERY_DRIVER": "live", "SMTP_HOST": "smtp.example.com", "SMTP_FROM": "a@example.com", "DEV_OUTBOX_ENABLED": "true"},
	} {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"INTERNAL_API_TOKEN": "test-internal-token-0123456789"}
			for k, v := range extra {
				vars[k] = v
			}
			err := run(context.Background(), slog.New(slog.DiscardHandler), config.NewLoaderFrom(vars))
			if err == nil || !strings.Contains(err.Error(), "DEVELOPMENT_MODE=true") {
				t.Fatalf("run = %v, want a configuration error naming DEVELOPMENT_MODE=true", err)
			}
		})
	}
}
