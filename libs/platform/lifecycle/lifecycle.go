// Package lifecycle runs one Latchkey service: the start-up and shutdown every service shares, so that a
// service's cmd package lists only what is its own.
//
// Run loads nothing itself: the service passes its loaded configuration. Run then sets up telemetry
// (JSON logs, tracing, the metrics registry), connects MongoDB, creates the Kafka topics and the
// producer (and, when asked, the transactional outbox and its relay), builds the public and internal
// Fiber apps, hands the Runtime to the service's build function, starts the named background workers
// and serves both ports.
//
// One policy for every service: a background worker that returns while the service is not shutting
// down has failed for good. /readyz fails from that moment, the service shuts down gracefully and Run
// returns the worker's error, so main exits non-zero and Kubernetes restarts the pod. Nothing keeps
// serving without one of its workers (a dead deny-list follower would accept revoked tokens).
//
// Shutdown, on ctx's end or a failed worker: /readyz fails at once; the servers keep serving for
// SHUTDOWN_DRAIN_DELAY so load balancers stop sending requests; then they stop accepting and finish
// the requests in flight within SHUTDOWN_TIMEOUT; then the workers stop (a request still in flight
// has its event relayed and sees the deny-list); then the Kafka producer closes, then MongoDB, then
// traces are flushed.
package lifecycle

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

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

// closeTimeout bounds each step of closing the clients (MongoDB, the trace exporter).
const closeTimeout = 5 * time.Second

// Options say what a service needs from the runtime besides config.Base.
type Options struct {
	// Config is the service's whole configuration, logged on the "starting" line; its LogValue masks
	// the secrets. Nil logs config.Base.
	Config slog.LogValuer
	// Topics are created (without their prefix) at start when KAFKA_CREATE_TOPICS is on.
	Topics []string
	// TopicsBestEffort makes a failure to create Topics a warning instead of a start-up error (for a
	// service that accepts work into its outbox while Kafka is away).
	TopicsBestEffort bool
	// Outbox gives the Runtime a transactional outbox (indexes ensured) whose relay runs as the
	// worker "outbox relay".
	Outbox bool
	// LocationHeader is passed to the public app (httpx.Options.LocationHeader).
	LocationHeader string
}

// Runtime is what a service builds on: its clients, its two apps and its background workers.
type Runtime struct {
	Config  config.Base
	Log     *slog.Logger
	Metrics *telemetry.Metrics
	Mongo   *mongo.Client
	DB      *mongo.Database
	// Producer publishes to Kafka (topic names without prefix).
	Producer *kafkax.Producer
	// Outbox is nil unless Options.Outbox.
	Outbox *kafkax.Outbox
	// Public serves the service's API on HTTP_ADDR; Internal serves /healthz, /readyz, /metrics and
	// /internal/v1 on INTERNAL_ADDR.
	Public, Internal *fiber.App

	workCtx     context.Context // the workers' context, cancelled after HTTP has shut down
	stopWorkers context.CancelFunc
	closers     []closer // undone in reverse order when Run returns

	mu       sync.Mutex
	checks   []httpx.Check // the service's own readiness checks (AddCheck)
	workers  []worker
	started  bool          // the workers have been started: Go is too late
	failed   []error       // workers that failed for good
	stopping bool          // shutdown has begun: /readyz fails
	failure  chan struct{} // closed at the first worker failure
}

type worker struct {
	name string
	fn   func(context.Context) error
}

type closer struct {
	what string
	fn   func() error
}

// Main is a service's main function: a JSON logger at LOG_LEVEL, a context cancelled by SIGINT or
// SIGTERM, run, and exit status 1 (after logging the error) when run fails.
func Main(name string, run func(ctx context.Context, log *slog.Logger) error) {
	log := telemetry.NewLogger(os.Stdout, name, config.NewLoader().Level("LOG_LEVEL", slog.LevelInfo))
	telemetry.RouteLogs(log) // the log package, OpenTelemetry, Kafka and MongoDB clients: JSON too
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	if err != nil {
		log.Error(name+" service failed", "err", err)
		os.Exit(1)
	}
}

// Run starts the runtime for cfg, calls build to add the service's own parts (stores, routes,
// workers, readiness checks), serves until ctx ends or a worker fails, and shuts down in order (see
// the package comment). It returns nil only after a clean shutdown asked for by ctx.
func Run(ctx context.Context, log *slog.Logger, cfg config.Base, opts Options, build func(ctx context.Context, rt *Runtime) error) (err error) {
	var shown any = slog.GroupValue(cfg.LogAttrs()...)
	if opts.Config != nil {
		shown = opts.Config
	}
	log.Info("starting", "config", shown)

	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	rt := &Runtime{Config: cfg, Log: log, workCtx: workCtx, stopWorkers: stopWorkers, failure: make(chan struct{})}
	defer func() {
		stopWorkers()
		rt.close()
		if err == nil {
			log.Info("stopped")
		}
	}()
	if err := rt.start(ctx, opts); err != nil {
		return err
	}
	if err := build(ctx, rt); err != nil {
		return err
	}
	return rt.serve(ctx)
}

