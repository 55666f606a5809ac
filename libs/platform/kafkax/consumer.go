package kafkax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/codes"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Backoff of RunConsumer between calls of a failing handler, when ConsumerConfig leaves it zero.
const (
	DefaultRetryBase = 200 * time.Millisecond
	DefaultRetryMax  = 5 * time.Second
)

const commitTimeout = 10 * time.Second

// ConsumerConfig configures RunConsumer.
type ConsumerConfig struct {
	// Cluster is the Kafka cluster: bootstrap addresses, TLS and SASL.
	Cluster Cluster
	// GroupID is the consumer group; every instance of a service uses the same one.
	GroupID string
	// Topic is the topic to read, with the deployment prefix already in front (see Topic).
	Topic string
	// Logger receives the consumer's logs; nil means slog.Default().
	Logger *slog.Logger
	// MaxAttempts, when positive, is how often a failing handler is called for one event before the
	// event is logged and skipped. Zero (the default) never skips: a failing handler is called again
	// until it succeeds or ctx is cancelled (then the event stays uncommitted and comes again after
	// the restart). Handlers return errors only for failures that pass — MongoDB or Kafka out of
	// reach — and skip (or dead-letter) what can never be processed themselves, so nothing accepted
	// is lost however long an outage lasts.
	MaxAttempts int
	// RetryBase is the wait after the first failure, doubled per further failure up to RetryMax;
	// zero means DefaultRetryBase and DefaultRetryMax.
	RetryBase, RetryMax time.Duration
}

// Handler does the work for one event. An error means the event was not handled: RunConsumer retries
// it, RunBroadcast logs it.
type Handler func(ctx context.Context, ev events.Envelope) error

// RunConsumer reads the topic as a member of the consumer group and calls handle for each event,
// committing its offset after handle returns (at-least-once: handlers de-duplicate by event id). A
// failing handler is retried with capped backoff until it succeeds (or, with MaxAttempts set, up to
// MaxAttempts, then the event is logged and skipped); a message that is not an envelope can never be
// processed and is logged and skipped. Each call gets the trace context from the
// message headers and a consumer span.
//
// When ctx is cancelled RunConsumer lets the handler call in progress finish (its context is not
// cancelled), commits it, leaves the group and returns nil; an event whose retries were cut short is
// not committed and is delivered again later. Losing the brokers is not an error: RunConsumer joins
// the group again, with capped backoff, until they are back. It returns an error only for an
// incomplete configuration.
func RunConsumer(ctx context.Context, cfg ConsumerConfig, handle Handler) error {
	if cfg.GroupID == "" || cfg.Topic == "" || len(cfg.Cluster.Brokers) == 0 {
		return errors.New("kafka consumer: Cluster.Brokers, GroupID and Topic are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("topic", cfg.Topic, "group", cfg.GroupID)
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryBase)

	// A fetch fails when the brokers are out of reach (kafka-go gives up after its own retries): the
	// reader is closed and a new one joins the group after a capped backoff, for as long as the
	// outage lasts. Returning would stop the service with the consumer.
	for failures := 0; ; {
		fetched, err := consume(ctx, log, cfg, handle)
		if err == nil {
			return nil // ctx cancelled
		}
		if fetched {
			failures = 0
		}
		failures++
		wait := backoff(failures, time.Second, 30*time.Second)
		log.Warn("kafka consumer lost the brokers; joining the group again", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// consume runs one group member until ctx is cancelled (nil) or a fetch fails (the error). fetched
// reports whether it got at least one message before failing.
func consume(ctx context.Context, log *slog.Logger, cfg ConsumerConfig, handle Handler) (fetched bool, err error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Cluster.Brokers,
		Dialer:            cfg.Cluster.dialer(),
		GroupID:           cfg.GroupID,
		Topic:             cfg.Topic,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           fetchMaxWait,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    250 * time.Millisecond,
		CommitInterval:    0, // synchronous commits
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: groupHeartbeatInterval,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		Logger:            kafkaLogger(log, "kafka reader: "),
		ErrorLogger:       readerErrorLogger(ctx, log),
	})
	defer func() {
		if err := r.Close(); err != nil {
			log.Warn("close kafka reader", "err", err)
		}
	}()
	lagged := startConsumerMetrics(cfg.GroupID, cfg.Topic)
	defer lagged.forget()

	for {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fetched, nil
			}
			return fetched, fmt.Errorf("kafka consumer %s on %s: fetch: %w", cfg.GroupID, cfg.Topic, err)
		}
		fetched = true
		lagged.observeFetch(msg)
		outcome, done := process(ctx, log, cfg, msg, handle)
		if !done {
			return fetched, nil // cancelled while retrying: leave the offset uncommitted
		}
		lagged.observeDone(msg, outcome)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		err = r.CommitMessages(cctx, msg)
		cancel()
		if err != nil {
			// After a rebalance the partition's new owner gets the event again; nothing is lost.
			log.Warn("commit failed; the event may be delivered again", "partition", msg.Partition, "offset", msg.Offset, "err", err)
		}
		if ctx.Err() != nil {
			return fetched, nil
		}
	}
}

// process handles one message and reports whether it is done with (and may be committed), and how:
// handled, given up on (MaxAttempts set: skipped), or undecodable. It reports false only when ctx was
// cancelled between retries.
func process(ctx context.Context, log *slog.Logger, cfg ConsumerConfig, msg kafka.Message, handle Handler) (outcome string, done bool) {
	hctx, span, ev, err := decodeMessage(context.WithoutCancel(ctx), "process", msg)
	defer span.End()
	log = log.With("partition", msg.Partition, "offset", msg.Offset)
	if err != nil {
		log.ErrorContext(hctx, "skipping a message that is not an event envelope", "err", err)
		return outcomeUndecodable, true
	}
	log = log.With("event_id", ev.EventID, "event_type", ev.Type)

	for attempt := 1; ; attempt++ {
		err := callHandler(hctx, handle, ev)
		if err == nil {
			return outcomeHandled, true
		}
		consumerFailures.WithLabelValues(cfg.GroupID, cfg.Topic).Inc()
		span.RecordError(err)
		if cfg.MaxAttempts > 0 && attempt >= cfg.MaxAttempts {
			span.SetStatus(codes.Error, "handler failed; event skipped")
			log.ErrorContext(hctx, "handler failed; skipping the event", "attempts", attempt, "err", err)
			return outcomeSkipped, true
		}
		log.WarnContext(hctx, "handler failed; retrying", "attempt", attempt, "err", err)
		if !sleep(ctx, backoff(attempt, cfg.RetryBase, cfg.RetryMax)) {
			span.SetStatus(codes.Error, "shut down before the event was handled")
			return "", false
		}
	}
}

// callHandler calls handle, turning a panic into an error so one bad event cannot stop the service.
func callHandler(ctx context.Context, handle Handler, ev events.Envelope) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return handle(ctx, ev)
}
