// Command gateway runs the local gateway (package gateway) on its own, in front of services that run
// elsewhere: the dev cluster that `tilt up` builds uses it in place of an ingress controller, so the
// cluster routes by the same route table as `make run`, dev-only routes included.
//
//	gateway -addr :8080 -routes charts/latchkey/routes.yaml -dev \
//	  -upstream identity=http://latchkey-identity:8081 -upstream session=http://latchkey-session:8082 ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/devstack/gateway"
	"github.com/latchkey/latchkey/devstack/routes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
}

// upstreams collects repeated -upstream service=url flags.
type upstreams map[string]string

func (u upstreams) String() string { return fmt.Sprint(map[string]string(u)) }

func (u upstreams) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok || name == "" || url == "" {
		return fmt.Errorf("want service=url, got %q", v)
	}
	u[name] = url
	return nil
}

// run serves the gateway until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8080", "listen address")
	routesFile := fs.String("routes", routes.DefaultPath, "route table")
	dev := fs.Bool("dev", false, "also route the table's devOnly paths")
	up := upstreams{}
	fs.Var(up, "upstream", "service=base URL, once per service of the route table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	table, err := routes.Load(*routesFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	gw, err := gateway.New(gateway.Options{Table: table, Upstreams: up, IncludeDev: *dev, Logger: log})
	if err != nil {
		return fmt.Errorf("build gateway: %w", err)
	}
	srv := gateway.NewServer(*addr, gw, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("gateway listening", "addr", *addr, "routes", *routesFile, "dev", *dev)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
