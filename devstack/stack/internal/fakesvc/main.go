// Command fakesvc stands in for a Latchkey service binary in the stack runner's tests. Its name
// (the binary's base name) is the service it pretends to be.
//
// It serves /readyz and /healthz on INTERNAL_ADDR and, on HTTP_ADDR, answers every request with a
// JSON description of itself: service name, pid, request path and headers, and its environment.
// Knobs (environment): FAKE_EXIT_CODE=n exits with status n at start-up; FAKE_READY_AFTER=duration
// answers /readyz with 503 until then; FAKE_IGNORE_SIGTERM=1 ignores SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Reply is the JSON the public port answers with.
type Reply struct {
	Service string            `json:"service"`
	Pid     int               `json:"pid"`
	Path    string            `json:"path"`
	Header  http.Header       `json:"header"`
	Env     map[string]string `json:"env"`
}

func main() {
	name := filepath.Base(os.Args[0])
	if code := os.Getenv("FAKE_EXIT_CODE"); code != "" {
		n, _ := strconv.Atoi(code)
		fmt.Fprintf(os.Stderr, "%s: configuration invalid: FAKE_EXIT_CODE=%d\n", name, n)
		os.Exit(n)
	}
	if err := run(name); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run(name string) error {
	started := time.Now()
	readyAfter, _ := time.ParseDuration(os.Getenv("FAKE_READY_AFTER"))

	sigs := []os.Signal{syscall.SIGTERM, os.Interrupt}
	if os.Getenv("FAKE_IGNORE_SIGTERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
		sigs = []os.Signal{os.Interrupt}
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()

	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Reply{Service: name, Pid: os.Getpid(), Path: r.URL.Path, Header: r.Header, Env: env})
	})
	internal := http.NewServeMux()
	internal.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	internal.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(started) < readyAfter {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	})

	servers := []*http.Server{
		{Addr: os.Getenv("HTTP_ADDR"), Handler: public, ReadHeaderTimeout: 5 * time.Second},
		{Addr: os.Getenv("INTERNAL_ADDR"), Handler: internal, ReadHeaderTimeout: 5 * time.Second},
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	fmt.Printf("%s listening http=%s internal=%s\n", name, servers[0].Addr, servers[1].Addr)
	fmt.Fprintf(os.Stderr, "%s started (stderr)\n", name)

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Printf("%s shutting down\n", name)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	fmt.Print("bye") // no newline: the stack must still log it
	return nil
}
