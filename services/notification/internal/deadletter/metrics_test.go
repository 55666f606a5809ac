package deadletter_test

import (
	"context"
	"errors"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/libs/platform/telemetry/metricstest"
	"github.com/latchkey/latchkey/services/notification/internal/deadletter"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, string, events.Envelope) error {
	return errors.New("kafka down")
}

func deadLettersOf(t *testing.T, source string) float64 {
	t.Helper()
	got, err := metricstest.Gather(telemetry.NewMetrics("notification"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := got.Value("latchkey_notification_dead_letters_total", map[string]string{"source_topic": source})
	return v
}

// A published dead letter is counted by its source topic; one that could not be published is not
// (the consumer retries it).
func TestDeadLettersAreCounted(t *testing.T) {
	d := delivery.Dispatch{EventID: "ev-m", AccountID: "acc-1", Source: events.TopicOTPDispatch, Channel: events.ChannelSMS, Destination: "+15551234567"}
	before := deadLettersOf(t, events.TopicOTPDispatch)
	if err := deadletter.New(failingPublisher{}).DeadLetter(context.Background(), d, "invalid number", 1); err == nil {
		t.Fatal("DeadLetter through a failing publisher succeeded")
	}
	if got := deadLettersOf(t, events.TopicOTPDispatch); got != before {
		t.Errorf("unpublished dead letter counted: %v, want %v", got, before)
	}
	if err := deadletter.New(&recorder{}).DeadLetter(context.Background(), d, "invalid number", 1); err != nil {
		t.Fatal(err)
	}
	if got := deadLettersOf(t, events.TopicOTPDispatch); got != before+1 {
		t.Errorf("dead letters = %v, want %v", got, before+1)
	}
}
