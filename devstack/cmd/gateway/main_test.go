package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var routesFile = filepath.Join("..", "..", "..", "charts", "latchkey", "routes.yaml")

func TestRunRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"upstream without url", []string{"-routes", routesFile, "-upstream", "identity"}, "want service=url"},
		{"missing upstreams", []string{"-routes", routesFile, "-upstream", "identity=http://127.0.0.1:1"}, "session"},
		{"no route table", []string{"-routes", "nowhere.yaml"}, "nowhere.yaml"},
		{"stray argument", []string{"-routes", routesFile, "extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%v) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestRunServes starts the gateway against upstreams that answer their own name and checks that
// requests reach the service the route table names, dev-only routes included with -dev.
func TestRunServes(t *testing.T) {
	args := []string{"-routes", routesFile, "-dev"}
	for _, name := range []string{"identity", "session", "profile", "notification"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
		t.Cleanup(srv.Close)
		args = append(args, "-upstream", name+"="+srv.URL)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append(args, "-addr", addr), io.Discard) }()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("/api/v1/me"); code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway never answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/me", "profile"},
		{"/api/v1/me/password", "identity"},
		{"/api/v1/auth/refresh", "session"},
		{"/api/v1/dev/outbox", "notification"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if code, body := get(tc.path); code != http.StatusOK || body != tc.want {
				t.Errorf("GET %s = %d %q, want 200 %q", tc.path, code, body, tc.want)
			}
		})
	}
	if code, _ := get("/nowhere"); code != http.StatusNotFound {
		t.Errorf("GET /nowhere = %d, want 404", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}
