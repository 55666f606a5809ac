package delivery_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/store"
)

// scheduled records the retries a Service hands over instead of waiting.
type scheduled struct {
	mu  sync.Mutex
	got []time.Time
}

func (s *scheduled) Retry(_ context.Context, _ delivery.Dispatch, notBefore time.Time, _ int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, notBefore)
	return nil
}

// TestDeliverHandsRetriesOver: with Options.Retries, a transient failure schedules the next attempt
// (not before the backoff) and Deliver returns at once, so the caller's partition moves on; each
// scheduled attempt (Deliver again) carries on from the records, and the last one dead-letters.
func TestDeliverHandsRetriesOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.New(t).Database("notification")
	deliveries := store.NewDeliveries(db)
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	outbox := devoutbox.New(db)
	sender := &flakySender{next: outbox, failures: map[string]int{"EMAIL": 100}, fail: delivery.Transient(errorString("503 from provider"), 0), sends: map[string]int{}}
	dead := &deadLetters{reasons: map[string][]string{}}
	retries := &scheduled{}
	svc := delivery.NewService(deliveries, sender, slog.New(slog.DiscardHandler), delivery.Options{
		MaxAttempts: 3, RetryBase: time.Hour, RetryMax: time.Hour, RetryAfterMax: 2 * time.Hour,
		DeadLetters: dead, Retries: retries,
	})
	d := delivery.Dispatch{EventID: "ev-1", Source: events.TopicAccountEvents, Alert: true, Purpose: events.AlertPasswordChanged,
		Channel: events.ChannelEmail, Destination: "jane@example.com"}
	for attempt := 1; attempt <= 3; attempt++ {
		before := time.Now()
		if err := svc.Deliver(ctx, d); err != nil { // an hour's backoff: returning proves it did not wait
			t.Fatalf("attempt %d: Deliver = %v", attempt, err)
		}
		if sender.count("EMAIL") != attempt {
			t.Fatalf("attempt %d: %d sends", attempt, sender.count("EMAIL"))
		}
		if attempt < 3 {
			if len(retries.got) != attempt || retries.got[attempt-1].Before(before.Add(30*time.Minute)) {
				t.Fatalf("attempt %d: retries %v, want one more not before the backoff (>= 30m)", attempt, retries.got)
			}
			var rec struct{ Status string }
			if err := db.Collection(store.Collection).FindOne(ctx, map[string]string{"_id": "ev-1"}).Decode(&rec); err != nil || rec.Status != "queued" {
				t.Fatalf("attempt %d: record %+v (%v), want queued", attempt, rec, err)
			}
			if len(dead.of("ev-1")) != 0 {
				t.Fatalf("dead-lettered after attempt %d", attempt)
			}
		}
	}
	if len(retries.got) != 2 || len(dead.of("ev-1")) != 1 {
		t.Errorf("retries %v, dead letters %v; want 2 retries, then one dead letter", retries.got, dead.of("ev-1"))
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
