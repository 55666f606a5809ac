// Package stack runs the whole Latchkey stack locally: an embedded MongoDB-compatible server and
// Kafka-compatible broker (unless the caller brings its own), the four service binaries as child
// processes, and the gateway (package gateway) in front of them.
//
// `make run` (cmd/devstack) and the journey tests use it. Start brings everything up and returns
// once every service answers GET /readyz with 200 and the gateway serves; Stop takes it all down.
// Restart, Kill, StopService and StartService act on one service, StopKafka/StartKafka and
// StopMongo/StartMongo on the embedded servers, for fault tests. Build compiles the service binaries
// for tests.
//
// Every service gets the environment of docs/architecture.md: its own listen addresses,
// MONGODB_URI, MONGODB_DATABASE (DBPrefix + "latchkey_" + service), KAFKA_BROKERS,
// KAFKA_TOPIC_PREFIX, a random INTERNAL_API_TOKEN shared by all, LOG_LEVEL, SHUTDOWN_DRAIN_DELAY=0s,
// JWT_ISSUER (the gateway's URL), and the URLs of the services it calls and only those (JWKS_URL,
// *_INTERNAL_URL: the calls of the route table's service topology, charts/latchkey/routes.yaml, as the
// Helm chart renders them); identity also a stable OTP_PEPPER, session API_DOCS_ENABLED=true,
// notification DELIVERY_DRIVER=outbox with DEVELOPMENT_MODE=true, and DEV_OUTBOX_ENABLED=true when
// Config.DevOutbox is set, and KAFKA_TLS_* and KAFKA_SASL_* when Config.SecureKafka is set.
// Identity's breached-password check asks a local Pwned Passwords range server (hibptest) that knows
// hibptest.DevPasswords as breached (BREACHED_PASSWORDS_API_URL), so that neither `make run` nor a
// journey needs the internet. Config.ExtraEnv adds more.
//
// With Config.Replicas above 1 every service runs as that many processes (replicas.go): each its own
// ports and otherwise the same environment, the gateway balancing its routes over them request by
// request, and a connection balancer on the service's own ports for the other services, as a
// Kubernetes Service is. Replicas, Pids, ReplicaURL, ReplicaInternalURL, KillReplica and StartReplica
// reach one replica; the service-wide helpers act on all of them.
//
// Child processes run in their own process group and, on Linux, die with the parent process, so a
// crashed test or a killed `make run` leaves no orphans behind.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/devstack/gateway"
	"github.com/latchkey/latchkey/devstack/routes"
	"github.com/latchkey/latchkey/libs/devinfra/hibptest"
	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
	"github.com/latchkey/latchkey/libs/devinfra/mongoserver"
	"github.com/latchkey/latchkey/libs/platform/events"
)

// Service names.
const (
	Identity     = "identity"
	Session      = "session"
	Profile      = "profile"
	Notification = "notification"
)

// Services lists the services in start order: session first, because the others fetch its JWKS
// and identity calls its internal API.
var Services = []string{Session, Identity, Profile, Notification}

// AllServices is the ExtraEnv key whose variables go to every service.
const AllServices = "*"

// Ports are a service's listen ports.
type Ports struct {
	HTTP     int // public API (HTTP_ADDR)
	Internal int // health, metrics and internal API (INTERNAL_ADDR)
}

// DefaultPorts are the ports of the route table's service topology (charts/latchkey/routes.yaml, the
// cluster's ports), used unless the gateway port is 0.
func DefaultPorts(table *routes.Table) map[string]Ports {
	ports := make(map[string]Ports, len(table.Services))
	for name, svc := range table.Services {
		ports[name] = Ports{HTTP: svc.Port, Internal: svc.InternalPort}
	}
	return ports
}

// Defaults.
const (
	DefaultGatewayAddr  = "127.0.0.1:8080"
	DefaultMongoPort    = 27017
	DefaultKafkaPort    = 9092
	DefaultReadyTimeout = 60 * time.Second
	// DefaultStopTimeout is how long Stop waits for the services when its context has no deadline.
	DefaultStopTimeout = 20 * time.Second
	// DefaultBodyLimit is the services' default BODY_LIMIT_BYTES.
	DefaultBodyLimit = 65536
	// KafkaPartitions is the partition count of the topics seeded in the embedded broker.
	KafkaPartitions = 3
	// host is where everything listens: the local stack is never reachable from the network.
	host = "127.0.0.1"
)

