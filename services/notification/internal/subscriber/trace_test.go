package subscriber_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// TestDeliveryContinuesTheProducersTrace: the span of a delivery and of its send belong to the trace
// of the request that published the event (W3C trace context in the Kafka headers).
func TestDeliveryContinuesTheProducersTrace(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	otel.SetTextMapPropagator(propagation.TraceContext{})

	w := newWorld(t)
	_, stop := w.consume(t)
	defer stop()
	ctx, request := otel.Tracer("identity-test").Start(context.Background(), "POST /api/v1/auth/register")
	ev := dispatch(t, "acc-trace", events.OTPDispatch{
		Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: "trace@example.com", Code: "515151", ExpiresAt: time.Now().Add(10 * time.Minute),
	})
	if err := w.producer.Publish(ctx, events.TopicOTPDispatch, ev); err != nil {
		t.Fatal(err)
	}
	request.End()
	if got := w.waitFor(t, "trace@example.com", 1); len(got) != 1 {
		t.Fatalf("not delivered (%d messages)", len(got))
	}

	want := request.SpanContext().TraceID()
	found := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (!found["deliver otp"] || !found["send EMAIL"]) {
		for _, s := range recorder.Ended() {
			if s.SpanContext().TraceID() == want {
				found[s.Name()] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, name := range []string{"deliver otp", "send EMAIL"} {
		if !found[name] {
			t.Errorf("no %q span in the producer's trace %s; spans in it: %v", name, want, found)
		}
	}
}
