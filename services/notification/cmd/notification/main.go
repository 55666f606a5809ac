// Command notification delivers one-time codes and notices from otp.dispatch.v1.
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

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	notificationconfig "github.com/latchkey/latchkey/services/notification/internal/config"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
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

	// The delivery driver. DELIVERY_DRIVER is validated by config.Load; "outbox" is the only one yet.
	var sender delivery.Sender
	outbox := devoutbox.New(db)
	switch cfg.DeliveryDriver {
	case notificationconfig.DriverOutbox:
		if err := outbox.EnsureIndexes(ctx); err != nil {
			return fmt.Errorf("mongodb indexes: %w", err)
		}
		sender = outbox
		log.Warn("delivery driver is the dev outbox: messages are stored, not sent")
	default:
		return fmt.Errorf("delivery driver %q is not implemented", cfg.DeliveryDriver)
	}

	// Kafka.
	if cfg.CreateTopics {
		if err := kafkax.EnsureTopics(ctx, cfg.KafkaBrokers, cfg.TopicPrefix, topicPartitions,
			events.TopicOTPDispatch, events.TopicOTPDispatchDLQ); err != nil {
			return fmt.Errorf("kafka topics: %w", err)
		}
	}

	// Domain and HTTP.
	service := delivery.NewService(deliveries, sender, log, delivery.Options{MaxAttempts: cfg.MaxAttempts})
	opts := httpx.Options{Service: cfg.Service, Logger: log, Metrics: metrics, BodyLimit: cfg.BodyLimit, TrustedProxies: cfg.TrustedProxies}
	public, err := httpx.NewApp(opts)
	if err != nil {
		return fmt.Errorf("public app: %w", err)
	}
	if cfg.DevOutboxEnabled {
		log.Warn("dev outbox route enabled: GET /api/v1/dev/outbox shows one-time codes")
	}
	httpapi.Routes(public, httpapi.NewHandler(outbox, log), cfg.DevOutboxEnabled)
	internal, err := httpx.NewInternalApp(opts,
		httpx.Check{Name: "mongodb", Fn: func(ctx context.Context) error { return mongox.Ping(ctx, client) }},
		httpx.Check{Name: "kafka", Fn: func(ctx context.Context) error { return kafkax.Ping(ctx, cfg.KafkaBrokers) }},
	)
	if err != nil {
		return fmt.Errorf("internal app: %w", err)
	}

	// The consumer gets its own context, cancelled only after HTTP has shut down; on cancel it
	// finishes the event in hand and commits.
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	var (
		wg          sync.WaitGroup
		consumerErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := kafkax.RunConsumer(workCtx, kafkax.ConsumerConfig{
			Brokers: cfg.KafkaBrokers,
			GroupID: "notification",
			Topic:   kafkax.Topic(cfg.TopicPrefix, events.TopicOTPDispatch),
			Logger:  log,
			// The same bound as the delivery's: its last failed attempt records the delivery as
			// failed and returns nil, so the consumer never skips an event still marked queued.
			MaxAttempts: cfg.MaxAttempts,
		}, subscriber.OTPDispatch(service, log))
		if err != nil && workCtx.Err() == nil {
			// A consumer that gives up leaves codes undelivered: stop the service so it gets restarted.
			consumerErr = fmt.Errorf("otp dispatch consumer: %w", err)
			stopServing()
		}
	}()

	serveErr := httpx.Serve(serveCtx, log, cfg.ShutdownTimeout, httpx.Server{Name: "public", Addr: cfg.HTTPAddr, App: public},
		httpx.Server{Name: "internal", Addr: cfg.InternalAddr, App: internal})

	log.Info("stopping the consumer")
	stopWorkers()
	wg.Wait()
	if err := errors.Join(serveErr, consumerErr); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
