// Package httpx builds a service's HTTP side: the public Fiber app with the middleware every request
// goes through (panic recovery, request id, tracing, client IP, access log, metrics, body cap, the one
// wire-style error handler), the internal app (/healthz, /readyz, /metrics and /internal/v1), and a
// Serve that shuts both down gracefully.
package httpx

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/libs/platform/wire"
)

// Options configure a Fiber app.
type Options struct {
	// Pprof mounts Go's profiler at /debug/pprof/ on the internal app (config.Base.Pprof).
	Pprof          bool
	Service        string
	Logger         *slog.Logger
	Metrics        *telemetry.Metrics
	BodyLimit      int
	TrustedProxies []string // CIDRs (or bare IPs) whose X-Forwarded-For is believed
	// LocationHeader is the request header in which the ingress puts the client's approximate location
	// (LOCATION_HEADER); believed only from TrustedProxies, read with ClientLocation. "" : none.
	LocationHeader string
	// Ready, when set, gives the internal app's /readyz more checks, asked for at each probe: the
	// service runtime's own state (shutting down, a failed worker) and checks added after the app
	// was built.
	Ready func() []Check
}

// MaxLocation is how many characters of a location header ClientLocation keeps.
const MaxLocation = 128

const (
	localClientIP = "httpx.client_ip"
	localViaProxy = "httpx.via_trusted_proxy"
	localLocation = "httpx.location"
	headerReqID   = "X-Request-Id"
)

// NewApp returns a Fiber app with Latchkey's middleware and error handler installed. Every answer
// is marked Cache-Control: no-store (and Pragma: no-cache) unless its handler says otherwise.
func NewApp(o Options) (*fiber.App, error) {
	proxies, err := parseNets(o.TrustedProxies)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	app := fiber.New(fiber.Config{
		AppName:               o.Service,
		BodyLimit:             o.BodyLimit,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           90 * time.Second,
		ReadBufferSize:        16 << 10,
		DisableStartupMessage: true,
		// Fiber hands out strings that alias fasthttp's reused buffers. Values kept past the handler
		// (metric labels, span attributes, cache keys such as authn's verified-token cache) would change
		// under our feet, so every value is copied.
		Immutable: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			we := wire.From(err)
			if we.Status >= 500 {
				log.ErrorContext(c.UserContext(), "request failed", "err", err, "method", c.Method(), "path", c.Path())
			}
			return wire.Render(c, we)
		},
	})
	tracer := otel.Tracer("github.com/latchkey/latchkey/libs/platform/httpx")
	app.Use(func(c *fiber.Ctx) (err error) {
		start := time.Now()
		id := c.Get(headerReqID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Set(headerReqID, id)
		c.Locals(localClientIP, clientIP(c, proxies))
		viaProxy := contains(proxies, c.Context().RemoteIP())
		c.Locals(localViaProxy, viaProxy)
		if o.LocationHeader != "" && viaProxy {
			c.Locals(localLocation, truncateRunes(wire.CleanText(strings.TrimSpace(c.Get(o.LocationHeader))), MaxLocation))
		}

		carrier := headerCarrier{c}
		ctx := otel.GetTextMapPropagator().Extract(context.Background(), carrier)
		ctx = telemetry.WithRequestID(ctx, id)
		ctx, span := tracer.Start(ctx, c.Method(), trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		c.SetUserContext(ctx)
		// Answers of the API carry tokens, codes' temp tokens and personal data: no cache may keep
		// them (OWASP ASVS v5 14.3, RFC 6749 section 5.1). A handler may set other caching itself.
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set(fiber.HeaderPragma, "no-cache")

		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "panic serving request", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = wire.Render(c, errors.New("panic"))
			}
		}()
		if err = c.Next(); err != nil {
			if herr := app.ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
			err = nil
		}
		status := c.Response().StatusCode()
		route := c.Route().Path
		span.SetName(c.Method() + " " + route)
		span.SetAttributes(attribute.String("http.request.method", c.Method()), attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
		elapsed := time.Since(start)
		if o.Metrics != nil {
			o.Metrics.HTTPRequests.WithLabelValues(c.Method(), route, strconv.Itoa(status)).Inc()
			o.Metrics.HTTPDuration.WithLabelValues(c.Method(), route).Observe(elapsed.Seconds())
		}
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Int("status", status),
			slog.Duration("duration", elapsed), slog.String("client_ip", ClientIP(c)))
		return nil
	})
	return app, nil
}

// ClientIP is the caller's address: the remote address, or, when that is a trusted proxy, the
// right-most X-Forwarded-For entry that is not a trusted proxy.
func ClientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(localClientIP).(string); ok {
		return ip
	}
	return c.Context().RemoteIP().String()
}

