package subscriber_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
	"github.com/latchkey/latchkey/services/profile/internal/subscriber"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func accountCreated(t *testing.T, accountID string, p events.AccountCreated) events.Envelope {
	t.Helper()
	env, err := events.New(events.TypeAccountCreated, accountID, p)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestAccountEventsOverKafka runs the real consumer on the test broker: events published by
// "identity" end up in profiles; duplicates, unknown types and malformed payloads change nothing and
// do not hold up the events behind them.
func TestAccountEventsOverKafka(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	profiles := store.NewProfiles(env.Database("profile"))
	service := profile.NewService(profiles, profile.Options{})
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, 3, events.TopicAccountEvents); err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- kafkax.RunConsumer(cctx, kafkax.ConsumerConfig{
			Cluster: kafkax.Cluster{Brokers: env.Brokers}, GroupID: "profile", Logger: log,
			Topic: kafkax.Topic(env.TopicPrefix, events.TopicAccountEvents),
		}, subscriber.AccountEvents(service, log))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunConsumer: %v", err)
		}
	})

	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	t.Cleanup(func() { _ = producer.Close() })
	publish := func(ev events.Envelope) {
		t.Helper()
		if err := producer.Publish(ctx, events.TopicAccountEvents, ev); err != nil {
			t.Fatal(err)
		}
	}

	jane := accountCreated(t, "acc-jane", events.AccountCreated{Email: "jane@example.com", Username: "jane", FirstName: "Jane", LastName: "Doe"})
	publish(jane)
	publish(jane) // a duplicate
	publish(events.Envelope{EventID: events.NewID(), Type: "account.renamed", AccountID: "acc-jane", OccurredAt: time.Now(), Payload: []byte(`{"x":1}`)})
	publish(events.Envelope{EventID: events.NewID(), Type: events.TypeAccountCreated, AccountID: "acc-jane", OccurredAt: time.Now(), Payload: []byte(`"not an object"`)})
	// Same account, same partition: once this one is applied, everything before it has been handled.
	last := accountCreated(t, "acc-jane", events.AccountCreated{Email: "jane@new.example", Username: "jane"})
	publish(last)

	var got profile.Profile
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := profiles.Find(ctx, "acc-jane")
		if err == nil && len(p.AppliedEvents) == 2 {
			got = p
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("profile after 30s: %+v (err %v), want both events applied", p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.Email != "jane@new.example" || got.FirstName != "Jane" || got.LastName != "Doe" || got.Username != "jane" {
		t.Errorf("profile = %+v", got)
	}
	if got.AppliedEvents[0] != jane.EventID || got.AppliedEvents[1] != last.EventID {
		t.Errorf("applied events = %v, want [%s %s]", got.AppliedEvents, jane.EventID, last.EventID)
	}
}
