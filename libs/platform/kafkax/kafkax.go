// Package kafkax is the services' Kafka plumbing, on segmentio/kafka-go: a synchronous producer of
// event envelopes, topic creation, a consumer-group runner that commits after the work is done, a
// broadcast reader that every instance runs over all partitions, and the transactional outbox that
// gets events accepted while Kafka is down published once it is back.
//
// Every message carries the envelope as JSON, the account id as key, and the headers event-id,
// event-type and the W3C trace context (traceparent, tracestate) of the code that produced it.
package kafkax

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Message headers set by Producer.
const (
	HeaderEventID   = "event-id"
	HeaderEventType = "event-type"
)

const tracerName = "github.com/latchkey/latchkey/libs/platform/kafkax"

// Topic returns the deployment's name of a topic: prefix followed by name.
func Topic(prefix, name string) string { return prefix + name }

// headerCarrier adapts kafka-go message headers to OpenTelemetry's TextMapCarrier.
type headerCarrier struct{ headers *[]kafka.Header }

func (c headerCarrier) Get(key string) string {
	for _, h := range *c.headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value)
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) {
	for i, h := range *c.headers {
		if strings.EqualFold(h.Key, key) {
			(*c.headers)[i].Value = []byte(value)
			return
		}
	}
	*c.headers = append(*c.headers, kafka.Header{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(*c.headers))
	for i, h := range *c.headers {
		keys[i] = h.Key
	}
	return keys
}

// decodeMessage reads the envelope of a message and returns ctx with the trace context of its headers
// and a started consumer span, which the caller ends.
func decodeMessage(ctx context.Context, operation string, msg kafka.Message) (context.Context, trace.Span, events.Envelope, error) {
	headers := msg.Headers
	ctx = otel.GetTextMapPropagator().Extract(ctx, headerCarrier{&headers})
	ctx, span := otel.Tracer(tracerName).Start(ctx, operation+" "+msg.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", operation),
			attribute.String("messaging.destination.name", msg.Topic),
			attribute.Int("messaging.destination.partition.id", msg.Partition),
			attribute.Int64("messaging.kafka.offset", msg.Offset),
		))
	var ev events.Envelope
	if err := json.Unmarshal(msg.Value, &ev); err != nil {
		err = fmt.Errorf("decode envelope at %s/%d@%d: %w", msg.Topic, msg.Partition, msg.Offset, err)
		span.RecordError(err)
		span.SetStatus(codes.Error, "undecodable message")
		return ctx, span, ev, err
	}
	span.SetAttributes(attribute.String("messaging.message.id", ev.EventID), attribute.String("latchkey.event.type", ev.Type))
	return ctx, span, ev, nil
}

// backoff returns the wait before retry number attempt (1-based): base doubled per attempt, at most max.
func backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// sleep waits for d or until ctx is done, and reports whether the whole d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// readerErrorLogger routes kafka-go's reader errors to log: at warn level while ctx is live, at debug
// level once it is done (shutdown makes the reader's background requests fail).
func readerErrorLogger(ctx context.Context, log *slog.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		level := slog.LevelWarn
		if ctx.Err() != nil {
			level = slog.LevelDebug
		}
		log.Log(ctx, level, "kafka reader: "+fmt.Sprintf(msg, args...))
	})
}

// fetchMaxWait is the readers' MaxWait. With MinBytes 1 the broker answers a fetch as soon as an
// event arrives, so this bounds only how long an idle fetch waits: it sets how often an idle reader
// wakes up (each reader of each partition, in every service). kafka-go asks the broker to wait MaxWait
// minus a round-trip allowance (a quarter of MaxWait below one second, one second above) and fails the
// read at MaxWait: at 250ms that leaves 62ms, which a busy broker misses ("i/o timeout" and a
// reconnect). At 5s the broker holds an idle fetch 4s (one round trip per partition every 4s instead of
// every 500ms at 1.5s). The price is at shutdown: closing a reader waits for its fetch in flight, up to
// MaxWait.
const fetchMaxWait = 5 * time.Second

// groupHeartbeatInterval is how often a consumer-group member tells the coordinator it is alive: a
// third of the session timeout, as Kafka recommends.
const groupHeartbeatInterval = 3 * time.Second
