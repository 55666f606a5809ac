package kafkax_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// outboxWorld is a world with a database and a broadcast reader that records what reaches the topic.
type outboxWorld struct {
	*world
	db  *mongo.Database
	got *received
}

func newOutboxWorld(t *testing.T) *outboxWorld {
	t.Helper()
	w := newWorld(t, 3, events.TopicSessionEvents)
	ow := &outboxWorld{world: w, db: w.env.Database("svc"), got: w.broadcast(t, time.Time{})}
	return ow
}

func (w *outboxWorld) outbox(t *testing.T, p *kafkax.Producer) *kafkax.Outbox {
	t.Helper()
	o := kafkax.NewOutbox(w.db, p, quietLogger())
	if err := o.EnsureIndexes(context.Background()); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return o
}

// waitAllSent waits until no outbox document is unsent.
func (w *outboxWorld) waitAllSent(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := w.db.Collection(kafkax.OutboxCollection).CountDocuments(context.Background(), bson.M{"sentAt": nil})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbox events still unsent after %s", n, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOutboxPublishesPromptlyWithTraceContext(t *testing.T) {
	// Not parallel: it measures latency, which other tests' load would distort.
	w := newOutboxWorld(t)
	o := w.outbox(t, w.producer)
	runInBackground(t, "Outbox.Run", o.Run)
	time.Sleep(200 * time.Millisecond) // the broadcast reader takes its start offsets

	ctx, traceID := tracedContext()
	ev := newEvent(t, "a")
	start := time.Now()
	if err := o.Add(ctx, events.TopicSessionEvents, ev); err != nil {
		t.Fatalf("Add: %v", err)
	}
	w.got.waitFor(t, 1, 5*time.Second)
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Errorf("event reached the topic %s after Add, want well under the 500ms poll", took)
	}
	if got := w.got.traceOf(ev.EventID); got != traceID {
		t.Errorf("published in trace %s, want the trace of Add's context %s", got, traceID)
	}
	w.waitAllSent(t, 5*time.Second)

	// A sent event leaves the outbox (its body may have carried a one-time code); its sent marker stays.
	w.waitOutboxEmpty(t, 10*time.Second)
	if err := w.db.Collection(kafkax.OutboxClaimsCollection).FindOne(context.Background(), bson.M{"_id": ev.EventID + "/sent"}).Err(); err != nil {
		t.Errorf("sent marker of the published event: %v", err)
	}

	// Adding the same event again changes nothing.
	if err := o.Add(ctx, events.TopicSessionEvents, ev); err != nil {
		t.Fatalf("second Add: %v", err)
	}
	// The relay finds its sent marker and deletes it unpublished.
	w.waitOutboxEmpty(t, 10*time.Second)
	time.Sleep(700 * time.Millisecond) // room for a duplicate to reach the reader
	if n := w.got.count(ev.EventID); n != 1 {
		t.Errorf("event published %d times, want 1", n)
	}
}

// TestOutboxKeepsEventsWhileKafkaIsDown adds events through a relay whose producer points at a closed
// port; a relay with a working producer later publishes each exactly once.
func TestOutboxKeepsEventsWhileKafkaIsDown(t *testing.T) {
	t.Parallel()
	w := newOutboxWorld(t)

	down := kafkax.NewProducer(kafkax.Cluster{Brokers: []string{closedAddr(t)}}, w.env.TopicPrefix)
	defer func() { _ = down.Close() }()
	failing := w.outbox(t, down)
	stopFailing := runInBackground(t, "failing Outbox.Run", failing.Run)
	var sent []events.Envelope
	for i := range 5 {
		ev := newEvent(t, fmt.Sprintf("acc-%d", i))
		if err := failing.Add(context.Background(), events.TopicSessionEvents, ev); err != nil {
			t.Fatalf("Add while Kafka is down: %v", err)
		}
		sent = append(sent, ev)
	}
	time.Sleep(1500 * time.Millisecond) // the failing relay tries and fails
	stopFailing()
	if n := w.got.len(); n != 0 {
		t.Fatalf("%d events reached Kafka through a producer at a closed port", n)
	}
	n, err := w.db.Collection(kafkax.OutboxCollection).CountDocuments(context.Background(), bson.M{"sentAt": nil, "attempts": bson.M{"$gte": 1}})
	if err != nil || n == 0 {
		t.Fatalf("unsent events with failed attempts = %d (%v), want some", n, err)
	}

	working := w.outbox(t, w.producer)
	runInBackground(t, "Outbox.Run", working.Run)
	w.got.waitFor(t, len(sent), 20*time.Second)
	w.waitAllSent(t, 5*time.Second)
	time.Sleep(700 * time.Millisecond)
	for _, ev := range sent {
		if n := w.got.count(ev.EventID); n != 1 {
			t.Errorf("event %s published %d times, want 1", ev.AccountID, n)
		}
	}
}

func TestConcurrentRelaysPublishEachEventOnce(t *testing.T) {
	t.Parallel()
	w := newOutboxWorld(t)
	const relays, perRelay = 3, 10
	outboxes := make([]*kafkax.Outbox, relays)
	for i := range outboxes {
		p := kafkax.NewProducer(kafkax.Cluster{Brokers: w.env.Brokers}, w.env.TopicPrefix)
		t.Cleanup(func() { _ = p.Close() })
		outboxes[i] = w.outbox(t, p)
		runInBackground(t, fmt.Sprintf("relay %d", i), outboxes[i].Run)
	}

	var (
		mu   sync.Mutex
		sent []events.Envelope
		wg   sync.WaitGroup
	)
	for i, o := range outboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perRelay {
				ev, err := events.New(events.TypeSessionCreated, fmt.Sprintf("acc-%d-%d", i, j), events.SessionCreated{SessionID: "s"})
				if err != nil {
					t.Error(err)
					return
				}
				if err := o.Add(context.Background(), events.TopicSessionEvents, ev); err != nil {
					t.Errorf("Add: %v", err)
					return
				}
				mu.Lock()
				sent = append(sent, ev)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	w.got.waitFor(t, len(sent), 30*time.Second)
	w.waitAllSent(t, 10*time.Second)
	time.Sleep(time.Second) // room for duplicates
	if got := w.got.len(); got != len(sent) {
		t.Errorf("%d messages published for %d events", got, len(sent))
	}
	for _, ev := range sent {
		if n := w.got.count(ev.EventID); n != 1 {
			t.Errorf("event %s published %d times, want 1", ev.AccountID, n)
		}
	}
}