// Config describes a stack.
type Config struct {
	// BinDir holds the identity, session, profile and notification binaries (required).
	BinDir string
	// DataDir keeps the embedded servers' data (mongo/ and kafka/ under it) and identity's
	// OTP_PEPPER (otp_pepper); "" means a temporary directory removed by Stop and a pepper that
	// lives as long as the Stack.
	DataDir string
	// GatewayAddr is the gateway's listen address; "" means DefaultGatewayAddr. With port 0 every
	// service and embedded server gets a free port (tests); otherwise the services use DefaultPorts
	// and the embedded servers 27017 and 9092 (a random port when those are taken).
	GatewayAddr string
	// MongoURI, when set, is used instead of starting the embedded MongoDB-compatible server.
	MongoURI string
	// Brokers, when set, are used instead of starting the embedded Kafka-compatible broker.
	Brokers []string
	// DBPrefix goes in front of every database name: DBPrefix + "latchkey_" + service.
	DBPrefix string
	// TopicPrefix is every service's KAFKA_TOPIC_PREFIX.
	TopicPrefix string
	// DevOutbox enables the notification service's dev outbox and the gateway's devOnly routes.
	DevOutbox bool
	// Stdout and Stderr receive the services' output, each line prefixed "[service] ", and the
	// stack's own messages ("[stack] ..."), nil discards. The gateway's access log goes to Stdout.
	Stdout, Stderr io.Writer
	// ExtraEnv adds or overrides environment variables per service; the key AllServices ("*")
	// applies to every service, a service's own entries win over it. Overriding HTTP_ADDR or
	// INTERNAL_ADDR is not supported: the stack would probe and route to the wrong place.
	ExtraEnv map[string]map[string]string
	// LogLevel is every service's LOG_LEVEL; "" means "info".
	LogLevel string
	// RoutesFile is the route table; "" finds charts/latchkey/routes.yaml above the working
	// directory.
	RoutesFile string
	// ReadyTimeout bounds the wait for each service's /readyz; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// SecureKafka runs the embedded broker as production clusters run: TLS only (a throwaway CA made
	// at start-up) and SASL SCRAM-SHA-512 (user KafkaSASLUsername), and gives every service the
	// matching KAFKA_TLS_* and KAFKA_SASL_* variables (ExtraEnv may override them, e.g. with a wrong
	// password). It needs the embedded broker: Brokers must be empty.
	SecureKafka bool
	// TrustForwardedFor makes the gateway extend, not replace, an X-Forwarded-For header sent from
	// the loopback interface, so tests can act as clients with different addresses.
	TrustForwardedFor bool
	// Replicas is how many processes of every service run; 0 or 1 means one. With more, each
	// replica has its own ports (free ones), the gateway balances a service's routes over its
	// replicas request by request, and the service's own ports (ServiceURL, InternalURL, the
	// *_INTERNAL_URL and JWKS_URL the other services get) are a connection balancer in front of
	// them, as a Kubernetes Service is (replicas.go).
	Replicas int
}

// Stack is a running local stack.
type Stack struct {
	cfg         Config
	table       *routes.Table // the route table and service topology
	services    map[string][]*service
	token       string
	otpPepper   string
	totpKeys    string // identity's TOTP_ENCRYPTION_KEYS (totp.go)
	mongoURI    string
	brokers     []string
	dataDir     string
	tempDataDir bool
	infraMu     sync.Mutex // guards mongo and kafka
	mongo       *mongoserver.Server
	mongoOpts   mongoserver.Options // nil mongo with a non-empty Dir: embedded but stopped
	kafka       *kafkaserver.Server
	kafkaOpts   kafkaserver.Options
	kafkaEnv    map[string]string // KAFKA_TLS_* and KAFKA_SASL_* with SecureKafka
	gatewayLn   net.Listener
	breaches    *hibptest.Server // the local Pwned Passwords range API identity asks
	gatewaySrv  *http.Server
	gatewayDone chan struct{}
	stdout      *sink
	stderr      *sink
	notes       *lineWriter

	stopOnce sync.Once
	stopErr  error

	// Replicas (replicas.go): services holds every service's replicas in order; ports are the
	// services' own ports, and fronts the balancers on them when there is more than one replica.
	ports  map[string]Ports
	fronts []*balancer
}

