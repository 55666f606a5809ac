package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
	"github.com/latchkey/latchkey/libs/devinfra/mongoserver"
	"github.com/latchkey/latchkey/libs/platform/events"
)

// readyLine is what a role process prints on stdout once it serves.
type readyLine struct {
	MongoURI  string              `json:"mongo_uri,omitempty"`
	Brokers   []string            `json:"brokers,omitempty"`
	Gateway   string              `json:"gateway,omitempty"`
	Pids      map[string][]int    `json:"pids,omitempty"`      // per service, one per replica
	Internals map[string][]string `json:"internals,omitempty"` // per service, one per replica
	Publics   map[string][]string `json:"publics,omitempty"`   // per service, one per replica
	Commands  string              `json:"commands,omitempty"`  // the mongo role's command counts (GET, JSON)
}

const readyPrefix = "BENCH-READY "

// untilParentGone returns a context that ends with ctx or when stdin closes: the parent holds the
// other end of the pipe, so a role process never outlives a crashed bench.
func untilParentGone(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx
}

func announce(r readyLine) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(os.Stdout, "%s%s\n", readyPrefix, raw)
	return err
}

func serveMongo(ctx context.Context, o options) error {
	ctx = untilParentGone(ctx)
	var counts commandCounts
	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: o.dir, Addr: "127.0.0.1:0",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnCommand: counts.add,
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	countsURL, err := counts.serve(ctx)
	if err != nil {
		return err
	}
	if err := announce(readyLine{MongoURI: srv.URI(), Commands: countsURL}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func serveKafka(ctx context.Context, o options) error {
	ctx = untilParentGone(ctx)
	topics := make([]string, len(events.AllTopics))
	for i, t := range events.AllTopics {
		topics[i] = o.prefix + t
	}
	srv, err := kafkaserver.Start(kafkaserver.Options{Dir: o.dir, Partitions: stack.KafkaPartitions, Topics: topics})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := announce(readyLine{Brokers: srv.Brokers()}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// benchEnv is the services' configuration for the benchmark: the profiler on the internal port,
// and identity's abuse throttles raised, since one load generator stands in for many clients (the
// throttles' own database work is still measured: every request still goes through them).
var benchEnv = map[string]map[string]string{
	stack.AllServices: {"PPROF_ENABLED": "true"},
	stack.Identity: {
		"OTP_RESEND_COOLDOWN":                 "1ms",
		"OTP_MAX_PER_DESTINATION_PER_HOUR":    "1000000",
		"OTP_MAX_PER_ACCOUNT_PER_HOUR":        "1000000",
		"LOGIN_MAX_FAILURES_PER_ACCOUNT":      "1000000",
		"LOGIN_MAX_PER_IP":                    "1000000",
		"OTP_VERIFY_MAX_PER_IP":               "1000000",
		"OTP_VERIFY_MAX_FAILURES_PER_ACCOUNT": "1000000",
		"OTP_SEND_MAX_PER_IP":                 "1000000",
		"LOGIN_BACKOFF_FREE_FAILURES":         "1000000",
		"REGISTRATION_MAX_PER_IP":             "1000000",
		"REGISTRATION_MAX_PER_EMAIL":          "1000000",
		"REGISTRATION_MAX_PER_DOMAIN":         "1000000",
		"REGISTRATION_MAX_GLOBAL":             "1000000",
		"USERNAME_LOOKUP_MAX_PER_IP":          "1000000",
	},
	// The growth rows trust a hundred devices of one account, each with a code to its address.
	stack.Notification: {"SEND_LIMIT_PER_DESTINATION": "off"},
}

func serveStack(ctx context.Context, o options) error {
	ctx = untilParentGone(ctx)
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	env := map[string]map[string]string{}
	for name, vars := range benchEnv {
		env[name] = maps.Clone(vars)
	}
	o.env.apply(env)
	st, err := stack.Start(startCtx, stack.Config{
		BinDir:            o.bin,
		GatewayAddr:       "127.0.0.1:0",
		MongoURI:          o.mongoURI,
		Brokers:           strings.Split(o.brokers, ","),
		TopicPrefix:       o.prefix,
		DevOutbox:         true,
		TrustForwardedFor: true,
		Replicas:          o.replicas,
		ExtraEnv:          env,
		LogLevel:          "warn",
		Stdout:            io.Discard, // the gateway's access log: a line per request would skew its CPU
		Stderr:            os.Stderr,
	})
	if err != nil {
		return err
	}
	r := readyLine{Gateway: st.GatewayURL(), Pids: map[string][]int{}, Internals: map[string][]string{}, Publics: map[string][]string{}}
	for _, name := range stack.Services {
		r.Pids[name] = st.Pids(name)
		for i := range st.Replicas(name) {
			r.Internals[name] = append(r.Internals[name], st.ReplicaInternalURL(name, i))
			r.Publics[name] = append(r.Publics[name], st.ReplicaURL(name, i))
		}
	}
	if err := announce(r); err != nil {
		return err
	}
	<-ctx.Done()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	return st.Stop(stopCtx)
}

// role is a running role process.
type role struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready readyLine
	done  chan error
}

// startRole re-executes this binary as a role process and waits for its ready line.
func startRole(ctx context.Context, name string, args ...string) (*role, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{"-role", name}, args...)...)
	cmd.Stderr = &prefixWriter{prefix: "[" + name + "] ", w: os.Stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r := &role{name: name, cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), readyPrefix); ok {
				lines <- rest
			}
		}
		r.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &r.ready); err != nil {
			r.stop()
			return nil, fmt.Errorf("%s: ready line: %w", name, err)
		}
		return r, nil
	case err := <-r.done:
		return nil, fmt.Errorf("%s exited before it was ready: %v", name, err)
	case <-ctx.Done():
		r.stop()
		return nil, ctx.Err()
	case <-time.After(3 * time.Minute):
		r.stop()
		return nil, fmt.Errorf("%s not ready after 3 minutes", name)
	}
}

func (r *role) pid() int { return r.cmd.Process.Pid }

// stop closes the role's stdin (it shuts down) and waits, killing it after 40 seconds.
func (r *role) stop() {
	_ = r.stdin.Close()
	select {
	case <-r.done:
	case <-time.After(40 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
}

// prefixWriter prefixes every write (role processes log whole lines) with the role's name.
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			_, _ = io.WriteString(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}

func dataDir(root, name string) (string, error) {
	dir := filepath.Join(root, name)
	return dir, os.MkdirAll(dir, 0o755)
}
