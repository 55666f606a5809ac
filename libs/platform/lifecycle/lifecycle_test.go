package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/lifecycle"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		childMain() // the real-binary tests run this test binary as a service
		return
	}
	testenv.Main(m)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// vars is the environment of a test service on the test's database and topics.
func vars(t *testing.T, env *testenv.Env, extra map[string]string) map[string]string {
	t.Helper()
	v := map[string]string{
		"HTTP_ADDR": freeAddr(t), "INTERNAL_ADDR": freeAddr(t),
		"MONGODB_URI": env.MongoURI, "MONGODB_DATABASE": env.Database("svc").Name(),
		"KAFKA_BROKERS": strings.Join(env.Brokers, ","), "KAFKA_TOPIC_PREFIX": env.TopicPrefix,
		"INTERNAL_API_TOKEN": "internal-token-0123456789", "SHUTDOWN_TIMEOUT": "20s", "SHUTDOWN_DRAIN_DELAY": "0s",
	}
	for k, val := range extra {
		v[k] = val
	}
	return v
}

func base(t *testing.T, v map[string]string) config.Base {
	t.Helper()
	l := config.NewLoaderFrom(v)
	b := l.LoadBase("test", "", "")
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return b
}

// running is one lifecycle.Run in the background.
type running struct {
	public, internal string // base URLs
	cancel           context.CancelFunc
	done             chan error
}

// start runs a service built by build and waits until /readyz answers 200.
func start(t *testing.T, cfg config.Base, opts lifecycle.Options, build func(context.Context, *lifecycle.Runtime) error) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{public: "http://" + cfg.HTTPAddr, internal: "http://" + cfg.InternalAddr, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- lifecycle.Run(ctx, slog.New(slog.DiscardHandler), cfg, opts, build) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			t.Error("Run did not return within 60s of the end of the test")
		}
	})
	eventually(t, 30*time.Second, "/readyz answers 200", func() bool {
		status, _ := get(r.internal + "/readyz")
		select {
		case err := <-r.done:
			t.Fatalf("Run returned during start-up: %v", err)
		default:
		}
		return status == http.StatusOK
	})
	return r
}

// wait returns Run's result.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s")
		return nil
	}
}

func get(url string) (int, map[string]any) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

func eventually(t *testing.T, timeout time.Duration, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !check(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checks(body map[string]any) map[string]any {
	c, _ := body["checks"].(map[string]any)
	return c
}

// TestReadiness: /readyz lists MongoDB, Kafka, the service's own checks and the runtime's state; a
// failing check of the service fails it.
func TestReadiness(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	var broken atomic.Bool
	r := start(t, base(t, vars(t, env, nil)), lifecycle.Options{}, func(_ context.Context, rt *lifecycle.Runtime) error {
		rt.AddCheck(httpx.Check{Name: "keyring", Fn: func(context.Context) error {
			if broken.Load() {
				return errors.New("no key")
			}
			return nil
		}})
		return nil
	})
	status, body := get(r.internal + "/readyz")
	want := map[string]any{"mongodb": "ok", "kafka": "ok", "keyring": "ok", "workers": "ok", "running": "ok"}
	if status != http.StatusOK || !equal(checks(body), want) {
		t.Fatalf("/readyz = %d %v, want 200 with %v", status, body, want)
	}
	broken.Store(true)
	if status, body := get(r.internal + "/readyz"); status != http.StatusServiceUnavailable || checks(body)["keyring"] != "unavailable" {
		t.Errorf("/readyz with a failing service check = %d %v, want 503 naming keyring", status, body)
	}
	if status, _ := get(r.internal + "/healthz"); status != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", status)
	}
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Errorf("Run = %v after cancellation, want nil", err)
	}
}

// TestWorkerFailureStopsTheService: a worker that returns while the service is not stopping fails
// /readyz at once, the service shuts down gracefully (the request in flight is answered) and Run
// returns the worker's error.
func TestWorkerFailureStopsTheService(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		result  error
		wantErr string
	}{
		{name: "error", result: errors.New("lost the brokers for good"), wantErr: "background worker doomed: lost the brokers for good"},
		{name: "nil before shutdown", result: nil, wantErr: "background worker doomed: stopped without an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := testenv.New(t)
			die := make(chan struct{})
			entered, release := make(chan struct{}), make(chan struct{})
			releaseOnce := sync.OnceFunc(func() { close(release) })
			t.Cleanup(releaseOnce) // a failed test must not leave the request (and Run) hanging
			r := start(t, base(t, vars(t, env, nil)), lifecycle.Options{}, func(_ context.Context, rt *lifecycle.Runtime) error {
				rt.Public.Get("/slow", func(c *fiber.Ctx) error {
					close(entered)
					<-release
					return c.SendString("done")
				})
				rt.Go("healthy", func(ctx context.Context) error { <-ctx.Done(); return nil })
				rt.Go("doomed", func(ctx context.Context) error {
					select {
					case <-die:
						return tc.result
					case <-ctx.Done():
						return nil
					}
				})
				return nil
			})
			// A request in flight holds the public server's shutdown, so the internal port still
			// answers while the service stops.
			slow := make(chan int, 1)
			go func() { status, _ := getText(r.public + "/slow"); slow <- status }()
			<-entered

			close(die)
			eventually(t, 20*time.Second, "/readyz fails after the worker died", func() bool {
				status, body := get(r.internal + "/readyz")
				return status == http.StatusServiceUnavailable && checks(body)["workers"] == "unavailable"
			})
			releaseOnce()
			if status := <-slow; status != http.StatusOK {
				t.Errorf("request in flight = %d, want 200", status)
			}
			err := r.wait(t)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Run = %v, want an error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "healthy") {
				t.Errorf("Run = %v: the worker stopped by the shutdown is not a failure", err)
			}
		})
	}
}

