package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/captcha"
	"github.com/latchkey/latchkey/services/identity/internal/config"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/phone"
	"github.com/latchkey/latchkey/services/identity/internal/profileclient"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/subscriber"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

// topicPartitions is used when identity creates its topics (KAFKA_CREATE_TOPICS).
const topicPartitions = 3

// republishInterval is how often accounts whose account.created event did not reach the outbox are
// looked for.
const republishInterval = time.Minute

// run wires the service together, serves until ctx is cancelled, then shuts down in order: HTTP
// first (in-flight requests finish), then the background workers, then Kafka and MongoDB.
func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := config.Load(platformconfig.NewLoader())
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if cfg.LogLevel != slog.LevelInfo {
		log = telemetry.NewLogger(os.Stdout, config.Service, cfg.LogLevel)
		telemetry.RouteLogs(log)
	}
	log.Info("starting", "config", cfg)
	if cfg.PepperGenerated {
		log.Warn("OTP_PEPPER is not set: using a random pepper for this process; codes and device tokens will not survive a restart or work across replicas")
	}

	shutdownTracing, err := telemetry.SetupTracing(ctx, config.Service, cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(c)
	}()
	metrics := telemetry.NewMetrics(config.Service)

	client, db, err := mongox.Connect(ctx, cfg.MongoURI.Value(), cfg.MongoDatabase)
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.Disconnect(c); err != nil {
			log.Warn("disconnect MongoDB", "err", err)
		}
	}()
	if err := store.EnsureIndexes(ctx, db); err != nil {
		return err
	}
	if err := store.EnsureUsernameIndexes(ctx, db); err != nil {
		return err
	}

	if cfg.CreateTopics {
		// Not fatal: requests are accepted into the outbox while Kafka is away, and the relay
		// publishes once it is back.
		if err := kafkax.EnsureTopics(ctx, cfg.KafkaBrokers, cfg.TopicPrefix, topicPartitions,
			events.TopicOTPDispatch, events.TopicAccountEvents, events.TopicProfileEvents); err != nil {
			log.Warn("could not ensure Kafka topics", "err", err)
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
		return err
	}

	if err := password.SetPolicy(cfg.PasswordPolicy); err != nil {
		return err
	}
	hasher, err := password.NewBoundedHasher(cfg.Argon2, cfg.Hashing)
	if err != nil {
		return err
	}
	limiter := throttle.New(store.NewCounters(db))
	codes := otp.NewService(cfg.OTP, otp.Pepper(cfg.OTPPepper.Value()), store.NewChallenges(db), limiter, outbox)
	usernames := store.NewUsernames(db)
	svc := auth.NewService(auth.Config{
		LoginPerIP: cfg.LoginPerIP, LoginFailuresPerAccount: cfg.LoginFailuresPerAccount,
		CodeVerifyPerIP: cfg.CodeVerifyPerIP, CodeFailuresPerAccount: cfg.CodeFailuresPerAccount, CodeSendPerIP: cfg.CodeSendPerIP,
		StepUpTTL: cfg.ReauthTokenTTL, EmailRevertPeriod: cfg.EmailRevertPeriod, EmailRevertURL: cfg.EmailRevertURL,
		LoginBackoff: cfg.Throttle.LoginBackoff, AllowIPs: cfg.Throttle.AllowIPs, Registration: cfg.Throttle.Registration,
	}, auth.Deps{
		Accounts: store.NewAccounts(db),
		Devices:  store.NewDevices(db),
		Codes:    codes,
		Hasher:   hasher,
		Limiter:  limiter,
		Sessions: sessionclient.New(cfg.SessionInternalURL, cfg.InternalToken, nil),
		Outbox:   outbox,
		Logger:   log,
		// Provider linking and sign-in; ID tokens are checked against each provider's JWKS.
		Providers: store.NewProviders(db),
		IDTokens:  oauth.NewVerifier(cfg.OAuth, &http.Client{Timeout: 5 * time.Second}),
		// Step-up tokens (X-Reauth-Token) and the links undoing an e-mail change.
		StepUps: store.NewStepUps(db),
	})
	svc.Reservations = usernames // registration stays off usernames reserved for their old owner
	// Account events reach the profile projection before a change is answered (read-your-own-writes).
	svc.Projections = profileclient.New(cfg.ProfileInternalURL, cfg.InternalToken, nil)
	if cfg.Throttle.CaptchaEnabled() {
		svc.Captcha = captcha.NewSiteVerify(cfg.Throttle.CaptchaVerifyURL, cfg.Throttle.CaptchaSecret.Value(), nil)
	}

	keys := apikey.NewService(apikey.Config{
		Prefix: cfg.APIKeyPrefix, DefaultLifetime: cfg.APIKeyDefaultTTL, MaxLifetime: cfg.APIKeyMaxTTL,
	}, store.NewAPIKeys(db), store.NewAccounts(db), outbox, log)
	svc.APIKeys = keys // password reset, deactivation and sign-out-all revoke every key
	verifier := authn.NewVerifier(authn.VerifierConfig{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: log,
		APIKeys: keys.Verify, APIKeyRatePerMinute: cfg.APIKeyRatePerMinute, // identity checks keys in process
	})
	denyList := authn.NewDenyList()
	keys.DenyLocally(denyList)

	opts := httpx.Options{Service: config.Service, Logger: log, Metrics: metrics, BodyLimit: cfg.BodyLimit,
		TrustedProxies: cfg.TrustedProxies, LocationHeader: cfg.LocationHeader}
	public, err := httpx.NewApp(opts)
	if err != nil {
		return err
	}
	httpapi.Register(public, authn.Middleware(verifier, denyList), svc, keys, log)
	httpapi.RegisterUsernames(public, authn.Middleware(verifier, denyList),
		httpapi.LimitPerIP(limiter, httpapi.ScopeUsernameLookupIP, cfg.UsernameLookupsPerIP, cfg.Throttle.AllowIPs),
		username.NewService(cfg.Usernames, usernames, svc, log))
	opts.Pprof = cfg.Pprof // the profiler, on the internal port only
	internal, err := httpx.NewInternalApp(opts,
		httpx.Check{Name: "mongodb", Fn: func(ctx context.Context) error { return mongox.Ping(ctx, client) }},
		httpx.Check{Name: "kafka", Fn: func(ctx context.Context) error { return kafkax.Ping(ctx, cfg.KafkaBrokers) }},
	)
	if err != nil {
		return err
	}
	httpapi.RegisterInternal(internal, httpx.RequireToken(cfg.InternalToken), keys)
	httpapi.RegisterReauthentication(internal, httpx.RequireToken(cfg.InternalToken), svc)
	// Phone changes through the profile paths share the code-sending budgets: each one is a step
	// towards a code to a new number.
	phones := phone.NewService(usernames.Accounts, svc).WithLimits(phone.Limits{Limiter: limiter,
		PerAccount: throttle.Limit{Max: cfg.OTP.MaxPerAccountPerHour, Window: time.Hour}, PerIP: cfg.CodeSendPerIP})
	httpapi.RegisterPhoneInternal(internal, httpx.RequireToken(cfg.InternalToken), phones)
	httpapi.RegisterSnapshotInternal(internal, httpx.RequireToken(cfg.InternalToken), store.NewAccounts(db))

	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := outbox.Run(workers); err != nil {
			log.Error("outbox relay stopped", "err", err)
		}
	})
	wg.Go(func() { svc.RunRepublisher(workers, republishInterval) })
	wg.Go(func() {
		// profile.updated → the profile projection that username search and lookup read.
		err := kafkax.RunConsumer(workers, kafkax.ConsumerConfig{
			Brokers: cfg.KafkaBrokers, GroupID: config.Service,
			Topic: kafkax.Topic(cfg.TopicPrefix, events.TopicProfileEvents), Logger: log,
		}, subscriber.ProfileEvents(usernames, log))
		if err != nil && workers.Err() == nil {
			log.Error("profile events consumer stopped", "err", err)
		}
	})
	wg.Go(func() {
		// Access tokens of revoked sessions are refused from the moment the revocation is read.
		if err := denyList.Follow(workers, cfg.KafkaBrokers, cfg.TopicPrefix, authn.DefaultLookback, log); err != nil && workers.Err() == nil {
			log.Error("deny-list follower stopped", "err", err)
		}
	})

	serveErr := httpx.Serve(ctx, log, cfg.ShutdownTimeout,
		httpx.Server{Name: "public", Addr: cfg.HTTPAddr, App: public},
		httpx.Server{Name: "internal", Addr: cfg.InternalAddr, App: internal},
	)
	log.Info("stopping background workers")
	stopWorkers()
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, context.Canceled) {
		return serveErr
	}
	log.Info("stopped")
	return nil
}
