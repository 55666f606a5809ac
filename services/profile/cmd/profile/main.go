// Command profile serves the profile API (/api/v1/me, /api/v1/auth/me), keeps identity's facts from
// account.events.v1 and publishes profile.updated on profile.events.v1 through its outbox.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	profileconfig "github.com/latchkey/latchkey/services/profile/internal/config"
	"github.com/latchkey/latchkey/services/profile/internal/httpapi"
	"github.com/latchkey/latchkey/services/profile/internal/identityclient"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
	"github.com/latchkey/latchkey/services/profile/internal/subscriber"
)

// topicPartitions is how many partitions EnsureTopics gives a topic it creates.
const topicPartitions = 3

// republishInterval is how often profiles whose profile.updated did not reach the outbox are looked for.
const republishInterval = time.Minute

func main() {
	log := telemetry.NewLogger(os.Stdout, profileconfig.Service, config.NewLoader().Level("LOG_LEVEL", slog.LevelInfo))
	telemetry.RouteLogs(log) // the log package, OpenTelemetry, Kafka and MongoDB clients: JSON too
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log, config.NewLoader())
	stop()
	if err != nil {
		log.Error("profile service failed", "err", err)
		os.Exit(1)
	}
}

// run starts the service and blocks until ctx is done (SIGINT/SIGTERM) or a part of it fails, then
// shuts down: HTTP first, so in-flight requests finish, then the background workers (the consumer
// commits what it has handled), then MongoDB.
func run(ctx context.Context, log *slog.Logger, env *config.Loader) error {
	cfg, err := profileconfig.Load(env)
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
	profiles := store.NewProfiles(db)
	if err := profiles.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}

	// Kafka.
	if cfg.CreateTopics {
		if err := kafkax.EnsureTopics(ctx, cfg.KafkaBrokers, cfg.TopicPrefix, topicPartitions,
			events.TopicAccountEvents, events.TopicSessionEvents, events.TopicProfileEvents); err != nil {
			return fmt.Errorf("kafka topics: %w", err)
		}
	}
	producer := kafkax.NewProducer(cfg.KafkaBrokers, cfg.TopicPrefix)
	defer func() {
		if err := producer.Close(); err != nil {
			log.Warn("close Kafka producer", "err", err)
		}
	}()
	outbox := kafkax.NewOutbox(db, producer, log)
	if err := outbox.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}

	// Domain and HTTP.
	service := profile.NewService(profiles, profile.Options{
		Wait: cfg.ProfileWait, Outbox: outbox, Logger: log,
		Phones: identityclient.New(cfg.IdentityInternalURL, cfg.InternalToken, nil),
		// A missing projection is read from identity (read-your-own-writes).
		Accounts: identityclient.New(cfg.IdentityInternalURL, cfg.InternalToken, nil),
	})
	verifier := authn.NewVerifier(authn.VerifierConfig{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: log,
		APIKeys:             authn.NewAPIKeyClient(cfg.IdentityInternalURL, cfg.InternalToken.Value(), nil),
		APIKeyRatePerMinute: cfg.APIKeyRatePerMinute,
	})
	denyList := authn.NewDenyList()
	opts := httpx.Options{Service: cfg.Service, Logger: log, Metrics: metrics, BodyLimit: cfg.BodyLimit, TrustedProxies: cfg.TrustedProxies}
	public, err := httpx.NewApp(opts)
	if err != nil {
		return fmt.Errorf("public app: %w", err)
	}
	httpapi.Routes(public, authn.Middleware(verifier, denyList), httpapi.NewHandler(service, log))
	opts.Pprof = cfg.Pprof // the profiler, on the internal port only
	internal, err := httpx.NewInternalApp(opts,
		httpx.Check{Name: "mongodb", Fn: func(ctx context.Context) error { return mongox.Ping(ctx, client) }},
		httpx.Check{Name: "kafka", Fn: func(ctx context.Context) error { return kafkax.Ping(ctx, cfg.KafkaBrokers) }},
	)
	if err != nil {
		return fmt.Errorf("internal app: %w", err)
	}
	// Identity delivers account events here before answering a change (read-your-own-writes).
	httpapi.RegisterInternal(internal, httpx.RequireToken(cfg.InternalToken), subscriber.AccountEvents(service, log))

	// Background workers. They get their own context, cancelled only after HTTP has shut down, so a
	// request in flight still sees the deny-list and the consumer finishes (and commits) its event.
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	var (
		wg        sync.WaitGroup
		workerErr = make(chan error, 3)
	)
	startWorker := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(workCtx); err != nil && workCtx.Err() == nil {
				// A worker that gives up leaves the service half-working: stop it so it gets restarted.
				workerErr <- fmt.Errorf("%s: %w", name, err)
				stopServing()
			}
		}()
	}
	startWorker("account events consumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, kafkax.ConsumerConfig{
			Brokers: cfg.KafkaBrokers,
			GroupID: "profile",
			Topic:   kafkax.Topic(cfg.TopicPrefix, events.TopicAccountEvents),
			Logger:  log,
		}, subscriber.AccountEvents(service, log))
	})
	startWorker("outbox relay", outbox.Run)
	wg.Go(func() { service.RunRepublisher(workCtx, republishInterval) })
	startWorker("deny-list follower", func(ctx context.Context) error {
		return denyList.Follow(ctx, cfg.KafkaBrokers, cfg.TopicPrefix, authn.DefaultLookback, log)
	})

	serveErr := httpx.Serve(serveCtx, log, cfg.ShutdownTimeout, httpx.Server{Name: "public", Addr: cfg.HTTPAddr, App: public},
		httpx.Server{Name: "internal", Addr: cfg.InternalAddr, App: internal})

	log.Info("stopping background workers")
	stopWorkers()
	wg.Wait()
	close(workerErr)
	errs := []error{serveErr}
	for err := range workerErr {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
