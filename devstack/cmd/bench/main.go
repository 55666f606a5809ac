// Command bench measures the local stack under load and writes docs/benchmarks.md; `make bench`
// runs it. It is not part of `make test`.
//
// It builds the four services (without the race detector), then starts, each in its own process so
// that each one's CPU time can be read from /proc/<pid>/stat on its own: the embedded
// MongoDB-compatible server, the embedded Kafka broker, and the stack runner (the gateway plus the
// four service processes). It drives the stack through the gateway on the loopback interface only,
// with bounded request counts and durations, and reports per operation the throughput, p50/p99
// latency and the CPU milliseconds per request of every process, each process's idle and peak RSS
// (VmRSS, VmHWM), the end-to-end OTP delivery latency, the revocation propagation latency, and the
// timing of known versus unknown accounts (user enumeration). Operations that miss their target
// are profiled (PPROF_ENABLED on the services' internal ports) and the top of the profile goes in
// the report.
//
// The process roles (-role mongo, kafka, stack) are internal: bench re-executes itself for them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	role        string
	out         string
	bin         string
	duration    time.Duration
	concurrency int
	logins      int
	otps        int
	revocations int
	enumSamples int
	enumOnly    bool
	profile     bool
	benchtime   string
	env         envFlags
	idle        time.Duration
	signins     int
	replicas    int
	growth      bool
	// role arguments
	dir, mongoURI, brokers, prefix string
}

// envFlags are -env values: SERVICE:KEY=VALUE.
type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, " ") }

func (e *envFlags) Set(v string) error {
	service, kv, ok := strings.Cut(v, ":")
	if k, _, hasEq := strings.Cut(kv, "="); !ok || !hasEq || service == "" || k == "" {
		return fmt.Errorf("want SERVICE:KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

// apply adds the values to a stack's ExtraEnv.
func (e envFlags) apply(env map[string]map[string]string) {
	for _, v := range e {
		service, kv, _ := strings.Cut(v, ":")
		k, value, _ := strings.Cut(kv, "=")
		if env[service] == nil {
			env[service] = map[string]string{}
		}
		env[service][k] = value
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.role, "role", "", "internal: run as the mongo, kafka or stack process")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "report file (Markdown)")
	fs.StringVar(&o.bin, "bin", "", "directory with prebuilt service binaries (default: build them into a temporary directory)")
	fs.DurationVar(&o.duration, "duration", 6*time.Second, "upper bound on the time of each throughput operation")
	fs.IntVar(&o.concurrency, "c", 4, "concurrent clients for the throughput operations")
	fs.IntVar(&o.logins, "logins", 200, "password logins to measure (bounded by -duration too)")
	fs.IntVar(&o.otps, "otps", 100, "OTP requests to follow to the outbox")
	fs.IntVar(&o.revocations, "revocations", 40, "revocations to follow to every service")
	fs.IntVar(&o.enumSamples, "enum-samples", 60, "samples per side of each user-enumeration timing comparison")
	fs.BoolVar(&o.enumOnly, "enum-only", false, "run only the user-enumeration comparison (with -benchtime '' and -out elsewhere, a quick check of those rows)")
	fs.BoolVar(&o.profile, "pprof", true, "profile the services during operations that miss their target")
	fs.DurationVar(&o.idle, "idle", 30*time.Second, "how long the idle stack's CPU is read (0 skips it)")
	fs.IntVar(&o.signins, "signins", 10000, "password sign-ins before the operations are measured again (0 skips them and the rows after them)")
	fs.BoolVar(&o.growth, "growth", true, "measure the growth rows (session list by sessions, login by trusted devices, username search by accounts)")
	fs.IntVar(&o.replicas, "replicas", 1, "processes of every service behind the gateway (round-robin)")
	fs.StringVar(&o.benchtime, "benchtime", "1s", "-benchtime of the Go micro-benchmarks; empty skips them")
	fs.Var(&o.env, "env", "extra service environment as SERVICE:KEY=VALUE (SERVICE may be *), repeatable; e.g. -env identity:GOMEMLIMIT=48MiB")
	fs.StringVar(&o.dir, "dir", "", "internal: data directory of a role")
	fs.StringVar(&o.mongoURI, "mongo", "", "internal: MongoDB URI for the stack role")
	fs.StringVar(&o.brokers, "brokers", "", "internal: Kafka brokers for the stack role")
	fs.StringVar(&o.prefix, "prefix", "", "internal: topic prefix")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch o.role {
	case "":
		return bench(ctx, o, args)
	case "mongo":
		return serveMongo(ctx, o)
	case "kafka":
		return serveKafka(ctx, o)
	case "stack":
		return serveStack(ctx, o)
	default:
		return fmt.Errorf("unknown role %q", o.role)
	}
}
