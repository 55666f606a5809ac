package kafkax_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// TestConsumerOutlivesABrokerOutage stops the broker under a running consumer and starts it again
// on the same port with the same data: RunConsumer keeps going (a consumer that returned would take
// its service down with it) and handles what is published after the outage.
func TestConsumerOutlivesABrokerOutage(t *testing.T) {
	t.Parallel()
	opts := kafkaserver.Options{Dir: t.TempDir(), Partitions: 1, Topics: []string{"outage.events"}}
	srv, err := kafkaserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Port = srv.Port()
	t.Cleanup(func() { srv.Close() })
	brokers := srv.Brokers()

	got := newReceived()
	returned := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		returned <- kafkax.RunConsumer(ctx, kafkax.ConsumerConfig{Cluster: kafkax.Cluster{Brokers: brokers}, GroupID: "outage", Topic: "outage.events", Logger: quietLogger()}, got.handle)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-returned:
			if err != nil {
				t.Errorf("RunConsumer returned %v after cancel, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("RunConsumer did not return within 15s of cancel")
		}
	})

	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: brokers}, "outage.")
	t.Cleanup(func() { _ = producer.Close() })
	publish := func(ev events.Envelope) {
		t.Helper()
		pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer pcancel()
		for {
			err := producer.Publish(pctx, "events", ev)
			if err == nil {
				return
			}
			if pctx.Err() != nil {
				t.Fatalf("Publish: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	publish(newEvent(t, "before"))
	got.waitFor(t, 1, 15*time.Second)

	srv.Close()
	select {
	case err := <-returned:
		t.Fatalf("RunConsumer returned during the outage: %v", err)
	case <-time.After(4 * time.Second):
	}
	if srv, err = kafkaserver.Start(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	publish(newEvent(t, "after"))
	select {
	case err := <-returned:
		t.Fatalf("RunConsumer returned after the outage: %v", err)
	default:
	}
	got.waitFor(t, 2, 30*time.Second)
}