// FromTrustedProxy reports whether the request came straight from a trusted proxy (TRUSTED_PROXIES),
// so headers that only the proxy may set (X-Forwarded-For, a geolocation header) can be believed.
func FromTrustedProxy(c *fiber.Ctx) bool {
	ok, _ := c.Locals(localViaProxy).(bool)
	return ok
}

// ClientLocation is the client's approximate location from Options.LocationHeader (at most
// MaxLocation characters), or "" when no header is configured or the request did not come straight
// from a trusted proxy (a client could set the header itself).
func ClientLocation(c *fiber.Ctx) string {
	loc, _ := c.Locals(localLocation).(string)
	return loc
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	runes := 0
	for i := range s {
		if runes == n {
			return s[:i]
		}
		runes++
	}
	return s
}

func clientIP(c *fiber.Ctx, trusted []*net.IPNet) string {
	remote := c.Context().RemoteIP()
	if !contains(trusted, remote) {
		return remote.String()
	}
	hops := strings.Split(c.Get(fiber.HeaderXForwardedFor), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(hops[i]))
		if ip == nil {
			break
		}
		if !contains(trusted, ip) {
			return ip.String()
		}
	}
	return remote.String()
}

func contains(nets []*net.IPNet, ip net.IP) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func parseNets(specs []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range specs {
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
				s += "/32"
			} else {
				s += "/128"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type headerCarrier struct{ c *fiber.Ctx }

func (h headerCarrier) Get(key string) string { return h.c.Get(key) }
func (h headerCarrier) Set(key, value string) { h.c.Request().Header.Set(key, value) }
func (h headerCarrier) Keys() []string {
	var keys []string
	h.c.Request().Header.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}

var _ propagation.TextMapCarrier = headerCarrier{}

// Check is one readiness probe: a dependency that must answer for the service to take traffic.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// NewInternalApp returns the internal-port app: /healthz (the process is alive), /readyz (every check
// passes within two seconds), /metrics and, with Options.Pprof, /debug/pprof/. Services add /internal/v1 routes guarded by RequireToken.
func NewInternalApp(o Options, checks ...Check) (*fiber.App, error) {
	app, err := NewApp(Options{Service: o.Service, Logger: o.Logger, BodyLimit: o.BodyLimit, TrustedProxies: o.TrustedProxies})
	if err != nil {
		return nil, err
	}
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		results := fiber.Map{}
		ok := true
		all := checks
		if o.Ready != nil {
			all = append(all[:len(all):len(all)], o.Ready()...)
		}
		for _, ch := range all {
			if err := ch.Fn(ctx); err != nil {
				ok = false
				results[ch.Name] = "unavailable"
				o.Logger.WarnContext(ctx, "readiness check failed", "check", ch.Name, "err", err)
				continue
			}
			results[ch.Name] = "ok"
		}
		if !ok {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": results})
		}
		return c.JSON(fiber.Map{"status": "ok", "checks": results})
	})
	if o.Pprof {
		app.Use(pprof.New())
	}
	if o.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(o.Metrics.Gatherer(), promhttp.HandlerOpts{})))
	}
	return app, nil
}

// RequireToken guards the internal API with the shared INTERNAL_API_TOKEN (constant-time compare).
func RequireToken(token config.Secret) fiber.Handler {
	want := []byte("Bearer " + token.Value())
	return func(c *fiber.Ctx) error {
		got := []byte(c.Get(fiber.HeaderAuthorization))
		if token.Value() == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			return wire.Unauthorized("Invalid internal token")
		}
		return c.Next()
	}
}

// Server is one listening app.
type Server struct {
	Name string
	Addr string
	App  *fiber.App
}

// Serve listens on every server's address, serves until ctx is done, then shuts them down, letting
// in-flight requests finish within timeout. A bind failure is returned at once.
func Serve(ctx context.Context, log *slog.Logger, timeout time.Duration, servers ...Server) error {
	lns := make([]net.Listener, 0, len(servers))
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return fmt.Errorf("listen %s on %s: %w", s.Name, s.Addr, err)
		}
		lns = append(lns, ln)
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		log.Info("listening", "server", s.Name, "addr", lns[i].Addr().String())
		go func(s Server, ln net.Listener) {
			if err := s.App.Listener(ln); err != nil {
				errc <- fmt.Errorf("serve %s: %w", s.Name, err)
			}
		}(s, lns[i])
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("shutting down http servers")
	for _, s := range servers {
		if err := s.App.ShutdownWithTimeout(timeout); err != nil {
			log.Warn("http shutdown", "server", s.Name, "err", err)
		}
	}
	return serveErr
}
