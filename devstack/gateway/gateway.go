// Package gateway is the local stand-in for the cluster's Ingress: an HTTP reverse proxy that sends
// each request to the service the route table (package routes) names for its path.
//
// It behaves like the Ingress controller in front of the services: unmatched paths get 404
// {"detail":"Not Found"} (the gateway's own errors use the path's wire style, package
// libs/platform/wire, like the services' errors); X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host are set (the
// client's own X-Forwarded-For is believed only from TrustedProxies); the Host header is passed
// through; an X-Request-Id is generated when the request has none (or an unusable one) and is passed
// upstream and returned to the client; hop-by-hop headers are dropped; an upstream that is not listening (stopped, or
// restarting) gets 503 {"detail":"Upstream unavailable"} with Retry-After: 1, as an Ingress with no
// ready endpoint answers, and one that fails otherwise 502 {"detail":"Bad gateway"}. A service with
// several replicas (Options.Replicas) gets its requests round-robin, one replica after the other. Request paths with dot segments or repeated slashes are
// cleaned before they are matched and forwarded, so a path cannot be routed by one spelling and
// served by another.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/devstack/routes"
	"github.com/latchkey/latchkey/libs/platform/wire"
)

// Limits and timeouts of the gateway's server and transport.
const (
	// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes is 0 (nginx's default).
	DefaultMaxBodyBytes = 1 << 20
	// MaxHeaderBytes bounds the request line and headers; larger requests get 431.
	MaxHeaderBytes = 64 << 10
	// ReadHeaderTimeout bounds how long a client may take to send the request headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading the whole request, body included.
	ReadTimeout = 60 * time.Second
	// WriteTimeout bounds the whole exchange after the headers were read.
	WriteTimeout = 90 * time.Second
	// IdleTimeout bounds how long a keep-alive connection may idle.
	IdleTimeout = 120 * time.Second
	// UpstreamHeaderTimeout bounds how long an upstream may take to answer; then the client gets 504.
	UpstreamHeaderTimeout = 60 * time.Second
	// RequestIDHeader is the request correlation header.
	RequestIDHeader = "X-Request-Id"
	// maxRequestIDLen is the longest client-supplied request id that is passed on unchanged.
	maxRequestIDLen = 128
)

// Options configures a Gateway.
type Options struct {
	// Table is the route table (required).
	Table *routes.Table
	// Upstreams maps every service of the table to its base URL, e.g. "http://127.0.0.1:8081".
	Upstreams map[string]string
	// Replicas maps a service to the base URLs of its replicas, which take the requests in turn
	// (round-robin, per request, as an Ingress controller balances over a Service's endpoints). A
	// service listed here needs no Upstreams entry; one that is, uses these instead.
	Replicas map[string][]string
	// IncludeDev enables the table's devOnly routes.
	IncludeDev bool
	// TrustedProxies are the client addresses whose X-Forwarded-For is extended instead of replaced.
	// Empty: the gateway is the edge and replaces any X-Forwarded-For the client sent.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes limits request bodies (413 beyond it): 0 means DefaultMaxBodyBytes, negative
	// means no limit. Set it to the services' BODY_LIMIT_BYTES: a service refuses a larger body
	// and closes the connection before reading it, and a proxy still sending the body then sees a
	// reset instead of the service's 413.
	MaxBodyBytes int64
	// Transport carries the upstream requests; nil means a transport with sensible timeouts.
	Transport http.RoundTripper
	// Logger receives one access-log line per request (level Info) and upstream errors; nil
	// discards them.
	Logger *slog.Logger
}

// Gateway is an http.Handler that proxies requests by the route table.
type Gateway struct {
	table      *routes.Table
	includeDev bool
	trusted    []netip.Prefix
	maxBody    int64
	log        *slog.Logger
	proxies    map[string]*httputil.ReverseProxy
}

// New validates the options and builds a Gateway. Every service a route can select must have an
// absolute http or https upstream URL.
func New(opts Options) (*Gateway, error) {
	if opts.Table == nil {
		return nil, errors.New("gateway: route table is required")
	}
	g := &Gateway{
		table:      opts.Table,
		includeDev: opts.IncludeDev,
		trusted:    opts.TrustedProxies,
		maxBody:    opts.MaxBodyBytes,
		log:        opts.Logger,
		proxies:    make(map[string]*httputil.ReverseProxy),
	}
	if g.maxBody == 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport()
	}
	for _, r := range opts.Table.Routes {
		if r.DevOnly && !opts.IncludeDev {
			continue
		}
		if _, done := g.proxies[r.Service]; done {
			continue
		}
		raws := opts.Replicas[r.Service]
		if len(raws) == 0 {
			raw, ok := opts.Upstreams[r.Service]
			if !ok {
				return nil, fmt.Errorf("gateway: no upstream for service %q (route %s)", r.Service, r)
			}
			raws = []string{raw}
		}
		targets := make([]*url.URL, len(raws))
		for i, raw := range raws {
			target, err := url.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("gateway: upstream of %s: %w", r.Service, err)
			}
			if (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
				return nil, fmt.Errorf("gateway: upstream of %s: %q is not an absolute http(s) URL", r.Service, raw)
			}
			targets[i] = target
		}
		g.proxies[r.Service] = g.newProxy(targets, transport)
	}
	return g, nil
}