// Start brings the stack up: the embedded servers unless MongoURI and Brokers are given, the
// services (session first, then the others in parallel), each awaited on GET /readyz, and then the
// gateway. ctx bounds the start-up only. On failure everything already started is stopped again.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	s, err := newStack(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if stopErr := s.Stop(stopCtx); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after failed start: %w", stopErr))
		}
		return nil, err
	}
	return s, nil
}

func newStack(cfg Config) (*Stack, error) {
	if cfg.BinDir == "" {
		return nil, errors.New("stack: Config.BinDir is required")
	}
	if cfg.GatewayAddr == "" {
		cfg.GatewayAddr = DefaultGatewayAddr
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("stack: Config.Replicas is %d; want 1 or more (0 means 1)", cfg.Replicas)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.SecureKafka && len(cfg.Brokers) > 0 {
		return nil, errors.New("stack: Config.SecureKafka needs the embedded broker; Config.Brokers must be empty")
	}
	for name := range cfg.ExtraEnv {
		if name != AllServices && !slices.Contains(Services, name) {
			return nil, fmt.Errorf("stack: ExtraEnv names unknown service %q", name)
		}
	}
	var missing []string
	for _, name := range Services {
		bin := filepath.Join(cfg.BinDir, name)
		if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("stack: service binaries missing or not executable (run `make build`): %s", strings.Join(missing, ", "))
	}
	outputMu := new(sync.Mutex) // one lock for both sinks: Stdout and Stderr may be one writer
	s := &Stack{
		cfg:      cfg,
		services: make(map[string][]*service, len(Services)),
		stdout:   newSink(cfg.Stdout, outputMu),
		stderr:   newSink(cfg.Stderr, outputMu),
	}
	s.notes = newLineWriter("[stack] ", s.stderr, nil)
	return s, nil
}

func (s *Stack) notice(format string, args ...any) {
	_, _ = fmt.Fprintf(s.notes, format+"\n", args...)
}

func (s *Stack) start(ctx context.Context) error {
	routesFile := s.cfg.RoutesFile
	if routesFile == "" {
		found, err := routes.Find()
		if err != nil {
			return fmt.Errorf("stack: %w", err)
		}
		routesFile = found
	}
	table, err := routes.Load(routesFile)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	for _, name := range Services {
		if svc, ok := table.Services[name]; !ok || svc.InternalPort == 0 {
			return fmt.Errorf("stack: %s: service %s has no internalPort", routesFile, name)
		}
	}
	s.table = table

	s.gatewayLn, err = net.Listen("tcp", s.cfg.GatewayAddr)
	if err != nil {
		return fmt.Errorf("stack: gateway: %w", err)
	}
	_, gwPort, _ := net.SplitHostPort(s.cfg.GatewayAddr)
	if err := s.startInfra(ctx, gwPort == "0"); err != nil {
		return err
	}
	// After the embedded servers: they pick free ports too and must not take one chosen here.
	ports, err := planPorts(DefaultPorts(table), gwPort == "0")
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}

	token, err := randomHex(32)
	if err != nil {
		return fmt.Errorf("stack: internal API token: %w", err)
	}
	s.token = token
	s.breaches = hibptest.Start(hibptest.DevPasswords...)
	if s.otpPepper, err = s.pepper(); err != nil {
		return err
	}
	if s.totpKeys, err = s.totpEncryptionKeys(); err != nil {
		return err
	}
	if err := s.newServices(ports); err != nil {
		return err
	}

	// Session first: the others depend on its JWKS and internal API.
	if err := s.startServices(ctx, Services[:1]); err != nil {
		return err
	}
	if err := s.startServices(ctx, Services[1:]); err != nil {
		return err
	}

	replicas := make(map[string][]string, len(s.services))
	for name, svcs := range s.services {
		for _, svc := range svcs {
			replicas[name] = append(replicas[name], "http://"+svc.httpAddr)
		}
	}
	opts := gateway.Options{
		Table:        table,
		Replicas:     replicas,
		IncludeDev:   s.cfg.DevOutbox,
		MaxBodyBytes: s.bodyLimit(),
		Logger:       slog.New(slog.NewTextHandler(newLineWriter("[gateway] ", s.stdout, nil), nil)),
	}
	if s.cfg.TrustForwardedFor {
		opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	gw, err := gateway.New(opts)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	s.gatewaySrv = gateway.NewServer(s.gatewayLn.Addr().String(), gw,
		slog.New(slog.NewTextHandler(newLineWriter("[gateway] ", s.stderr, nil), nil)))
	s.gatewayDone = make(chan struct{})
	go func() {
		defer close(s.gatewayDone)
		if err := s.gatewaySrv.Serve(s.gatewayLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.notice("gateway stopped: %v", err)
		}
	}()
	return nil
}

// startInfra starts the embedded MongoDB-compatible server and Kafka broker the config does not
// replace.
func (s *Stack) startInfra(ctx context.Context, freePorts bool) error {
	s.mongoURI, s.brokers = s.cfg.MongoURI, slices.Clone(s.cfg.Brokers)
	if s.mongoURI != "" && len(s.brokers) > 0 {
		return nil
	}
	s.dataDir = s.cfg.DataDir
	if s.dataDir == "" {
		dir, err := os.MkdirTemp("", "latchkey-stack-")
		if err != nil {
			return fmt.Errorf("stack: data directory: %w", err)
		}
		s.dataDir, s.tempDataDir = dir, true
	}
	if s.mongoURI == "" {
		dir := filepath.Join(s.dataDir, "mongo")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("stack: mongo data directory: %w", err)
		}
		port := 0
		if !freePorts && portFree(DefaultMongoPort) {
			port = DefaultMongoPort
		}
		// FerretDB logs every failed command (a duplicate key, say) at WARN with a full message
		// dump; only its errors are worth a developer's attention.
		logger := slog.New(slog.NewTextHandler(newLineWriter("[mongodb] ", s.stderr, nil), &slog.HandlerOptions{Level: slog.LevelError}))
		s.mongoOpts = mongoserver.Options{Dir: dir, Addr: net.JoinHostPort(host, strconv.Itoa(port)), Logger: logger}
		srv, err := mongoserver.Start(ctx, s.mongoOpts)
		if err != nil {
			return fmt.Errorf("stack: start embedded MongoDB: %w", err)
		}
		s.mongo, s.mongoURI = srv, srv.URI()
		u, err := url.Parse(srv.URI())
		if err != nil {
			return fmt.Errorf("stack: embedded MongoDB URI: %w", err)
		}
		s.mongoOpts.Addr = u.Host // a restart must come back on the same address
	}
	if len(s.brokers) == 0 {
		dir := filepath.Join(s.dataDir, "kafka")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("stack: kafka data directory: %w", err)
		}
		port := 0
		if !freePorts && portFree(DefaultKafkaPort) {
			port = DefaultKafkaPort
		}
		topics := make([]string, len(events.AllTopics))
		for i, t := range events.AllTopics {
			topics[i] = s.cfg.TopicPrefix + t
		}
		s.kafkaOpts = kafkaserver.Options{Dir: dir, Port: port, Partitions: KafkaPartitions, Topics: topics}
		if s.cfg.SecureKafka {
			if err := s.secureKafka(filepath.Join(s.dataDir, "kafka-security"), &s.kafkaOpts); err != nil {
				return err
			}
		}
		srv, err := kafkaserver.Start(s.kafkaOpts)
		if err != nil {
			return fmt.Errorf("stack: start embedded Kafka: %w", err)
		}
		s.kafka, s.brokers = srv, srv.Brokers()
		s.kafkaOpts.Port = srv.Port() // a restart must come back on the same port
	}
	return nil
}

