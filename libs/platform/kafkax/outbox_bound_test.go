package kafkax_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// waitOutboxEmpty waits until the outbox holds no document at all.
func (w *outboxWorld) waitOutboxEmpty(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := w.db.Collection(kafkax.OutboxCollection).CountDocuments(context.Background(), bson.M{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d documents still in the outbox after %s", n, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The outbox holds only what is not published yet: published events are deleted, each leaving its
// sent marker (for de-duplication) in outbox_claims.
func TestOutboxEmptiesAfterPublishing(t *testing.T) {
	t.Parallel()
	w := newOutboxWorld(t)
	o := w.outbox(t, w.producer)
	runInBackground(t, "Outbox.Run", o.Run)

	var sent []events.Envelope
	for i := range 20 {
		ev := newEvent(t, fmt.Sprintf("acc-%d", i))
		if err := o.Add(context.Background(), events.TopicSessionEvents, ev); err != nil {
			t.Fatalf("Add: %v", err)
		}
		sent = append(sent, ev)
	}
	w.got.waitFor(t, len(sent), 20*time.Second)
	w.waitOutboxEmpty(t, 10*time.Second)
	for _, ev := range sent {
		if err := w.db.Collection(kafkax.OutboxClaimsCollection).FindOne(context.Background(), bson.M{"_id": ev.EventID + "/sent"}).Err(); err != nil {
			t.Errorf("sent marker of %s: %v", ev.AccountID, err)
		}
	}
}

// AddDiscarded writes a document like Add's, which the relay's sweep deletes: the outbox does not
// fill up with them. They are never published.
func TestOutboxDiscardedDocumentsGo(t *testing.T) {
	t.Parallel()
	w := newOutboxWorld(t)
	o := w.outbox(t, w.producer)
	kafkax.SetOutboxTiming(o, time.Second, time.Second, 0)

	discarded := newEvent(t, "nobody")
	if err := o.AddDiscarded(context.Background(), events.TopicSessionEvents, discarded); err != nil {
		t.Fatalf("AddDiscarded: %v", err)
	}
	// The write is made (that is its purpose: the same cost as Add's) ...
	n, err := w.db.Collection(kafkax.OutboxCollection).CountDocuments(context.Background(), bson.M{"_id": discarded.EventID, "discarded": true})
	if err != nil || n != 1 {
		t.Fatalf("discarded documents right after AddDiscarded = %d (%v), want 1", n, err)
	}
	// ... and does not stay: the relay deletes it when it starts, and those added while it runs.
	runInBackground(t, "Outbox.Run", o.Run)
	w.waitOutboxEmpty(t, 30*time.Second)
	later := newEvent(t, "nobody-later")
	if err := o.AddDiscarded(context.Background(), events.TopicSessionEvents, later); err != nil {
		t.Fatalf("AddDiscarded: %v", err)
	}
	w.waitOutboxEmpty(t, 30*time.Second)

	// A real event added afterwards is published; the discarded one never was.
	real := newEvent(t, "somebody")
	if err := o.Add(context.Background(), events.TopicSessionEvents, real); err != nil {
		t.Fatalf("Add: %v", err)
	}
	w.got.waitFor(t, 1, 20*time.Second)
	for _, ev := range []events.Envelope{discarded, later} {
		if n := w.got.count(ev.EventID); n != 0 {
			t.Errorf("discarded event %s published %d times", ev.AccountID, n)
		}
	}
}

// An event written into the outbox by another replica (which this relay is not told about) is
// published by this relay's polls, however long it has been idle: its wait is bounded (15s).
func TestOutboxIdleRelayFindsEventsOfOtherReplicas(t *testing.T) {
	t.Parallel()
	w := newOutboxWorld(t)
	o := w.outbox(t, w.producer)
	runInBackground(t, "Outbox.Run", o.Run)
	time.Sleep(20 * time.Second) // idle long enough for the wait to reach its longest

	// Another replica's Add: the document as Add stores it, without waking this relay.
	other := w.outbox(t, w.producer)
	ev := newEvent(t, "elsewhere")
	if err := other.Add(context.Background(), events.TopicSessionEvents, ev); err != nil {
		t.Fatalf("Add on the other replica: %v", err)
	}
	w.got.waitFor(t, 1, 60*time.Second)
	if n := w.got.count(ev.EventID); n != 1 {
		t.Errorf("event published %d times, want 1", n)
	}
	w.waitOutboxEmpty(t, 10*time.Second)
}

// Claims older than their retention are deleted by the relay's batched sweep (the embedded
// MongoDB-compatible server has no TTL index); recent ones, which de-duplicate, stay.
func TestOutboxSweepsExpiredClaims(t *testing.T) {
	t.Parallel()
	w := newOutboxWorld(t)
	claims := w.db.Collection(kafkax.OutboxClaimsCollection)
	now := time.Now().UTC()
	var docs []any
	for i := range 1200 { // more than one batch
		docs = append(docs, bson.M{"_id": fmt.Sprintf("old-%d/sent", i), "claimedAt": now.Add(-8 * 24 * time.Hour)})
	}
	docs = append(docs, bson.M{"_id": "recent/sent", "claimedAt": now.Add(-6 * 24 * time.Hour)})
	if _, err := claims.InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	o := w.outbox(t, w.producer)
	kafkax.SetOutboxTiming(o, time.Second, 0, time.Second) // sweeps again if one is cut short on a slow machine
	runInBackground(t, "Outbox.Run", o.Run)                // a relay sweeps when it starts

	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := claims.CountDocuments(context.Background(), bson.M{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d claims left, want only the recent one", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := claims.FindOne(context.Background(), bson.M{"_id": "recent/sent"}).Err(); err != nil {
		t.Errorf("the recent claim went: %v", err)
	}
}

// TestOutboxPublishesWhatOverflowsTheAddedBuffer: the relay claims the events Add stored by their id;
// those that did not fit the buffer of ids are found by the relay's search, so none is left behind.
func TestOutboxPublishesWhatOverflowsTheAddedBuffer(t *testing.T) {
	t.Parallel()
	w := newOutboxWorld(t)
	o := w.outbox(t, w.producer)
	kafkax.SetOutboxAddedBuffer(o, 3)

	var sent []events.Envelope
	for i := range 25 { // 3 by id, 22 by the search, before the relay even runs
		ev := newEvent(t, fmt.Sprintf("acc-%d", i))
		if err := o.Add(context.Background(), events.TopicSessionEvents, ev); err != nil {
			t.Fatalf("Add: %v", err)
		}
		sent = append(sent, ev)
	}
	runInBackground(t, "Outbox.Run", o.Run)
	for i := range 10 { // and some while it runs
		ev := newEvent(t, fmt.Sprintf("late-%d", i))
		if err := o.Add(context.Background(), events.TopicSessionEvents, ev); err != nil {
			t.Fatalf("Add: %v", err)
		}
		sent = append(sent, ev)
	}
	w.got.waitFor(t, len(sent), 30*time.Second)
	w.waitOutboxEmpty(t, 10*time.Second)
}
