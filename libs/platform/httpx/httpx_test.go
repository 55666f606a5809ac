package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type server struct {
	public, internal string
	stop             context.CancelFunc
	done             chan error
}

func start(t *testing.T, trusted []string, ready func(context.Context) error, routes func(app *fiber.App)) *server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := httpx.Options{Service: "test", Logger: log, Metrics: telemetry.NewMetrics("test"), BodyLimit: 1024, TrustedProxies: trusted}
	app, err := httpx.NewApp(opts)
	if err != nil {
		t.Fatal(err)
	}
	routes(app)
	internal, err := httpx.NewInternalApp(opts, httpx.Check{Name: "dep", Fn: ready})
	if err != nil {
		t.Fatal(err)
	}
	internal.Post("/internal/v1/ping", httpx.RequireToken(config.Secret("0123456789abcdef")), func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"pong": true})
	})
	s := &server{public: freeAddr(t), internal: freeAddr(t), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		s.done <- httpx.Serve(ctx, log, 5*time.Second,
			httpx.Server{Name: "public", Addr: s.public, App: app}, httpx.Server{Name: "internal", Addr: s.internal, App: internal})
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", s.public); err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func call(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp, out
}

func TestPublicApp(t *testing.T) {
	s := start(t, []string{"127.0.0.1"}, func(context.Context) error { return nil }, func(app *fiber.App) {
		app.Post("/api/v1/auth/echo", func(c *fiber.Ctx) error {
			return c.JSON(fiber.Map{"ip": httpx.ClientIP(c)})
		})
		app.Get("/api/v1/account/panic", func(c *fiber.Ctx) error { panic("boom") })
		app.Get("/api/v1/auth/refused", func(c *fiber.Ctx) error { return fiber.ErrUnauthorized })
		app.Get("/api/v1/auth/cacheable", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderCacheControl, "public, max-age=60")
			return c.SendString("ok")
		})
	})
	base := "http://" + s.public

	t.Run("answers are not cached", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"POST", "/api/v1/auth/echo"}, {"GET", "/api/v1/auth/refused"}, {"GET", "/api/v1/account/panic"}, {"GET", "/api/v1/unknown"},
		} {
			resp, _ := call(t, r.method, base+r.path, "{}", nil)
			if cc, pragma := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-store" || pragma != "no-cache" {
				t.Errorf("%s %s (%d): Cache-Control %q Pragma %q, want no-store and no-cache", r.method, r.path, resp.StatusCode, cc, pragma)
			}
		}
		resp, _ := call(t, "GET", base+"/api/v1/auth/cacheable", "", nil)
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=60" {
			t.Errorf("a handler's own caching: Cache-Control %q, want it kept", cc)
		}
	})

	t.Run("request id generated and echoed", func(t *testing.T) {
		resp, _ := call(t, "POST", base+"/api/v1/auth/echo", "{}", nil)
		if len(resp.Header.Get("X-Request-Id")) < 16 {
			t.Fatalf("X-Request-Id = %q, want a generated id", resp.Header.Get("X-Request-Id"))
		}
		resp, _ = call(t, "POST", base+"/api/v1/auth/echo", "{}", map[string]string{"X-Request-Id": "abc-123"})
		if got := resp.Header.Get("X-Request-Id"); got != "abc-123" {
			t.Fatalf("X-Request-Id = %q, want the caller's", got)
		}
		resp, _ = call(t, "POST", base+"/api/v1/auth/echo", "{}", map[string]string{"X-Request-Id": "bad id with spaces"})
		if got := resp.Header.Get("X-Request-Id"); got == "bad id with spaces" || got == "" {
			t.Fatalf("X-Request-Id = %q, want a fresh id for an unsafe one", got)
		}
	})
	t.Run("client ip from the trusted proxy chain", func(t *testing.T) {
		_, body := call(t, "POST", base+"/api/v1/auth/echo", "{}", map[string]string{"X-Forwarded-For": "203.0.113.9, 198.51.100.7, 127.0.0.1"})
		if body["ip"] != "198.51.100.7" {
			t.Fatalf("ip = %v, want the right-most untrusted hop", body["ip"])
		}
	})
	t.Run("oversized body is a 413 in style", func(t *testing.T) {
		resp, body := call(t, "POST", base+"/api/v1/auth/echo", `{"x":"`+strings.Repeat("a", 4096)+`"}`, nil)
		if resp.StatusCode != 413 || body["detail"] != "Request body too large" {
			t.Fatalf("got %d %v", resp.StatusCode, body)
		}
	})
	t.Run("panic is a 500 envelope without details", func(t *testing.T) {
		resp, body := call(t, "GET", base+"/api/v1/account/panic", "", nil)
		if resp.StatusCode != 500 || body["httpStatus"] != "INTERNAL_SERVER_ERROR" || strings.Contains(body["message"].(string), "boom") {
			t.Fatalf("got %d %v", resp.StatusCode, body)
		}
	})
	t.Run("metrics count requests", func(t *testing.T) {
		resp, err := http.Get("http://" + s.internal + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(raw), `latchkey_http_requests_total{method="POST",route="/api/v1/auth/echo",status="200"}`) {
			t.Fatalf("metrics lack the echo route counter:\n%s", grepLatch(string(raw)))
		}
	})
}