// TestDrainDelay: after the stop signal /readyz fails at once while requests are still served, for
// SHUTDOWN_DRAIN_DELAY; then the public port stops accepting.
func TestDrainDelay(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	// Long enough for a loaded machine to make the two calls below inside the window; the test
	// waits it out once.
	cfg := base(t, vars(t, env, map[string]string{"SHUTDOWN_DRAIN_DELAY": "10s"}))
	r := start(t, cfg, lifecycle.Options{}, func(_ context.Context, rt *lifecycle.Runtime) error {
		rt.Public.Get("/hello", func(c *fiber.Ctx) error { return c.SendString("hello") })
		return nil
	})
	if status, _ := getText(r.public + "/hello"); status != http.StatusOK {
		t.Fatalf("GET /hello = %d before the stop", status)
	}
	r.cancel()
	eventually(t, 5*time.Second, "/readyz fails once stopping", func() bool {
		status, body := get(r.internal + "/readyz")
		return status == http.StatusServiceUnavailable && checks(body)["running"] == "unavailable"
	})
	if status, body := getText(r.public + "/hello"); status != http.StatusOK || body != "hello" {
		t.Errorf("GET /hello during the drain = %d %q, want 200 hello", status, body)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) before the drain delay was over", err)
	default:
	}
	if err := r.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if conn, err := net.Dial("tcp", cfg.HTTPAddr); err == nil {
		conn.Close()
		t.Errorf("the public port still accepts connections after Run returned")
	}
}

// TestShutdownOrder: HTTP first (the request in flight finishes while the workers still run), then
// the workers (they can still use MongoDB and Kafka), then the producer and MongoDB.
func TestShutdownOrder(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	var (
		rt                      *lifecycle.Runtime
		requestDone             atomic.Bool
		workersRanDuringRequest atomic.Bool
		workerSawRequestDone    atomic.Bool
		workerWriteErr          = make(chan error, 1)
		workerPublishErr        = make(chan error, 1)
	)
	entered, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // a failed test must not leave the request (and Run) hanging
	r := start(t, base(t, vars(t, env, nil)), lifecycle.Options{Topics: []string{events.TopicAccountEvents}, Outbox: true},
		func(_ context.Context, got *lifecycle.Runtime) error {
			rt = got
			rt.Public.Get("/slow", func(c *fiber.Ctx) error {
				close(entered)
				<-release
				select {
				case <-rt.Stopping():
				default:
					workersRanDuringRequest.Store(true)
				}
				requestDone.Store(true)
				return c.SendString("done")
			})
			rt.Go("recorder", func(ctx context.Context) error {
				<-ctx.Done()
				workerSawRequestDone.Store(requestDone.Load())
				c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := rt.DB.Collection("last_words").InsertOne(c, bson.M{"said": "bye"})
				workerWriteErr <- err
				ev, err := events.New(events.TypeAccountUpdated, "acc-1", map[string]string{"k": "v"})
				if err == nil {
					err = rt.Producer.Publish(c, events.TopicAccountEvents, ev)
				}
				workerPublishErr <- err
				return nil
			})
			return nil
		})
	slow := make(chan int, 1)
	go func() { status, _ := getText(r.public + "/slow"); slow <- status }()
	<-entered
	r.cancel()
	eventually(t, 20*time.Second, "/readyz fails once stopping", func() bool {
		status, _ := get(r.internal + "/readyz")
		return status == http.StatusServiceUnavailable
	})
	releaseOnce()
	if status := <-slow; status != http.StatusOK {
		t.Errorf("request in flight = %d, want 200", status)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if !workersRanDuringRequest.Load() {
		t.Error("the workers were stopped while a request was still in flight")
	}
	if !workerSawRequestDone.Load() {
		t.Error("the workers were stopped before the request in flight had finished")
	}
	if err := <-workerWriteErr; err != nil {
		t.Errorf("a stopping worker could not write to MongoDB: %v", err)
	}
	if err := <-workerPublishErr; err != nil {
		t.Errorf("a stopping worker could not publish to Kafka: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := mongox.Ping(ctx, rt.Mongo); err == nil {
		t.Error("MongoDB is still connected after Run returned")
	}
	ev, _ := events.New(events.TypeAccountUpdated, "acc-1", map[string]string{"k": "v"})
	if err := rt.Producer.Publish(ctx, events.TopicAccountEvents, ev); err == nil {
		t.Error("the Kafka producer still publishes after Run returned")
	}
}

// TestStartFailures: a start-up failure is returned, names its part, and releases what was opened.
func TestStartFailures(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	t.Run("build", func(t *testing.T) {
		cfg := base(t, vars(t, env, nil))
		err := lifecycle.Run(context.Background(), slog.New(slog.DiscardHandler), cfg, lifecycle.Options{},
			func(context.Context, *lifecycle.Runtime) error {
				return errors.New("JWT_SIGNING_KEY_FILE: no such file")
			})
		if err == nil || !strings.Contains(err.Error(), "JWT_SIGNING_KEY_FILE") {
			t.Errorf("Run = %v, want the build error", err)
		}
	})
	t.Run("port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := base(t, vars(t, env, map[string]string{"HTTP_ADDR": ln.Addr().String(), "SHUTDOWN_DRAIN_DELAY": "1h"}))
		err = lifecycle.Run(context.Background(), slog.New(slog.DiscardHandler), cfg, lifecycle.Options{},
			func(context.Context, *lifecycle.Runtime) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "listen public") {
			t.Errorf("Run = %v, want the bind error (and no drain)", err)
		}
	})
}

func getText(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func equal(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
