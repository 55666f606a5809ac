package authn_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
)

// revocationsMeasured returns how many session.revoked events latchkey_revocation_lag_seconds counted.
func revocationsMeasured(t *testing.T) float64 {
	t.Helper()
	got, err := metricstest.Gather(telemetry.NewMetrics("test"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := got.Value("latchkey_revocation_lag_seconds", map[string]string{"event_type": events.TypeSessionRevoked})
	return v
}

// A revocation applied by the follower is measured; one replayed at start-up (older than the
// follower) is applied but not measured, since its lag would be the replica's age. Not parallel: the
// histogram is the process's, and TestFollow applies revocations too.
func TestRevocationLagMetric(t *testing.T) {
	env := testenv.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, 1, events.TopicSessionEvents, events.TopicAccountEvents); err != nil {
		t.Fatal(err)
	}
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	defer producer.Close()
	publish := func(sessionID string) {
		t.Helper()
		ev, err := events.New(events.TypeSessionRevoked, "acc-1", events.SessionRevoked{SessionID: sessionID, Reason: "logout", DenyUntil: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.Publish(ctx, events.TopicSessionEvents, ev); err != nil {
			t.Fatal(err)
		}
	}
	waitDenied := func(d *authn.DenyList, id string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !d.Denied(id) {
			if time.Now().After(deadline) {
				t.Fatalf("session %s not denied within 20s", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	publish("s-before")
	before := revocationsMeasured(t)
	d := authn.NewDenyList()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Follow(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, authn.DefaultLookback, quietLogger())
	}()
	defer func() { cancel(); <-done }()

	waitDenied(d, "s-before")
	if got := revocationsMeasured(t); got != before {
		t.Errorf("revocations measured after the start-up replay = %v, want %v (replayed events are not measured)", got, before)
	}
	publish("s-after")
	waitDenied(d, "s-after")
	if got := revocationsMeasured(t); got != before+1 {
		t.Errorf("revocations measured = %v, want %v", got, before+1)
	}
}
