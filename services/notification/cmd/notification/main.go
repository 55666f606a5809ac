// Command notification delivers one-time codes and notices from otp.dispatch.v1 and security alerts
// from account.events.v1, by SMS and WhatsApp (Twilio) and e-mail (SMTP), or into the dev outbox.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/lifecycle"
	notificationconfig "github.com/latchkey/latchkey/services/notification/internal/config"
	"github.com/latchkey/latchkey/services/notification/internal/deadletter"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/email"
	"github.com/latchkey/latchkey/services/notification/internal/export"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
	"github.com/latchkey/latchkey/services/notification/internal/messaging"
	"github.com/latchkey/latchkey/services/notification/internal/retry"
	"github.com/latchkey/latchkey/services/notification/internal/sendlimit"
	"github.com/latchkey/latchkey/services/notification/internal/store"
	"github.com/latchkey/latchkey/services/notification/internal/subscriber"
)

func main() {
	lifecycle.Main(notificationconfig.Service, func(ctx context.Context, log *slog.Logger) error {
		return run(ctx, log, config.NewLoader())
	})
}

// run loads the configuration and runs the notification service on the shared runtime until ctx ends
// or a part of it fails (see package lifecycle for the start-up and shutdown order).
func run(ctx context.Context, log *slog.Logger, env *config.Loader) error {
	cfg, err := notificationconfig.Load(env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return lifecycle.Run(ctx, log, cfg.Base, lifecycle.Options{
		Config: cfg, Outbox: true, // the outbox carries export parts (account.exports.v1)
		Topics: append([]string{events.TopicOTPDispatch, events.TopicOTPDispatchDLQ, events.TopicAccountEvents, events.TopicAccountEventsDLQ, events.TopicAccountExports}, retryTopics...),
	}, func(ctx context.Context, rt *lifecycle.Runtime) error { return build(ctx, rt, cfg) })
}

// build adds what is the notification service's own to the runtime: its stores, its delivery drivers,
// its domain, its routes and its consumers.
func build(ctx context.Context, rt *lifecycle.Runtime, cfg notificationconfig.Config) error {
	log := rt.Log
	deliveries := store.NewDeliveries(rt.DB)
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}
	limiter := sendlimit.New(rt.DB, cfg.Limits)
	if err := limiter.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}

	// The delivery drivers. DELIVERY_DRIVER is validated by config.Load.
	outbox := devoutbox.New(rt.DB)
	router := delivery.Router{}
	switch cfg.DeliveryDriver {
	case notificationconfig.DriverOutbox:
		if err := outbox.EnsureIndexes(ctx); err != nil {
			return fmt.Errorf("mongodb indexes: %w", err)
		}
		router[delivery.ChannelSMS], router[delivery.ChannelWhatsApp], router[delivery.ChannelEmail] = outbox, outbox, outbox
		log.Warn("delivery driver is the dev outbox: messages are stored, not sent")
	case notificationconfig.DriverLive:
		if cfg.TwilioEnabled() {
			tw, err := messaging.New(cfg.Twilio)
			if err != nil {
				return fmt.Errorf("twilio: %w", err)
			}
			router[delivery.ChannelSMS], router[delivery.ChannelWhatsApp] = tw, tw
		}
		if cfg.SMTPEnabled() {
			mail, err := email.New(cfg.SMTP)
			if err != nil {
				return fmt.Errorf("smtp: %w", err)
			}
			router[delivery.ChannelEmail] = mail
		}
	default:
		return fmt.Errorf("delivery driver %q is not implemented", cfg.DeliveryDriver)
	}

	// Domain and HTTP.
	messagesTotal := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_notification_messages_total", Help: "Messages by channel and outcome (sent, retry, failed, expired, limited, duplicate, invalid).",
	}, []string{"channel", "outcome"})
	rt.Metrics.Registry.MustRegister(messagesTotal)
	svc := delivery.NewService(deliveries, router, log, delivery.Options{
		MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax, RetryAfterMax: cfg.RetryAfterMax,
		Limiter: limiter, DeadLetters: deadletter.New(rt.Producer), Retries: retry.New(rt.Producer), Stopping: rt.Stopping(),
		Observe: func(channel, outcome string) { messagesTotal.WithLabelValues(channel, outcome).Inc() },
	})
	if cfg.DevOutboxEnabled {
		log.Warn("dev outbox route enabled: GET /api/v1/dev/outbox shows one-time codes")
	}
	handler := httpapi.NewHandler(outbox, log)
	if cfg.TwilioEnabled() && cfg.Twilio.StatusCallbackURL != "" {
		handler.WithStatusCallback(httpapi.NewStatusCallback(cfg.TwilioAuthToken.Value(), cfg.Twilio.StatusCallbackURL, deliveries))
	}
	httpapi.Routes(rt.Public, handler, cfg.DevOutboxEnabled)

	// The consumers. On shutdown each finishes the event in hand (a delivery waiting between attempts
	// stops waiting and is left uncommitted) and commits. One consumer group per topic, so a
	// rebalance of one does not pause (and redeliver) the other.
	consume := func(group, topic string, handle kafkax.Handler) {
		rt.Go(topic+" consumer", func(ctx context.Context) error {
			c := rt.Consumer(group, topic)
			// The delivery service retries sends itself and records (and dead-letters) what can never
			// be delivered; an error it returns is a MongoDB or Kafka failure, retried with capped
			// backoff until it passes or the service stops: the event is never skipped.
			c.RetryBase, c.RetryMax = cfg.ConsumerRetry, cfg.ConsumerRetryMax
			return kafkax.RunConsumer(ctx, c, handle)
		})
	}
	// account.deleted erases the account's records (erasure.go); deliveries of erased accounts are dropped.
	tombstones, erase := erasure.NewTombstones(rt.DB), accountEraser(deliveries, limiter, outbox)
	deliverer := erasingDeliverer{next: svc, tombstones: tombstones, erase: erase}
	consume("notification", events.TopicOTPDispatch, subscriber.OTPDispatch(deliverer, log))
	// account.export_requested is answered with the notification part (package export), inside the
	// erasure guard: an erased account's export request is skipped.
	exporter := export.New(deliveries, rt.Outbox, log)
	consume("notification-alerts", events.TopicAccountEvents, erasure.Guard(tombstones, erase, exporter.Handle(subscriber.SecurityAlerts(deliverer, log))))
	// The delayed retries, each topic in its own group (see retries.go).
	for _, rc := range retryConsumers(deliverer, log, rt.Stopping()) {
		consume(rc.group, rc.topic, rc.handle)
	}
	return nil
}
