// Command devstack runs the whole Latchkey stack on this machine; `make run` starts it.
//
// It starts the embedded MongoDB-compatible server and Kafka broker (data kept under -data), the
// four service binaries from -bin (-replicas processes of each) and the gateway on -addr, with the
// dev outbox enabled. Service logs go to stdout, each line prefixed with the service name (and the
// replica's number, identity-1, identity-2, with -replicas above 1). Ctrl-C or SIGTERM stops everything
// and exits 0; a second Ctrl-C exits at once (the services die with this process).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/devinfra/githubtest"
	"github.com/latchkey/latchkey/libs/devinfra/hibptest"
	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

// stopTimeout is how long the services get to stop after Ctrl-C.
const stopTimeout = 20 * time.Second

func main() {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stopSignals() // after the first signal, a second Ctrl-C ends the process at once
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "devstack: %v\n", err)
		os.Exit(1)
	}
}

// run starts the stack and stops it when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin", "directory holding the identity, session, profile and notification binaries")
	data := fs.String("data", ".data", "directory for the embedded MongoDB and Kafka data (kept between runs)")
	addr := fs.String("addr", stack.DefaultGatewayAddr, "gateway listen address")
	routesFile := fs.String("routes", "", "route table (default: charts/latchkey/routes.yaml above the working directory)")
	logLevel := fs.String("log-level", "info", "services' LOG_LEVEL: debug, info, warn or error")
	secureKafka := fs.Bool("secure-kafka", false, "run the embedded Kafka broker with TLS and SASL SCRAM-SHA-512, as production clusters run, and configure the services for it")
	replicas := fs.Int("replicas", 1, "processes of every service: with more than one, the gateway balances each service's routes over its replicas round-robin and the services reach each other through a connection balancer per service, as Kubernetes Services do")
	withOIDC := fs.Bool("oidc", false, "run a local OpenID Connect issuer and point identity's Google and Apple sign-in at it, and a local GitHub API for GitHub access tokens")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *replicas < 1 {
		return fmt.Errorf("-replicas %d: want 1 or more", *replicas)
	}

	fmt.Fprintln(stdout, "Starting Latchkey ...")
	extraEnv := map[string]map[string]string{}
	oidcNote := ""
	if *withOIDC {
		iss, err := oidctest.Start()
		if err != nil {
			return err
		}
		defer iss.Close()
		env := iss.Env("google", oidctest.DevClientID)
		maps.Copy(env, iss.Env("apple", oidctest.DevClientID))
		// GitHub's API (check-a-token, GET /user) for access-token linking and sign-in; identity gets
		// the local app's client id and secret, so tokens minted for it (the default) are accepted.
		gh := githubtest.Start()
		defer gh.Close()
		maps.Copy(env, gh.Env())
		extraEnv["identity"] = env
		oidcNote = fmt.Sprintf("  oidc:        %[1]s (Google and Apple; mint an ID token: curl -s -X POST %[1]s/token -d '{\"sub\":\"g-1\",\"email\":\"you@example.com\"}')\n", iss.URL)
		oidcNote += fmt.Sprintf("               (a Google access token for our app: curl -s -X POST %[1]s/dev/access-token -d '{\"sub\":\"g-1\",\"email\":\"you@example.com\"}'; add \"aud\":\"other\" for another app's, which is refused)\n", iss.URL)
		oidcNote += fmt.Sprintf("  github api:  %[1]s (an access token for our app: curl -s -X POST %[1]s/dev/token -d '{\"id\":1,\"email\":\"you@example.com\"}'; add \"client_id\":\"%[2]s\" for another app's, which is refused)\n", gh.URL, githubtest.ForeignClientID)
	}
	st, err := stack.Start(ctx, stack.Config{
		ExtraEnv:    extraEnv,
		BinDir:      *bin,
		DataDir:     *data,
		GatewayAddr: *addr,
		DevOutbox:   true,
		Stdout:      stdout,
		Stderr:      stdout, // one stream, in order: services log JSON to both
		LogLevel:    *logLevel,
		RoutesFile:  *routesFile,
		SecureKafka: *secureKafka,
		Replicas:    *replicas,
	})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "Interrupted during start-up.")
			return nil
		}
		return err
	}
	fmt.Fprintf(stdout, `
Latchkey is running.
  gateway:     %[1]s
  dev outbox:  %[1]s/api/v1/dev/outbox
  data:        %[2]s
  replicas:    %[9]d of every service
  breaches:    %[4]s (a local Pwned Passwords range API: these passwords count as breached: %[5]s)
  mongodb:     %[6]s (identity's database: %[7]s)
  admin API:   %[1]s/api/v1/admin (make an account an operator: MONGODB_URI='%[6]s' MONGODB_DATABASE=%[7]s %[8]s admin grant --email you@example.com --role admin)
%[3]sPress Ctrl-C to stop.

`, st.GatewayURL(), *data, oidcNote, st.BreachedPasswordsURL(), strings.Join(hibptest.DevPasswords, " "),
		st.MongoURI(), st.Database("identity"), filepath.Join(*bin, "identity"), *replicas)

	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping Latchkey ...")
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := st.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Fprintln(stdout, "Stopped.")
	return nil
}
