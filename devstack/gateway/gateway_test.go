package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/routes"
)

// echo is what the test upstreams answer: what they received.
type echo struct {
	Service string      `json:"service"`
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	Query   string      `json:"query"`
	Host    string      `json:"host"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
}

func realTable(t *testing.T) *routes.Table {
	t.Helper()
	p, err := routes.Find()
	if err != nil {
		t.Fatal(err)
	}
	table, err := routes.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// echoUpstreams starts one echoing upstream per service of the table.
func echoUpstreams(t *testing.T, table *routes.Table) map[string]string {
	t.Helper()
	ups := make(map[string]string)
	for _, name := range table.ServiceNames() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Connection", "X-Upstream-Hop")
			w.Header().Set("X-Upstream-Hop", "secret")
			w.Header().Set(RequestIDHeader, r.Header.Get(RequestIDHeader)) // services echo it
			_ = json.NewEncoder(w).Encode(echo{
				Service: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
				Host: r.Host, Header: r.Header, Body: string(body),
			})
		}))
		t.Cleanup(srv.Close)
		ups[name] = srv.URL
	}
	return ups
}

// newTestGateway serves a gateway over the real table with echoing upstreams.
func newTestGateway(t *testing.T, mutate func(*Options)) *httptest.Server {
	t.Helper()
	table := realTable(t)
	opts := Options{Table: table, Upstreams: echoUpstreams(t, table), IncludeDev: true}
	if mutate != nil {
		mutate(&opts)
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func get(t *testing.T, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

func decodeEcho(t *testing.T, body []byte) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode upstream echo %q: %v", body, err)
	}
	return e
}

func TestRouting(t *testing.T) {
	withDev := newTestGateway(t, nil)
	withoutDev := newTestGateway(t, func(o *Options) { o.IncludeDev = false })
	tests := []struct {
		name     string
		srv      *httptest.Server
		path     string // request path and query
		want     string // service; "" = 404
		wantPath string // path the upstream sees; "" = the request path
	}{
		{name: "profile", srv: withDev, path: "/api/v1/me", want: "profile"},
		{name: "identity exact", srv: withDev, path: "/api/v1/me/password", want: "identity"},
		{name: "identity prefix", srv: withDev, path: "/api/v1/me/verify-email/confirm", want: "identity"},
		{name: "auth me", srv: withDev, path: "/api/v1/auth/me", want: "profile"},
		{name: "login", srv: withDev, path: "/api/v1/auth/login", want: "identity"},
		{name: "sessions revoke", srv: withDev, path: "/api/v1/auth/sessions/revoke", want: "session"},
		{name: "account sessions", srv: withDev, path: "/api/v1/account/sessions/abc", want: "session"},
		{name: "security info", srv: withDev, path: "/api/v1/account/security-info", want: "identity"},
		{name: "jwks", srv: withDev, path: "/.well-known/jwks.json", want: "session"},
		{name: "openid configuration", srv: withDev, path: "/.well-known/openid-configuration", want: "session"},
		{name: "query kept", srv: withDev, path: "/api/v1/account/sessions?page=2&size=10", want: "session", wantPath: "/api/v1/account/sessions"},
		{name: "outbox dev", srv: withDev, path: "/api/v1/dev/outbox", want: "notification"},
		{name: "outbox not dev", srv: withoutDev, path: "/api/v1/dev/outbox", want: ""},
		{name: "segment boundary", srv: withDev, path: "/api/v1/meh", want: ""},
		{name: "root", srv: withDev, path: "/", want: ""},
		{name: "internal api not routed", srv: withDev, path: "/internal/v1/sessions", want: ""},
		{name: "dot segments cleaned", srv: withDev, path: "/api/v1/me/../auth/login", want: "identity", wantPath: "/api/v1/auth/login"},
		{name: "double slash cleaned", srv: withDev, path: "/api/v1//me//password", want: "identity", wantPath: "/api/v1/me/password"},
		{name: "trailing slash kept", srv: withDev, path: "/api/v1/me/./password/", want: "profile", wantPath: "/api/v1/me/password/"},
		{name: "escape attempt", srv: withDev, path: "/api/v1/me/../../../internal/v1/sessions", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Build the URL by hand: http.NewRequest would keep dot segments, which is what we want.
			resp, body := get(t, tt.srv.URL+tt.path, nil)
			if tt.want == "" {
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("status = %d, want 404; body %s", resp.StatusCode, body)
				}
				if got := strings.TrimSpace(string(body)); got != `{"detail":"Not Found"}` {
					t.Fatalf("body = %s", got)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Fatalf("Content-Type = %q", ct)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %s", resp.StatusCode, body)
			}
			e := decodeEcho(t, body)
			if e.Service != tt.want {
				t.Fatalf("served by %s, want %s", e.Service, tt.want)
			}
			wantPath, wantQuery, _ := strings.Cut(tt.path, "?")
			if tt.wantPath != "" {
				wantPath = tt.wantPath
			}
			if e.Path != wantPath || e.Query != wantQuery {
				t.Fatalf("upstream saw %s?%s, want %s?%s", e.Path, e.Query, wantPath, wantQuery)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	untrusted := newTestGateway(t, nil)
	trusted := newTestGateway(t, func(o *Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	tests := []struct {
		name    string
		srv     *httptest.Server
		header  http.Header
		wantXFF string
	}{
		{name: "set", srv: untrusted, wantXFF: "127.0.0.1"},
		{name: "client value replaced", srv: untrusted, header: http.Header{"X-Forwarded-For": {"6.6.6.6"}}, wantXFF: "127.0.0.1"},
		{name: "trusted proxy extended", srv: trusted, header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}, wantXFF: "203.0.113.7, 127.0.0.1"},
		{name: "trusted proxy without header", srv: trusted, wantXFF: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tt.srv.URL+"/api/v1/me", tt.header)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			e := decodeEcho(t, body)
			host := strings.TrimPrefix(tt.srv.URL, "http://")
			checks := []struct{ name, got, want string }{
				{"X-Forwarded-For", e.Header.Get("X-Forwarded-For"), tt.wantXFF},
				{"X-Forwarded-Proto", e.Header.Get("X-Forwarded-Proto"), "http"},
				{"X-Forwarded-Host", e.Header.Get("X-Forwarded-Host"), host},
				{"Host", e.Host, host},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	srv := newTestGateway(t, nil)
	tests := []struct {
		name     string
		sent     string
		wantSame bool
	}{
		{name: "generated when absent", sent: ""},
		{name: "passed on", sent: "abc-123", wantSame: true},
		{name: "replaced when too long", sent: strings.Repeat("a", 129)},
		{name: "replaced when it has spaces", sent: "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.sent != "" {
				h.Set(RequestIDHeader, tt.sent)
			}
			for _, path := range []string{"/api/v1/me", "/nowhere"} {
				resp, body := get(t, srv.URL+path, h)
				got := resp.Header.Values(RequestIDHeader)
				if len(got) != 1 {
					t.Fatalf("%s: response X-Request-Id = %q, want exactly one", path, got)
				}
				if tt.wantSame && got[0] != tt.sent {
					t.Fatalf("%s: X-Request-Id = %q, want %q", path, got[0], tt.sent)
				}
				if !tt.wantSame && (got[0] == tt.sent || len(got[0]) != 32) {
					t.Fatalf("%s: X-Request-Id = %q, want a fresh 32-hex id", path, got[0])
				}
				if resp.StatusCode == http.StatusOK {
					if up := decodeEcho(t, body).Header.Get(RequestIDHeader); up != got[0] {
						t.Fatalf("upstream saw X-Request-Id %q, client got %q", up, got[0])
					}
				}
			}
		})
	}
}

func TestHopByHopHeadersStripped(t *testing.T) {
	srv := newTestGateway(t, nil)
	resp, body := get(t, srv.URL+"/api/v1/me", http.Header{
		"Connection":          {"X-Client-Hop"},
		"X-Client-Hop":        {"x"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic eDp5"},
		"Te":                  {"gzip"},
		"Authorization":       {"Bearer token"},
	})
	e := decodeEcho(t, body)
	for _, h := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if v := e.Header.Get(h); v != "" {
			t.Errorf("upstream received hop-by-hop header %s: %q", h, v)
		}
	}
	if got := e.Header.Get("Authorization"); got != "Bearer token" {
		t.Errorf("Authorization = %q, want it passed on", got)
	}
	if v := resp.Header.Get("X-Upstream-Hop"); v != "" {
		t.Errorf("client received upstream hop-by-hop header X-Upstream-Hop: %q", v)
	}
}

func TestRequestBody(t *testing.T) {
	srv := newTestGateway(t, func(o *Options) { o.MaxBodyBytes = 16 })
	tests := []struct {
		name    string
		path    string // "" = /api/v1/auth/login
		body    string
		chunked bool
		want    int
	}{
		{name: "small", body: `{"a":1}`, want: http.StatusOK},
		{name: "at limit", body: strings.Repeat("x", 16), want: http.StatusOK},
		{name: "too large", body: strings.Repeat("x", 17), want: http.StatusRequestEntityTooLarge},
		{name: "too large chunked", body: strings.Repeat("x", 17), chunked: true, want: http.StatusRequestEntityTooLarge},
		{name: "too large, account API", path: "/api/v1/account/login", body: strings.Repeat("x", 17), want: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			path := tt.path
			if path == "" {
				path = "/api/v1/auth/login"
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+path, rd)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == http.StatusOK {
				if got := decodeEcho(t, body).Body; got != tt.body {
					t.Fatalf("upstream got body %q, want %q", got, tt.body)
				}
			} else if tt.path != "" {
				checkEnvelope(t, body, tt.want, "Request body too large")
			} else if got := strings.TrimSpace(string(body)); got != `{"detail":"Request body too large"}` {
				t.Fatalf("body = %s", got)
			}
		})
	}
}

func TestUpstreamFailures(t *testing.T) {
	table := realTable(t)
	// A port nobody listens on: start a server and close it.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name       string
		upstream   string
		path       string
		wantStatus int
		wantBody   string // plain style; "" = check the envelope instead
		wantMsg    string // envelope message
	}{
		{name: "down", upstream: deadURL, path: "/api/v1/me", wantStatus: http.StatusServiceUnavailable, wantBody: `{"detail":"Upstream unavailable"}`},
		{name: "too slow", upstream: slow.URL, path: "/api/v1/me", wantStatus: http.StatusGatewayTimeout, wantBody: `{"detail":"Upstream timed out"}`},
		{name: "down, account API", upstream: deadURL, path: "/api/v1/account/security-info", wantStatus: http.StatusServiceUnavailable, wantMsg: "Upstream unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups := map[string]string{}
			for _, name := range table.ServiceNames() {
				ups[name] = tt.upstream
			}
			transport := NewTransport()
			transport.ResponseHeaderTimeout = 200 * time.Millisecond
			g, err := New(Options{Table: table, Upstreams: ups, Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(g)
			defer srv.Close()
			resp, body := get(t, srv.URL+tt.path, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != "" {
				if got := strings.TrimSpace(string(body)); got != tt.wantBody {
					t.Fatalf("body = %s, want %s", got, tt.wantBody)
				}
			} else {
				checkEnvelope(t, body, tt.wantStatus, tt.wantMsg)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			if len(resp.Header.Values(RequestIDHeader)) != 1 {
				t.Fatalf("X-Request-Id = %q", resp.Header.Values(RequestIDHeader))
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	table := realTable(t)
	all := func(url string) map[string]string {
		m := map[string]string{}
		for _, n := range table.ServiceNames() {
			m[n] = url
		}
		return m
	}
	withoutNotification := all("http://127.0.0.1:1")
	delete(withoutNotification, "notification")
	// A service that serves only dev routes ("tools") needs an upstream only when they are included.
	devOnly, err := routes.Parse([]byte(`
services:
  app: {port: 8081}
  tools: {port: 8084}
routes:
  - {path: /api, pathType: Prefix, service: app}
  - {path: /dev, pathType: Prefix, service: tools, devOnly: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string // "" = no error
	}{
		{name: "no table", opts: Options{}, want: "route table is required"},
		{name: "missing upstream", opts: Options{Table: table, Upstreams: map[string]string{}}, want: "no upstream for service"},
		{name: "not http", opts: Options{Table: table, Upstreams: all("ftp://127.0.0.1:8081")}, want: "not an absolute http(s) URL"},
		{name: "bad upstream", opts: Options{Table: table, Upstreams: all("http://[::1")}, want: "upstream of"},
		{name: "every routed service needs an upstream", opts: Options{Table: table, Upstreams: withoutNotification}, want: `no upstream for service "notification"`},
		{name: "dev upstream only needed with dev routes", opts: Options{Table: devOnly, Upstreams: map[string]string{"app": "http://127.0.0.1:1"}}},
		{name: "dev upstream missing", opts: Options{Table: devOnly, Upstreams: map[string]string{"app": "http://127.0.0.1:1"}, IncludeDev: true}, want: `no upstream for service "tools"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestServerLimits(t *testing.T) {
	table := realTable(t)
	g, err := New(Options{Table: table, Upstreams: echoUpstreams(t, table)})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("127.0.0.1:0", g, nil)
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 {
		t.Fatalf("server without timeouts: %+v", srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	resp, _ := get(t, "http://"+ln.Addr().String()+"/api/v1/me", http.Header{"X-Big": {strings.Repeat("a", 2*MaxHeaderBytes)}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status = %d, want 431", resp.StatusCode)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAccessLog(t *testing.T) {
	var logs syncBuffer
	srv := newTestGateway(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	get(t, srv.URL+"/api/v1/auth/login", http.Header{RequestIDHeader: {"req-1"}})
	get(t, srv.URL+"/nope", http.Header{RequestIDHeader: {"req-2"}})
	out := logs.String()
	for _, want := range []string{
		"path=/api/v1/auth/login service=identity status=200",
		"path=/nope service=\"\" status=404",
		"request_id=req-1", "request_id=req-2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %q:\n%s", want, out)
		}
	}
}

// checkEnvelope asserts the account API's error envelope.
func checkEnvelope(t *testing.T, body []byte, status int, msg string) {
	t.Helper()
	var env struct {
		Success    *bool  `json:"success"`
		HTTPStatus string `json:"httpStatus"`
		Message    string `json:"message"`
		ActionTime string `json:"action_time"`
		Data       string `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	wantStatus := strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	if env.Success == nil || *env.Success || env.HTTPStatus != wantStatus || env.Message != msg || env.Data != msg || env.ActionTime == "" {
		t.Fatalf("body = %s, want the error envelope with %s / %q", body, wantStatus, msg)
	}
}
