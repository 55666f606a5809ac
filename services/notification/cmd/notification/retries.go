package main

import (
	"context"
	"log/slog"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/notification/internal/retry"
	"github.com/latchkey/latchkey/services/notification/internal/subscriber"
)

// retryTopics are the delayed retry topics the service writes and reads.
var retryTopics = []string{events.TopicOTPDispatchRetry, events.TopicAccountEventsRetry}

// retryConsumer is one consumer of a delayed retry topic.
type retryConsumer struct {
	group, topic string
	handle       kafkax.Handler
}

// retryConsumers are the consumers of the retry topics, each in its own group: they wait for a retry
// to be due (stopping ends the wait, leaving it uncommitted) and hand the original event to the
// subscriber of its source topic, so a delivery's later attempts never hold up the source partitions.
func retryConsumers(service subscriber.Deliverer, log *slog.Logger, stopping <-chan struct{}) []retryConsumer {
	sources := map[string]func(context.Context, events.Envelope) error{
		events.TopicOTPDispatch:   subscriber.OTPDispatch(service, log),
		events.TopicAccountEvents: subscriber.SecurityAlerts(service, log),
	}
	handle := retry.Handler(sources, stopping, log, nil)
	return []retryConsumer{
		{group: "notification-retry", topic: events.TopicOTPDispatchRetry, handle: handle},
		{group: "notification-alerts-retry", topic: events.TopicAccountEventsRetry, handle: handle},
	}
}