// start connects what every service uses, in order, registering how to undo each step.
func (rt *Runtime) start(ctx context.Context, opts Options) error {
	if err := rt.setupTelemetry(ctx); err != nil {
		return err
	}
	client, db, err := mongox.Connect(ctx, rt.Config.MongoURI.Value(), rt.Config.MongoDatabase)
	if err != nil {
		return fmt.Errorf("mongodb: %w", err)
	}
	rt.Mongo, rt.DB = client, db
	rt.onClose("disconnect MongoDB", func() error {
		c, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		return client.Disconnect(c)
	})
	if err := rt.startKafka(ctx, opts); err != nil {
		return err
	}
	if opts.Outbox {
		rt.Outbox = kafkax.NewOutbox(db, rt.Producer, rt.Log)
		if err := rt.Outbox.EnsureIndexes(ctx); err != nil {
			return fmt.Errorf("outbox indexes: %w", err)
		}
		rt.Go("outbox relay", rt.Outbox.Run)
	}

	o := httpx.Options{Service: rt.Config.Service, Logger: rt.Log, Metrics: rt.Metrics, BodyLimit: rt.Config.BodyLimit,
		TrustedProxies: rt.Config.TrustedProxies, LocationHeader: opts.LocationHeader}
	if rt.Public, err = httpx.NewApp(o); err != nil {
		return fmt.Errorf("public app: %w", err)
	}
	o.Pprof = rt.Config.Pprof // the profiler, on the internal port only
	o.Ready = rt.readiness
	if rt.Internal, err = httpx.NewInternalApp(o); err != nil {
		return fmt.Errorf("internal app: %w", err)
	}
	return nil
}

// setupTelemetry starts tracing and builds the metrics registry: all of the runtime's telemetry
// construction is here.
func (rt *Runtime) setupTelemetry(ctx context.Context) error {
	stopTracing, err := telemetry.SetupTracing(ctx, rt.Config.Service, rt.Config.OTLPEndpoint)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	rt.onClose("flush traces", func() error {
		c, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		return stopTracing(c)
	})
	rt.Metrics = telemetry.NewMetrics(rt.Config.Service)
	return nil
}

// AddCheck adds readiness checks to /readyz, after MongoDB's and Kafka's.
func (rt *Runtime) AddCheck(checks ...httpx.Check) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.checks = append(rt.checks, checks...)
}

// Go registers a named background worker, started just before the servers listen. fn must run until
// its context is cancelled (at shutdown, after HTTP has stopped) and then return; an early return,
// error or not, is a failure of the service (see the package comment).
func (rt *Runtime) Go(name string, fn func(ctx context.Context) error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.started {
		panic("lifecycle: Go(" + name + ") after the workers started: register workers in build")
	}
	rt.workers = append(rt.workers, worker{name: name, fn: fn})
}

// Stopping is closed when the workers are told to stop, for code that must notice it outside a
// worker's own context (a retry wait inside a consumer's handler, say).
func (rt *Runtime) Stopping() <-chan struct{} { return rt.workCtx.Done() }

// readiness is the checks /readyz runs: MongoDB, Kafka, the service's own, and the runtime's state.
func (rt *Runtime) readiness() []httpx.Check {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	checks := make([]httpx.Check, 0, len(rt.checks)+4)
	checks = append(checks,
		httpx.Check{Name: "mongodb", Fn: func(ctx context.Context) error { return mongox.Ping(ctx, rt.Mongo) }},
		httpx.Check{Name: "kafka", Fn: rt.pingKafka},
	)
	checks = append(checks, rt.checks...)
	return append(checks,
		httpx.Check{Name: "workers", Fn: func(context.Context) error {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			return errors.Join(rt.failed...)
		}},
		httpx.Check{Name: "running", Fn: func(context.Context) error {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			if rt.stopping {
				return errors.New("shutting down")
			}
			return nil
		}},
	)
}

// serve starts the workers, serves both apps until ctx ends or a worker fails, drains, shuts the
// servers down, then stops the workers.
func (rt *Runtime) serve(ctx context.Context) error {
	var wg sync.WaitGroup
	rt.mu.Lock()
	workers := rt.workers
	rt.started = true
	rt.mu.Unlock()
	for _, w := range workers {
		wg.Go(func() { rt.runWorker(w) })
	}

	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-rt.failure:
		case <-served: // a server failed (a port in use): nothing to drain
			return
		}
		rt.mu.Lock()
		rt.stopping = true
		rt.mu.Unlock()
		if d := rt.Config.ShutdownDrainDelay; d > 0 {
			rt.Log.Info("draining: /readyz fails, requests are still served", "delay", d)
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-served:
			}
		}
		stopServing()
	}()
	serveErr := httpx.Serve(serveCtx, rt.Log, rt.Config.ShutdownTimeout,
		httpx.Server{Name: "public", Addr: rt.Config.HTTPAddr, App: rt.Public},
		httpx.Server{Name: "internal", Addr: rt.Config.InternalAddr, App: rt.Internal})
	close(served)

	rt.Log.Info("stopping background workers")
	rt.stopWorkers()
	wg.Wait()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return errors.Join(append([]error{serveErr}, rt.failed...)...)
}

// runWorker runs w; a return before the workers are told to stop is recorded as a failure, which
// fails /readyz and starts the shutdown.
func (rt *Runtime) runWorker(w worker) {
	err := w.fn(rt.workCtx)
	if rt.workCtx.Err() != nil {
		return // told to stop
	}
	if err == nil {
		err = errors.New("stopped without an error")
	}
	err = fmt.Errorf("background worker %s: %w", w.name, err)
	rt.Log.Error("background worker failed; shutting down", "worker", w.name, "err", err)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.failed) == 0 {
		close(rt.failure)
	}
	rt.failed = append(rt.failed, err)
}

func (rt *Runtime) onClose(what string, fn func() error) {
	rt.closers = append(rt.closers, closer{what: what, fn: fn})
}

// close undoes start in reverse order: the Kafka producer, MongoDB, the trace exporter. Failures
// are logged, not returned: the service has done its work by then.
func (rt *Runtime) close() {
	for i := len(rt.closers) - 1; i >= 0; i-- {
		c := rt.closers[i]
		if err := c.fn(); err != nil {
			rt.Log.Warn(c.what, "err", err)
		}
	}
	rt.closers = nil
}