// newService prepares one replica of a service, listening on p; ports are the services' own ports
// (the balancers' with several replicas), which the other services are given.
func (s *Stack) newService(name string, replica int, p Ports, ports map[string]Ports) *service {
	svc := &service{
		name:         name,
		bin:          filepath.Join(s.cfg.BinDir, name),
		httpAddr:     net.JoinHostPort(host, strconv.Itoa(p.HTTP)),
		internalAddr: net.JoinHostPort(host, strconv.Itoa(p.Internal)),
		tail:         newTail(tailLines),
		notice:       s.notice,
	}
	prefix := "[" + name + "] "
	if s.cfg.Replicas > 1 {
		svc.name = name + "-" + strconv.Itoa(replica+1)
		prefix = "[" + svc.name + "] "
	}
	svc.stdout = newLineWriter(prefix, s.stdout, svc.tail)
	svc.stderr = newLineWriter(prefix, s.stderr, svc.tail)

	env := map[string]string{
		"HTTP_ADDR":          svc.httpAddr,
		"INTERNAL_ADDR":      svc.internalAddr,
		"MONGODB_URI":        s.mongoURI,
		"MONGODB_DATABASE":   s.Database(name),
		"KAFKA_BROKERS":      strings.Join(s.brokers, ","),
		"KAFKA_TOPIC_PREFIX": s.cfg.TopicPrefix,
		"INTERNAL_API_TOKEN": s.token,
		"LOG_LEVEL":          s.cfg.LogLevel,
		// No load balancer to drain: a stopping service stops at once (journeys restart services).
		"SHUTDOWN_DRAIN_DELAY": "0s",
		// Clients reach the stack through the gateway, which also serves the discovery document.
		"JWT_ISSUER": s.issuer(),
	}
	// The services it calls, and only those (routes.yaml): JWKS_URL, *_INTERNAL_URL.
	maps.Copy(env, s.table.Wiring(name, func(callee string) string {
		return "http://" + net.JoinHostPort(host, strconv.Itoa(ports[callee].Internal))
	}))
	if name == Identity {
		env["OTP_PEPPER"] = s.otpPepper
		// The local range server, never the internet (ExtraEnv may point elsewhere or turn it off).
		env["BREACHED_PASSWORDS_ONLINE"] = "true"
		env["BREACHED_PASSWORDS_API_URL"] = s.breaches.URL
		// Passkeys: the relying party is the gateway as http://localhost:<port> (an RP ID cannot be an
		// IP address, and browsers hold a page on 127.0.0.1 to its own host).
		env["WEBAUTHN_RP_ID"], env["WEBAUTHN_RP_ORIGINS"] = "localhost", s.WebAuthnOrigin()
		env["TOTP_ENCRYPTION_KEYS"] = s.totpKeys
		// Security alerts carry "this wasn't me" links to a page behind the gateway.
		env["NOT_ME_URL"] = s.WebAuthnOrigin() + "/account/not-me"
	}
	if name == Session {
		// The local stack serves the API description (/openapi.json, /docs), as the chart does by default.
		env["API_DOCS_ENABLED"] = "true"
	}
	if name == Notification {
		// The local stack keeps messages in the dev outbox; the service allows it only in development
		// mode (ExtraEnv may switch to DELIVERY_DRIVER=live).
		env["DELIVERY_DRIVER"] = "outbox"
		env["DEVELOPMENT_MODE"] = "true"
		if s.cfg.DevOutbox {
			env["DEV_OUTBOX_ENABLED"] = "true"
		}
	}
	maps.Copy(env, s.kafkaEnv)
	maps.Copy(env, s.cfg.ExtraEnv[AllServices])
	maps.Copy(env, s.cfg.ExtraEnv[name])
	// The parent's environment (PATH, HOME, OTEL_*, ...) without the variables the stack manages,
	// so a value left in the developer's shell cannot reach a service it was not meant for.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(managedEnv, k) && !slices.Contains(s.table.PeerEnv(), k) {
			svc.env = append(svc.env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		svc.env = append(svc.env, k+"="+env[k])
	}
	return svc
}

