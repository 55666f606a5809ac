package kafkax_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

func TestMain(m *testing.M) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	testenv.Main(m)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// world is one test's broker, topic prefix and producer.
type world struct {
	env      *testenv.Env
	producer *kafkax.Producer
}

func newWorld(t *testing.T, partitions int, topics ...string) *world {
	t.Helper()
	env := testenv.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, partitions, topics...); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	p := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	t.Cleanup(func() { _ = p.Close() })
	return &world{env: env, producer: p}
}

func (w *world) topic(name string) string { return kafkax.Topic(w.env.TopicPrefix, name) }

func newEvent(t *testing.T, accountID string) events.Envelope {
	t.Helper()
	ev, err := events.New(events.TypeAccountCreated, accountID, events.AccountCreated{Email: accountID + "@example.com"})
	if err != nil {
		t.Fatalf("events.New: %v", err)
	}
	return ev
}

func (w *world) publish(t *testing.T, topic string, evs ...events.Envelope) {
	t.Helper()
	for _, ev := range evs {
		if err := w.producer.Publish(context.Background(), topic, ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
}

// tracedContext returns a context carrying a sampled remote span context with a fixed trace id.
func tracedContext() (context.Context, trace.TraceID) {
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc), tid
}

// received records the events a handler saw, with the trace id of each call's context.
type received struct {
	mu     sync.Mutex
	ids    []string
	counts map[string]int
	traces map[string]trace.TraceID
	notify chan struct{}
}

func newReceived() *received {
	return &received{counts: map[string]int{}, traces: map[string]trace.TraceID{}, notify: make(chan struct{}, 1)}
}

func (r *received) handle(ctx context.Context, ev events.Envelope) error {
	r.mu.Lock()
	r.ids = append(r.ids, ev.EventID)
	r.counts[ev.EventID]++
	r.traces[ev.EventID] = trace.SpanContextFromContext(ctx).TraceID()
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *received) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[id]
}

func (r *received) traceOf(id string) trace.TraceID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.traces[id]
}

// waitFor waits until at least n events arrived.
func (r *received) waitFor(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for r.len() < n {
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("received %d events within %s, want %d", r.len(), within, n)
		}
	}
}

// runInBackground runs fn(ctx) in a goroutine and returns a stop function that cancels ctx and waits
// for fn, failing the test if fn does not return nil within 15s.
func runInBackground(t *testing.T, name string, fn func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s returned %v after cancel, want nil", name, err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("%s did not return within 15s of cancel", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// closedAddr returns an address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
