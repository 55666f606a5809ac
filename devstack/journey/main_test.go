// Package journey_test drives the real services, built from source and started as processes, through
// the local gateway over HTTP, with the embedded MongoDB-compatible server and Kafka broker between
// them: the user journeys that outside clients rely on.
package journey_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
)

var binDir string

func TestMain(m *testing.M) {
	// One folder per checkout, overwritten by each run, so repeated runs leave nothing behind and two
	// checkouts on one machine do not overwrite each other's binaries.
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "working directory: %v\n", err)
		os.Exit(1)
	}
	sum := sha256.Sum256([]byte(wd))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("latchkey-journey-bin-%x", sum[:6]))
	binDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// Race-enabled binaries: the journeys also hunt data races inside the services.
	if err := stack.Build(ctx, dir, stack.BuildOptions{Race: true}); err != nil {
		fmt.Fprintf(os.Stderr, "build services: %v\n", err)
		os.Exit(1)
	}
	testenv.Main(m)
}

// startStack runs the four services and the gateway for one test, on that test's own databases and
// topics, and returns a client of the gateway. Service logs go to the test log only when the test
// fails. opts may change the stack's configuration (e.g. add ExtraEnv, see withServiceEnv) before it
// starts.
func startStack(t *testing.T, opts ...func(*stack.Config)) *client {
	t.Helper()
	return startFullStack(t, opts...).client
}

// fullStack is a running stack with what some journeys need besides the gateway: the stack itself
// (the services' internal APIs, restarts) and the test's world (its databases and Kafka broker).
type fullStack struct {
	*client
	stack *stack.Stack
	env   *testenv.Env
}

// startFullStack is startStack handing back the whole fullStack.
func startFullStack(t *testing.T, opts ...func(*stack.Config)) *fullStack {
	t.Helper()
	env := testenv.New(t)
	logs := &logBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := stack.Config{
		BinDir:      binDir,
		GatewayAddr: "127.0.0.1:0",
		MongoURI:    env.MongoURI,
		Brokers:     env.Brokers,
		DBPrefix:    env.DBPrefix,
		TopicPrefix: env.TopicPrefix,
		DevOutbox:   true,
		// A short resend cooldown lets one journey send several codes to one address. The limits
		// refill continuously (no window edges); day-long windows make that refill too slow to matter
		// within a journey that fills one. Every request comes from the gateway's one client address,
		// hence the raised registrations per IP.
		ExtraEnv: map[string]map[string]string{"identity": {
			"OTP_RESEND_COOLDOWN":       "1s",
			"REGISTRATION_MAX_PER_IP":   "1000",
			"LOGIN_FAILURE_WINDOW":      "24h",
			"LOGIN_IP_WINDOW":           "24h",
			"OTP_VERIFY_IP_WINDOW":      "24h",
			"OTP_VERIFY_FAILURE_WINDOW": "24h",
			"OTP_SEND_IP_WINDOW":        "24h",
		}},
		Stdout: logs,
		Stderr: logs,
	}
	cfg.Replicas = journeyReplicas(t)
	for _, o := range opts {
		o(&cfg)
	}
	s, err := stack.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start stack: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop stack: %v", err)
		}
		if t.Failed() {
			t.Logf("service logs:\n%s", tail(logs.String(), 200))
		}
	})
	return &fullStack{client: &client{t: t, base: s.GatewayURL(), http: &http.Client{Timeout: 10 * time.Second}}, stack: s, env: env}
}

// ReplicasEnv is the environment variable that makes every journey start that many replicas of each
// service (default 1), so the whole suite can run against two: LATCHKEY_JOURNEY_REPLICAS=2 go test ./devstack/journey.
const ReplicasEnv = "LATCHKEY_JOURNEY_REPLICAS"

// journeyReplicas is the replica count of ReplicasEnv, 1 when unset.
func journeyReplicas(t *testing.T) int {
	t.Helper()
	raw := os.Getenv(ReplicasEnv)
	if raw == "" {
		return 1
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number of at least 1", ReplicasEnv, raw)
	}
	return n
}

// withReplicas runs n replicas of every service, whatever ReplicasEnv says.
func withReplicas(n int) func(*stack.Config) {
	return func(c *stack.Config) { c.Replicas = n }
}

// withServiceEnv adds environment variables of one service to the stack's configuration (on top of
// those already there).
func withServiceEnv(service string, vars map[string]string) func(*stack.Config) {
	return func(c *stack.Config) {
		env := maps.Clone(c.ExtraEnv[service])
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, vars)
		if c.ExtraEnv == nil {
			c.ExtraEnv = map[string]map[string]string{}
		}
		c.ExtraEnv[service] = env
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

type client struct {
	t    *testing.T
	base string
	http *http.Client
}

type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// do sends a request through the gateway. body may be a string (sent as is) or a value (JSON).
func (c *client) do(method, path string, body any, headers ...string) response {
	c.t.Helper()
	var rd io.Reader
	var sent []byte
	switch b := body.(type) {
	case nil:
	case string:
		rd, sent = strings.NewReader(b), []byte(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd, sent = bytes.NewReader(raw), raw
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) JourneyTest/1.0")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(c.t, req, sent, resp.StatusCode, resp.Header, raw)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// want fails the test unless the response has the status.
func (r response) want(t *testing.T, status int, what string) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Raw)
	}
	return r
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// eventually retries f until it returns true or the deadline passes. Used only for effects that
// cross Kafka; the generous deadline keeps the test stable on a loaded machine (latency targets are
// measured by the benchmarks, not asserted here).
func eventually(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if f() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, within)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// logBuffer collects the services' logs from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