// bodyLimit is the largest BODY_LIMIT_BYTES of the services. The gateway refuses larger bodies
// itself: a service refusing one closes the connection unread, and the proxy, still sending the
// body, would see a reset instead of the service's 413.
func (s *Stack) bodyLimit() int64 {
	limit := int64(DefaultBodyLimit)
	for _, svcs := range s.services { // replicas share their environment
		svc := svcs[0]
		value := "" // the last one wins, as in exec
		for _, kv := range svc.env {
			if v, ok := strings.CutPrefix(kv, "BODY_LIMIT_BYTES="); ok {
				value = v
			}
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil && n > limit {
			limit = n
		}
	}
	return limit
}

// managedEnv are the variables the stack sets for some or all services (besides the peer URLs of the
// route table's topology).
var managedEnv = []string{
	"HTTP_ADDR", "INTERNAL_ADDR", "MONGODB_URI", "MONGODB_DATABASE", "KAFKA_BROKERS", "KAFKA_TOPIC_PREFIX",
	"JWKS_URL", "INTERNAL_API_TOKEN", "LOG_LEVEL", "SESSION_INTERNAL_URL", "OTP_PEPPER", "TOTP_ENCRYPTION_KEYS", "DEV_OUTBOX_ENABLED",
	"IDENTITY_INTERNAL_URL", "PROFILE_INTERNAL_URL", "SHUTDOWN_DRAIN_DELAY", "JWT_ISSUER",
	"DELIVERY_DRIVER", "DEVELOPMENT_MODE", "API_DOCS_ENABLED", "BREACHED_PASSWORDS_ONLINE", "BREACHED_PASSWORDS_API_URL",
	"WEBAUTHN_RP_ID", "WEBAUTHN_RP_ORIGINS", "NOT_ME_URL",
	"KAFKA_TLS_ENABLED", "KAFKA_TLS_CA_FILE", "KAFKA_TLS_CERT_FILE", "KAFKA_TLS_KEY_FILE", "KAFKA_TLS_SERVER_NAME",
	"KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
}

// pepper returns identity's OTP_PEPPER: fixed for the stack's lifetime, so codes survive
// Restart(Identity), and kept in the data directory when Config.DataDir is set, so they survive a
// restart of `make run` too.
func (s *Stack) pepper() (string, error) {
	if s.cfg.DataDir == "" {
		p, err := randomHex(32)
		if err != nil {
			return "", fmt.Errorf("stack: OTP pepper: %w", err)
		}
		return p, nil
	}
	path := filepath.Join(s.cfg.DataDir, "otp_pepper")
	if raw, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(raw))) >= 32 {
		return strings.TrimSpace(string(raw)), nil
	}
	p, err := randomHex(32)
	if err != nil {
		return "", fmt.Errorf("stack: OTP pepper: %w", err)
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return "", fmt.Errorf("stack: OTP pepper: %w", err)
	}
	if err := os.WriteFile(path, []byte(p+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("stack: OTP pepper: %w", err)
	}
	return p, nil
}

