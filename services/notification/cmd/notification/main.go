// Command notification delivers one-time codes and notices from otp.dispatch.v1 and security alerts
// from account.events.v1, by SMS and WhatsApp (Twilio) and e-mail (SMTP), or into the dev outbox.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	notificationconfig "github.com/latchkey/latchkey/services/notification/internal/config"
	"github.com/latchkey/latchkey/services/notification/internal/deadletter"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/email"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
	"github.com/latchkey/latchkey/services/notification/internal/messaging"
	"github.com/latchkey/latchkey/services/notification/internal/retry"
	"github.com/latchkey/latchkey/services/notification/internal/sendlimit"
	"github.com/latchkey/latchkey/services/notification/internal/store"
	"github.com/latchkey/latchkey/services/notification/internal/subscriber"
)

// topicPartitions is how many partitions EnsureTopics gives a topic it creates.
const topicPartitions = 3

func main() {
	log := telemetry.NewLogger(os.Stdout, notificationconfig.Service, config.NewLoader().Level("LOG_LEVEL", slog.LevelInfo))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log, config.NewLoader())
	stop()
	if err != nil {
		log.Error("notification service failed", "err", err)
		os.Exit(1)
	}
}

// run starts the service and blocks until ctx is done (SIGINT/SIGTERM) or a part of it fails, then
// shuts down: HTTP first, then the consumer (it commits what it has delivered), then MongoDB.
func run(ctx context.Context, log *slog.Logger, env *config.Loader) error {
	cfg, err := notificationconfig.Load(env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("starting", "config", cfg)

	stopTracing, err := telemetry.SetupTracing(ctx, cfg.Service, cfg.OTLPEndpoint)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	metrics := telemetry.NewMetrics(cfg.Service)

	// MongoDB.
	client, db, err := mongox.Connect(ctx, cfg.MongoURI.Value(), cfg.MongoDatabase)
	if err != nil {
		return fmt.Errorf("mongodb: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.Disconnect(dctx); err != nil {
			log.Warn("disconnect mongodb", "err", err)
		}
	}()
	deliveries := store.NewDeliveries(db)
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}
	limiter := sendlimit.New(db, cfg.Limits)
	if err := limiter.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}

	// The delivery drivers. DELIVERY_DRIVER is validated by config.Load.
	outbox := devoutbox.New(db)
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

	// Kafka.
	if cfg.CreateTopics {
		if err := kafkax.EnsureTopics(ctx, cfg.KafkaBrokers, cfg.TopicPrefix, topicPartitions,
			append([]string{events.TopicOTPDispatch, events.TopicOTPDispatchDLQ, events.TopicAccountEvents, events.TopicAccountEventsDLQ}, retryTopics...)...); err != nil {
			return fmt.Errorf("kafka topics: %w", err)
		}
	}
	producer := kafkax.NewProducer(cfg.KafkaBrokers, cfg.TopicPrefix)
	defer func() {
		if err := producer.Close(); err != nil {
			log.Warn("close kafka producer", "err", err)
		}
	}()

	// The consumers get their own context, cancelled only after HTTP has shut down; on cancel each
	// finishes the event in hand (a delivery waiting between attempts stops waiting and is left
	// uncommitted) and commits.
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()

	// Domain and HTTP.
	messagesTotal := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_notification_messages_total", Help: "Messages by channel and outcome (sent, retry, failed, expired, limited, duplicate, invalid).",
		ConstLabels: prometheus.Labels{"service": cfg.Service},
	}, []string{"channel", "outcome"})
	metrics.Registry.MustRegister(messagesTotal)
	service := delivery.NewService(deliveries, router, log, delivery.Options{
		MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax, RetryAfterMax: cfg.RetryAfterMax,
		Limiter: limiter, DeadLetters: deadletter.New(producer), Retries: retry.New(producer), Stopping: workCtx.Done(),
		Observe: func(channel, outcome string) { messagesTotal.WithLabelValues(channel, outcome).Inc() },
	})
	opts := httpx.Options{Service: cfg.Service, Logger: log, Metrics: metrics, BodyLimit: cfg.BodyLimit, TrustedProxies: cfg.TrustedProxies}
	public, err := httpx.NewApp(opts)
	if err != nil {
		return fmt.Errorf("public app: %w", err)
	}
	if cfg.DevOutboxEnabled {
		log.Warn("dev outbox route enabled: GET /api/v1/dev/outbox shows one-time codes")
	}
	handler := httpapi.NewHandler(outbox, log)
	if cfg.TwilioEnabled() && cfg.Twilio.StatusCallbackURL != "" {
		handler.WithStatusCallback(httpapi.NewStatusCallback(cfg.TwilioAuthToken.Value(), cfg.Twilio.StatusCallbackURL, deliveries))
	}
	httpapi.Routes(public, handler, cfg.DevOutboxEnabled)
	opts.Pprof = cfg.Pprof // the profiler, on the internal port only
	internal, err := httpx.NewInternalApp(opts,
		httpx.Check{Name: "mongodb", Fn: func(ctx context.Context) error { return mongox.Ping(ctx, client) }},
		httpx.Check{Name: "kafka", Fn: func(ctx context.Context) error { return kafkax.Ping(ctx, cfg.KafkaBrokers) }},
	)
	if err != nil {
		return fmt.Errorf("internal app: %w", err)
	}

	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		consumerErr error
	)
	consume := func(group, topic string, handle kafkax.Handler) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := kafkax.RunConsumer(workCtx, kafkax.ConsumerConfig{
				Brokers: cfg.KafkaBrokers,
				GroupID: group,
				Topic:   kafkax.Topic(cfg.TopicPrefix, topic),
				Logger:  log,
				// The delivery service retries sends itself and records (and dead-letters) what can never
				// be delivered; an error it returns is a MongoDB or Kafka failure, retried with capped
				// backoff until it passes or the service stops: the event is never skipped.
				RetryBase: cfg.ConsumerRetry, RetryMax: cfg.ConsumerRetryMax,
			}, handle)
			if err != nil && workCtx.Err() == nil {
				// A consumer that gives up leaves messages undelivered: stop the service so it gets restarted.
				mu.Lock()
				consumerErr = errors.Join(consumerErr, fmt.Errorf("%s consumer: %w", topic, err))
				mu.Unlock()
				stopServing()
			}
		}()
	}
	// One consumer group per topic, so a rebalance of one does not pause (and redeliver) the other.
	consume("notification", events.TopicOTPDispatch, subscriber.OTPDispatch(service, log))
	consume("notification-alerts", events.TopicAccountEvents, subscriber.SecurityAlerts(service, log))
	for _, rc := range retryConsumers(service, log, workCtx.Done()) {
		consume(rc.group, rc.topic, rc.handle)
	}

	serveErr := httpx.Serve(serveCtx, log, cfg.ShutdownTimeout, httpx.Server{Name: "public", Addr: cfg.HTTPAddr, App: public},
		httpx.Server{Name: "internal", Addr: cfg.InternalAddr, App: internal})

	log.Info("stopping the consumers")
	stopWorkers()
	wg.Wait()
	if err := errors.Join(serveErr, consumerErr); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
