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

// Producer publishes event envelopes, synchronously and with acknowledgement from all in-sync
// replicas. It is safe for concurrent use.
type Producer struct {
	prefix    string
	cluster   Cluster
	writer    *kafka.Writer
	transport *kafka.Transport
}

// NewProducer returns a producer for the cluster; prefix is the deployment's topic prefix.
// It never creates topics: publishing to a missing topic fails (see EnsureTopics).
func NewProducer(cluster Cluster, prefix string) *Producer {
	// A transport of its own: kafka-go's shared default transport caches metadata per address, and a
	// producer must see topics created after that cache was filled.
	transport := cluster.transport(2 * time.Second)
	return &Producer{
		prefix:    prefix,
		cluster:   cluster,
		transport: transport,
		writer: &kafka.Writer{
			Addr:                   kafka.TCP(cluster.Brokers...),
			Balancer:               &kafka.Hash{}, // same key, same partition: one account's events stay in order
			RequiredAcks:           kafka.RequireAll,
			BatchTimeout:           2 * time.Millisecond, // the 1s default would delay every event by up to 1s
			MaxAttempts:            3,
			WriteBackoffMin:        50 * time.Millisecond,
			WriteBackoffMax:        500 * time.Millisecond,
			AllowAutoTopicCreation: false,
			Transport:              transport,
			// Through slog's default logger, looked up per line: the service's JSON logger.
			Logger:      kafkaLogger(nil, "kafka writer: "),
			ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) { slog.Warn("kafka writer: " + fmt.Sprintf(msg, args...)) }),
		},
	}
}

// Publish writes ev to the topic and returns once the brokers acknowledged it. topic is the topic's
// name without the deployment prefix (an events.Topic* constant); a name that already starts with the
// prefix is used as it is. The message key is ev.AccountID; the headers carry the event id and type
// and the trace context of ctx. Refused credentials or a failed TLS handshake give an error that
// matches ErrAuthentication.
func (p *Producer) Publish(ctx context.Context, topic string, ev events.Envelope) error {
	if !strings.HasPrefix(topic, p.prefix) {
		topic = Topic(p.prefix, topic)
	}
	value, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publish %s event %s to %s: marshal: %w", ev.Type, ev.EventID, topic, err)
	}

	ctx, span := otel.Tracer(tracerName).Start(ctx, "publish "+topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "publish"),
			attribute.String("messaging.destination.name", topic),
			attribute.String("messaging.message.id", ev.EventID),
			attribute.String("latchkey.event.type", ev.Type),
		))
	defer span.End()

	headers := []kafka.Header{
		{Key: HeaderEventID, Value: []byte(ev.EventID)},
		{Key: HeaderEventType, Value: []byte(ev.Type)},
	}
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier{&headers})

	msg := kafka.Message{Topic: topic, Key: []byte(ev.AccountID), Value: value, Headers: headers}
	if err := p.writer.WriteMessages(ctx, msg); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return fmt.Errorf("publish %s event %s to %s: %w", ev.Type, ev.EventID, topic, diagnose(ctx, p.cluster, err))
	}
	return nil
}

// Close flushes nothing (Publish is synchronous) and releases the producer's connections.
func (p *Producer) Close() error {
	err := p.writer.Close()
	p.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close kafka producer: %w", err)
	}
	return nil
}