// NewTransport returns the upstream transport: no proxy from the environment, short dial timeout,
// bounded wait for response headers, keep-alive connections per upstream.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: UpstreamHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// NewServer returns an http.Server for h with the gateway's timeouts and header limit. errorLog
// receives the server's own errors (TLS handshakes, accept failures); nil uses the log package.
func NewServer(addr string, h http.Handler, errorLog *slog.Logger) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
	if errorLog != nil {
		srv.ErrorLog = slog.NewLogLogger(errorLog.Handler(), slog.LevelWarn)
	}
	return srv
}

type ctxKey struct{}

// reqInfo travels in the request context from ServeHTTP to the proxy callbacks.
type reqInfo struct {
	service   string
	requestID string
	path      string // cleaned request path
}

// newProxy proxies to targets, in turn when there are several.
func (g *Gateway) newProxy(targets []*url.URL, transport http.RoundTripper) *httputil.ReverseProxy {
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			info := pr.In.Context().Value(ctxKey{}).(*reqInfo)
			if info.path != pr.In.URL.Path {
				pr.Out.URL.Path, pr.Out.URL.RawPath = info.path, ""
			}
			target := targets[0]
			if len(targets) > 1 {
				target = targets[(next.Add(1)-1)%uint64(len(targets))]
			}
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // like the Ingress controller: the service sees the public host
			if g.isTrusted(pr.In.RemoteAddr) {
				if prior, ok := pr.In.Header["X-Forwarded-For"]; ok {
					pr.Out.Header["X-Forwarded-For"] = append([]string(nil), prior...)
				}
			}
			pr.SetXForwarded()
			pr.Out.Header.Set(RequestIDHeader, info.requestID)
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			// ServeHTTP already set the id the upstream received; an echo would duplicate it.
			resp.Header.Del(RequestIDHeader)
			return nil
		},
		ErrorHandler: g.proxyError,
		ErrorLog:     slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
}

// ServeHTTP routes and proxies one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	info := &reqInfo{requestID: requestID(r.Header.Get(RequestIDHeader)), path: cleanPath(r.URL.Path)}
	w.Header().Set(RequestIDHeader, info.requestID)
	defer func() {
		g.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", info.path),
			slog.String("service", info.service),
			slog.Int("status", rec.status()),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", info.requestID),
		)
	}()

	route, ok := g.table.Match(info.path, g.includeDev)
	if !ok {
		writeError(rec, info.path, http.StatusNotFound, "Not Found")
		return
	}
	info.service = route.Service
	if g.maxBody > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > g.maxBody {
			rec.Header().Set("Connection", "close")
			writeError(rec, info.path, http.StatusRequestEntityTooLarge, "Request body too large")
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, g.maxBody)
	}
	g.proxies[route.Service].ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)))
}

// proxyError answers for an upstream that could not be reached or did not answer in time.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	service, path := "", r.URL.Path
	if info, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		service, path = info.service, info.path
	}
	var (
		tooLarge *http.MaxBytesError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, path, http.StatusRequestEntityTooLarge, "Request body too large")
	case r.Context().Err() != nil:
		// The client went away; nobody is left to answer.
		g.log.Debug("client gone", "service", service, "path", path, "error", err)
		w.WriteHeader(499) // nginx's "client closed request", for the access log only
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		g.log.Warn("upstream timed out", "service", service, "path", path, "error", err)
		writeError(w, path, http.StatusGatewayTimeout, "Upstream timed out")
	case errors.Is(err, syscall.ECONNREFUSED):
		// Nothing listens: the service is stopped or restarting. The request never reached it, so
		// the client may safely try again.
		g.log.Warn("upstream unavailable", "service", service, "path", path, "error", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, path, http.StatusServiceUnavailable, "Upstream unavailable")
	default:
		g.log.Warn("upstream failed", "service", service, "path", path, "error", err)
		writeError(w, path, http.StatusBadGateway, "Bad gateway")
	}
}

func (g *Gateway) isTrusted(remoteAddr string) bool {
	if len(g.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range g.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// writeError writes the gateway's own error in the wire style of the request path, as the services
// do: the account API's envelope under /api/v1/account, a FastAPI-style {"detail": msg} elsewhere.
func writeError(w http.ResponseWriter, path string, status int, msg string) {
	var v any = map[string]string{"detail": msg}
	if wire.StyleFor(path) == wire.Envelope {
		v = wire.EnvelopeBody{
			Success: false, HTTPStatus: wire.StatusName(status), Message: msg,
			ActionTime: wire.ActionTime(time.Now()), Data: msg,
		}
	}
	body, _ := json.Marshal(v) // strings only: always marshals
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// requestID returns the client's request id when it is usable (1-128 visible ASCII characters),
// else a fresh random one.
func requestID(got string) string {
	if len(got) > 0 && len(got) <= maxRequestIDLen {
		ok := true
		for i := 0; i < len(got); i++ {
			if got[i] < 0x21 || got[i] > 0x7e {
				ok = false
				break
			}
		}
		if ok {
			return got
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// cleanPath resolves dot segments and repeated slashes like net/http.ServeMux does, keeping a
// trailing slash (it is significant to Exact routes).
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		return p // "*" (OPTIONS) or an absolute-form oddity: matches nothing
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// recorder remembers the status and size of a response for the access log.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
	if code == 499 { // not a real status: never reaches the wire
		return
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy's fast path while counting bytes.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := io.Copy(r.ResponseWriter, src)
	r.bytes += n
	return n, err
}

// Flush lets streamed responses through.
func (r *recorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController access to the underlying writer (hijacking for upgrades).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