// startServices starts the named services together and waits until all are ready.
func (s *Stack) startServices(ctx context.Context, names []string) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, name := range names {
		for _, svc := range s.services[name] {
			wg.Go(func() {
				if err := s.startService(ctx, svc); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

func (s *Stack) startService(ctx context.Context, svc *service) error {
	svc.lifecycle.Lock()
	defer svc.lifecycle.Unlock()
	p, err := svc.start()
	if err != nil {
		return err
	}
	return svc.waitReady(ctx, p, s.cfg.ReadyTimeout)
}

// Stop stops the services (SIGTERM, then SIGKILL for those still running when ctx ends; without a
// deadline on ctx, DefaultStopTimeout applies), then the gateway, the embedded Kafka broker and
// MongoDB server, and removes a temporary data directory. It is safe to call more than once; later
// calls return the first call's result.
func (s *Stack) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Stack) stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStopTimeout)
		defer cancel()
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	addErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for _, svc := range slices.Concat(slices.Collect(maps.Values(s.services))...) {
		wg.Go(func() {
			svc.lifecycle.Lock()
			defer svc.lifecycle.Unlock()
			killed, err := svc.stop(ctx)
			if err != nil {
				addErr(err)
			} else if killed {
				addErr(fmt.Errorf("%s did not stop after SIGTERM and was killed", svc.name))
			}
		})
	}
	wg.Wait()
	for _, b := range s.fronts {
		b.Close()
	}

	if s.gatewaySrv != nil {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := s.gatewaySrv.Shutdown(shutdownCtx); err != nil {
			_ = s.gatewaySrv.Close()
		}
		cancel()
		<-s.gatewayDone
	} else if s.gatewayLn != nil {
		_ = s.gatewayLn.Close()
	}
	if s.breaches != nil {
		s.breaches.Close()
	}
	s.infraMu.Lock()
	if s.kafka != nil {
		s.kafka.Close()
		s.kafka = nil
	}
	if s.mongo != nil {
		if err := s.mongo.Close(); err != nil {
			addErr(fmt.Errorf("close embedded MongoDB: %w", err))
		}
		s.mongo = nil
	}
	s.infraMu.Unlock()
	if s.tempDataDir {
		if err := os.RemoveAll(s.dataDir); err != nil {
			addErr(fmt.Errorf("remove temporary data directory: %w", err))
		}
	}
	s.notes.Flush()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stack: stop: %w", err)
	}
	return nil
}

func (s *Stack) service(name string) ([]*service, error) {
	svcs, ok := s.services[name]
	if !ok {
		return nil, fmt.Errorf("stack: unknown service %q", name)
	}
	return svcs, nil
}

