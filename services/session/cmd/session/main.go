// Command session serves sessions and tokens: the internal APIs that start and end sessions, token
// refresh, logout, the session endpoints of the account API and the AudioPod paths, and the JWKS every
// service verifies access tokens with.
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

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/services/session/internal/account"
	sessionconfig "github.com/latchkey/latchkey/services/session/internal/config"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/identityclient"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

// topicPartitions is how many partitions EnsureTopics gives a topic it creates.
const topicPartitions = 3

func main() {
	log := telemetry.NewLogger(os.Stdout, sessionconfig.Service, config.NewLoader().Level("LOG_LEVEL", slog.LevelInfo))
	telemetry.RouteLogs(log) // the log package, OpenTelemetry, Kafka and MongoDB clients: JSON too
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log, config.NewLoader())
	stop()
	if err != nil {
		log.Error("session service failed", "err", err)
		os.Exit(1)
	}
}

// run starts the service and blocks until ctx is done (SIGINT/SIGTERM) or a part of it fails, then
// shuts down: HTTP first, so in-flight requests finish, then the background workers (the outbox relay
// and the deny-list follower), then the Kafka producer and MongoDB.
func run(ctx context.Context, log *slog.Logger, env *config.Loader) error {
	cfg, err := sessionconfig.Load(env)
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
	sessions := store.NewSessions(db)
	if err := sessions.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}
	accounts := account.NewDirectory(store.NewAccounts(db), log)

	// Signing keys.
	keys, err := loadKeyring(ctx, cfg, db)
	if err != nil {
		return err
	}
	log.Info("signing key loaded", "kid", keys.Signer().ID, "from_file", cfg.SigningKeyFile != "")

	// Kafka: every event goes through the outbox, which the relay below publishes.
	if cfg.CreateTopics {
		if err := kafkax.EnsureTopics(ctx, cfg.KafkaBrokers, cfg.TopicPrefix, topicPartitions,
			events.TopicSessionEvents, events.TopicAccountEvents, events.TopicProfileEvents); err != nil {
			return fmt.Errorf("kafka topics: %w", err)
		}
	}
	producer := kafkax.NewProducer(cfg.KafkaBrokers, cfg.TopicPrefix)
	defer func() {
		if err := producer.Close(); err != nil {
			log.Warn("close kafka producer", "err", err)
		}
	}()
	outbox := kafkax.NewOutbox(db, producer, log)
	if err := outbox.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("outbox indexes: %w", err)
	}

	// Domain and HTTP.
	denyList := authn.NewDenyList()
	issuer := token.NewIssuer(keys, token.IssuerConfig{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.AccessTokenTTL})
	reauth := identityclient.New(cfg.IdentityInternalURL, cfg.InternalToken, nil)
	service := session.NewService(sessions, issuer, outbox, denyList, session.Options{
		AccessTokenTTL: cfg.AccessTokenTTL, IdleTTL: cfg.SessionIdleTTL, AbsoluteTTL: cfg.SessionAbsoluteTTL,
		TouchInterval: cfg.TouchInterval, RefreshWindow: cfg.RefreshWindow, RefreshGrace: cfg.RefreshGrace, Reauth: reauth, APIKeys: reauth, Logger: log,
	})
	// The session service verifies its own tokens against its keyring, not over HTTP from itself.
	verifier := authn.NewVerifier(authn.VerifierConfig{
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Logger: log, Source: keys.Source,
		APIKeys:             authn.NewAPIKeyClient(cfg.IdentityInternalURL, cfg.InternalToken.Value(), nil),
		APIKeyRatePerMinute: cfg.APIKeyRatePerMinute,
	})
	opts := httpx.Options{Service: cfg.Service, Logger: log, Metrics: metrics, BodyLimit: cfg.BodyLimit,
		TrustedProxies: cfg.TrustedProxies, LocationHeader: cfg.LocationHeader}
	public, err := httpx.NewApp(opts)
	if err != nil {
		return fmt.Errorf("public app: %w", err)
	}
	opts.Pprof = cfg.Pprof // the profiler, on the internal port only
	internal, err := httpx.NewInternalApp(opts,
		httpx.Check{Name: "mongodb", Fn: func(ctx context.Context) error { return mongox.Ping(ctx, client) }},
		httpx.Check{Name: "kafka", Fn: func(ctx context.Context) error { return kafkax.Ping(ctx, cfg.KafkaBrokers) }},
	)
	if err != nil {
		return fmt.Errorf("internal app: %w", err)
	}
	httpapi.Routes(public, internal, httpapi.NewHandler(service, keys.JWKSJSON, log, httpapi.Config{Accounts: accounts}),
		authn.Middleware(verifier, denyList), httpx.RequireToken(cfg.InternalToken))

	// Background workers. They get their own context, cancelled only after HTTP has shut down, so a
	// request in flight still has its event relayed and sees the deny-list.
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	var (
		wg        sync.WaitGroup
		workerErr = make(chan error, 4)
	)
	startWorker := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(workCtx); err != nil && workCtx.Err() == nil {
				// A worker that gives up leaves the service half-working: stop it so it gets restarted.
				workerErr <- fmt.Errorf("%s: %w", name, err)
				stopServing()
			}
		})
	}
	startWorker("outbox relay", outbox.Run)
	// The account facts validate shows: identity's account events and profile's profile events. One
	// consumer group per topic, so a rebalance of one never pauses the other.
	for _, topic := range []string{events.TopicAccountEvents, events.TopicProfileEvents} {
		startWorker(topic+" consumer", func(ctx context.Context) error {
			return kafkax.RunConsumer(ctx, kafkax.ConsumerConfig{
				Brokers: cfg.KafkaBrokers, GroupID: cfg.Service + "." + topic, Topic: kafkax.Topic(cfg.TopicPrefix, topic), Logger: log,
			}, accounts.Apply)
		})
	}
	startWorker("deny-list follower", func(ctx context.Context) error {
		return denyList.Follow(ctx, cfg.KafkaBrokers, cfg.TopicPrefix, cfg.AccessTokenTTL+authn.Leeway, log)
	})

	serveErr := httpx.Serve(serveCtx, log, cfg.ShutdownTimeout,
		httpx.Server{Name: "public", Addr: cfg.HTTPAddr, App: public},
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

// loadKeyring reads the signing key from JWT_SIGNING_KEY_FILE, or from MongoDB (creating it on the
// first start) when no file is configured.
func loadKeyring(ctx context.Context, cfg sessionconfig.Config, db *mongo.Database) (*token.Keyring, error) {
	if cfg.SigningKeyFile != "" {
		key, err := token.LoadPEM(cfg.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("JWT_SIGNING_KEY_FILE: %w", err)
		}
		return token.NewKeyring(key)
	}
	keys, err := token.LoadKeyring(ctx, store.NewSigningKeys(db))
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}