func TestClientIPIgnoresForwardedFromUntrustedPeers(t *testing.T) {
	s := start(t, []string{"10.0.0.0/8"}, func(context.Context) error { return nil }, func(app *fiber.App) {
		app.Get("/ip", func(c *fiber.Ctx) error { return c.SendString(httpx.ClientIP(c)) })
	})
	req, _ := http.NewRequest("GET", "http://"+s.public+"/ip", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if string(raw) != "127.0.0.1" {
		t.Fatalf("ip = %s, want the peer address", raw)
	}
}

func TestFromTrustedProxy(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		want    string
	}{
		{"peer is a trusted proxy", []string{"127.0.0.1"}, "true"},
		{"peer is not a trusted proxy", []string{"10.0.0.0/8"}, "false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.trusted, func(context.Context) error { return nil }, func(app *fiber.App) {
				app.Get("/via", func(c *fiber.Ctx) error { return c.SendString(strconv.FormatBool(httpx.FromTrustedProxy(c))) })
			})
			resp, err := http.Get("http://" + s.public + "/via")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if string(raw) != tc.want {
				t.Fatalf("FromTrustedProxy = %s, want %s", raw, tc.want)
			}
		})
	}
}

func TestInternalApp(t *testing.T) {
	healthy := true
	s := start(t, nil, func(context.Context) error {
		if healthy {
			return nil
		}
		return errors.New("down")
	}, func(*fiber.App) {})
	base := "http://" + s.internal
	if resp, _ := call(t, "GET", base+"/healthz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	if resp, body := call(t, "GET", base+"/readyz", "", nil); resp.StatusCode != 200 || body["status"] != "ok" {
		t.Fatalf("readyz = %d %v", resp.StatusCode, body)
	}
	healthy = false
	if resp, body := call(t, "GET", base+"/readyz", "", nil); resp.StatusCode != 503 || body["checks"].(map[string]any)["dep"] != "unavailable" {
		t.Fatalf("readyz = %d %v, want 503", resp.StatusCode, body)
	}
	tests := []struct {
		name string
		auth string
		want int
	}{
		{"no token", "", 401}, {"wrong token", "Bearer nope", 401}, {"right token", "Bearer 0123456789abcdef", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := call(t, "POST", base+"/internal/v1/ping", "", map[string]string{"Authorization": tc.auth})
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestServeFinishesInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	s := start(t, nil, func(context.Context) error { return nil }, func(app *fiber.App) {
		app.Get("/slow", func(c *fiber.Ctx) error {
			close(started)
			time.Sleep(300 * time.Millisecond)
			return c.SendString("done")
		})
	})
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + s.public + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		result <- string(raw)
	}()
	<-started
	s.stop()
	if got := <-result; got != "done" {
		t.Fatalf("in-flight request got %q, want it finished", got)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	s.done <- nil // for the cleanup
	if _, err := net.DialTimeout("tcp", s.public, 200*time.Millisecond); err == nil {
		t.Fatal("public port still accepts connections after shutdown")
	}
}

func grepLatch(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "latchkey") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