// eachReplica runs f on every replica of the service at once, each under its lifecycle lock.
func eachReplica(svcs []*service, f func(*service) error) error {
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, svc := range svcs {
		wg.Go(func() {
			svc.lifecycle.Lock()
			defer svc.lifecycle.Unlock()
			errs[i] = f(svc)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Restart stops the service (SIGTERM; SIGKILL when ctx ends first, or after DefaultStopTimeout
// when ctx has no deadline), starts it again on the same ports and environment, and waits until it
// is ready. It also starts a service that is not running. With replicas, it restarts all of them.
func (s *Stack) Restart(ctx context.Context, name string) error {
	svcs, err := s.service(name)
	if err != nil {
		return err
	}
	err = eachReplica(svcs, func(svc *service) error {
		if _, err := svc.stop(ctx); err != nil {
			return err
		}
		p, err := svc.start()
		if err != nil {
			return err
		}
		return svc.waitReady(ctx, p, s.cfg.ReadyTimeout)
	})
	if err != nil {
		return fmt.Errorf("stack: restart: %w", err)
	}
	return nil
}

// StopService stops one service (every replica) gracefully (SIGTERM; SIGKILL when ctx ends first,
// or after DefaultStopTimeout when ctx has no deadline).
func (s *Stack) StopService(ctx context.Context, name string) error {
	svcs, err := s.service(name)
	if err != nil {
		return err
	}
	err = eachReplica(svcs, func(svc *service) error {
		_, err := svc.stop(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// StartService starts a stopped or killed service (every replica not running) and waits until it
// is ready. It fails when the service (every replica) is running already.
func (s *Stack) StartService(ctx context.Context, name string) error {
	svcs, err := s.service(name)
	if err != nil {
		return err
	}
	if s.Running(name) {
		return fmt.Errorf("stack: %s is already running (pid %d)", name, s.Pid(name))
	}
	err = eachReplica(svcs, func(svc *service) error {
		if svc.current() != nil {
			return nil
		}
		p, err := svc.start()
		if err != nil {
			return err
		}
		return svc.waitReady(ctx, p, s.cfg.ReadyTimeout)
	})
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// Kill SIGKILLs the service (every replica), as a crash would, and waits until it is gone.
func (s *Stack) Kill(name string) error {
	svcs, err := s.service(name)
	if err != nil {
		return err
	}
	if err := eachReplica(svcs, (*service).kill); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// StopKafka stops the embedded Kafka broker (its data is kept), as an outage would. It fails when
// the stack uses brokers from Config.Brokers.
func (s *Stack) StopKafka() error {
	s.infraMu.Lock()
	defer s.infraMu.Unlock()
	if s.kafkaOpts.Dir == "" {
		return errors.New("stack: Kafka is not embedded")
	}
	if s.kafka != nil {
		s.kafka.Close()
		s.kafka = nil
	}
	return nil
}

// StartKafka starts the embedded Kafka broker again, on the same port and with the same data.
func (s *Stack) StartKafka() error {
	s.infraMu.Lock()
	defer s.infraMu.Unlock()
	if s.kafkaOpts.Dir == "" {
		return errors.New("stack: Kafka is not embedded")
	}
	if s.kafka != nil {
		return nil
	}
	srv, err := kafkaserver.Start(s.kafkaOpts)
	if err != nil {
		return fmt.Errorf("stack: restart embedded Kafka: %w", err)
	}
	s.kafka = srv
	return nil
}

// StopMongo stops the embedded MongoDB server (its data is kept), as an outage would. It fails
// when the stack uses Config.MongoURI.
func (s *Stack) StopMongo() error {
	s.infraMu.Lock()
	defer s.infraMu.Unlock()
	if s.mongoOpts.Dir == "" {
		return errors.New("stack: MongoDB is not embedded")
	}
	if s.mongo != nil {
		err := s.mongo.Close()
		s.mongo = nil
		if err != nil {
			return fmt.Errorf("stack: stop embedded MongoDB: %w", err)
		}
	}
	return nil
}

// StartMongo starts the embedded MongoDB server again, on the same address and with the same data.
func (s *Stack) StartMongo(ctx context.Context) error {
	s.infraMu.Lock()
	defer s.infraMu.Unlock()
	if s.mongoOpts.Dir == "" {
		return errors.New("stack: MongoDB is not embedded")
	}
	if s.mongo != nil {
		return nil
	}
	srv, err := mongoserver.Start(ctx, s.mongoOpts)
	if err != nil {
		return fmt.Errorf("stack: restart embedded MongoDB: %w", err)
	}
	s.mongo = srv
	return nil
}

// Running reports whether the service's processes (every replica) are alive.
func (s *Stack) Running(name string) bool {
	svcs, ok := s.services[name]
	if !ok {
		return false
	}
	for _, svc := range svcs {
		if svc.current() == nil {
			return false
		}
	}
	return true
}

// Pid returns the process id of the service's first replica when it runs, or 0 (Pids lists them
// all).
func (s *Stack) Pid(name string) int {
	svcs, ok := s.services[name]
	if !ok {
		return 0
	}
	return svcs[0].pid()
}

// issuer is the services' JWT_ISSUER: the gateway's URL, on loopback when the gateway listens on every
// interface (the services accept plain http only for a loopback issuer).
func (s *Stack) issuer() string {
	host, port, err := net.SplitHostPort(s.gatewayLn.Addr().String())
	if ip := net.ParseIP(host); err == nil && (host == "" || ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// BreachedPasswordsURL is the local Pwned Passwords range API identity asks by default; it knows
// hibptest.DevPasswords as breached.
func (s *Stack) BreachedPasswordsURL() string { return s.breaches.URL }

// WebAuthnOrigin is the origin local passkey ceremonies run on (clientDataJSON): the gateway as
// http://localhost:<port>, e.g. "http://localhost:8080"; the RP ID is "localhost".
func (s *Stack) WebAuthnOrigin() string {
	_, port, _ := net.SplitHostPort(s.gatewayLn.Addr().String())
	return "http://localhost:" + port
}

// GatewayURL is the gateway's base URL, e.g. "http://127.0.0.1:8080".
func (s *Stack) GatewayURL() string { return "http://" + s.gatewayLn.Addr().String() }

// ServiceURL is the base URL of the service's public port, "" for an unknown service. With
// replicas it is their connection balancer (ReplicaURL reaches one replica).
func (s *Stack) ServiceURL(name string) string {
	if svcs, ok := s.services[name]; ok {
		if len(svcs) > 1 {
			return "http://" + net.JoinHostPort(host, strconv.Itoa(s.ports[name].HTTP))
		}
		return "http://" + svcs[0].httpAddr
	}
	return ""
}

// InternalURL is the base URL of the service's internal port (/readyz, /metrics,
// /internal/v1/...), "" for an unknown service. With replicas it is their connection balancer, the
// address the other services are given (ReplicaInternalURL reaches one replica).
func (s *Stack) InternalURL(name string) string {
	if svcs, ok := s.services[name]; ok {
		if len(svcs) > 1 {
			return "http://" + net.JoinHostPort(host, strconv.Itoa(s.ports[name].Internal))
		}
		return "http://" + svcs[0].internalAddr
	}
	return ""
}

// InternalToken is the INTERNAL_API_TOKEN the services share (Authorization: Bearer ...).
func (s *Stack) InternalToken() string { return s.token }

// MongoURI is the MongoDB connection string the services use.
func (s *Stack) MongoURI() string { return s.mongoURI }

// Brokers are the Kafka brokers the services use.
func (s *Stack) Brokers() []string { return slices.Clone(s.brokers) }

// Database is the name of a service's database: DBPrefix + "latchkey_" + service.
func (s *Stack) Database(name string) string { return s.cfg.DBPrefix + "latchkey_" + name }

// Topic is the full name of a topic of package events, with the stack's topic prefix.
func (s *Stack) Topic(name string) string { return s.cfg.TopicPrefix + name }

// DataDir is the directory of the embedded servers' data, "" when none was started.
func (s *Stack) DataDir() string { return s.dataDir }

// planPorts returns every service's ports: defaults (DefaultPorts), checked to be free, or free ports.
func planPorts(defaults map[string]Ports, free bool) (map[string]Ports, error) {
	ports := make(map[string]Ports, len(Services))
	if !free {
		var busy []string
		for _, name := range Services {
			p := defaults[name]
			for _, port := range []int{p.HTTP, p.Internal} {
				if !portFree(port) {
					busy = append(busy, fmt.Sprintf("%d (%s)", port, name))
				}
			}
			ports[name] = p
		}
		if len(busy) > 0 {
			return nil, fmt.Errorf("ports in use (is another stack running?): %s", strings.Join(busy, ", "))
		}
		return ports, nil
	}
	// Hold every listener until all ports are chosen, so no port is handed out twice.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	next := func() (int, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("choose a free port: %w", err)
		}
		lns = append(lns, ln)
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	for _, name := range Services {
		httpPort, err := next()
		if err != nil {
			return nil, err
		}
		internalPort, err := next()
		if err != nil {
			return nil, err
		}
		ports[name] = Ports{HTTP: httpPort, Internal: internalPort}
	}
	return ports, nil
}

// portFree reports whether a TCP port can be listened on at host.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
