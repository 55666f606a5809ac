package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

// Process names in report order: the four services, then the infrastructure.
const (
	procGateway = "gateway"
	procMongo   = "mongodb"
	procKafka   = "kafka"
)

var procOrder = []string{stack.Identity, stack.Session, stack.Profile, stack.Notification, procGateway, procMongo, procKafka}

// opResult is one measured operation.
type opResult struct {
	name     string
	command  string // what one request is
	requests int
	errors   int
	firstErr error
	elapsed  time.Duration
	p50, p99 time.Duration
	cpu      map[string]time.Duration // CPU time per process over the whole operation
	commands map[string]int64         // MongoDB commands over the whole operation, by "db command collection"
	// target: CPU ms per request of the services together (cpuTarget) or p99 latency (latTarget).
	cpuTarget time.Duration
	latTarget time.Duration
	profiled  string // the service profiled during the operation
	profile   string // pprof -top output, kept when the target is missed
	note      string
	analysis  string // where the time goes and what would fix it, shown when the target is missed
}

func (r opResult) cpuPerRequest(names ...string) time.Duration {
	if r.requests == 0 {
		return 0
	}
	var sum time.Duration
	for _, n := range names {
		sum += r.cpu[n]
	}
	return sum / time.Duration(r.requests)
}

func (r opResult) servicesCPU() time.Duration { return r.cpuPerRequest(stack.Services...) }

// systemCPU is the CPU per request of every process: the services, the gateway, the database and
// the broker.
func (r opResult) systemCPU() time.Duration { return r.cpuPerRequest(procOrder...) }

func (r opResult) missed() bool {
	if r.cpuTarget > 0 && r.servicesCPU() > r.cpuTarget {
		return true
	}
	return r.latTarget > 0 && r.p99 > r.latTarget
}

// benchRun holds the running stack and what was measured.
type benchRun struct {
	o         options
	c         *client
	procs     procs
	internals map[string][]string // each service's replicas' internal URLs
	publics   map[string][]string // each service's replicas' public URLs
	results   []opResult
	enum      []enumResult
	idleRSS   map[string]int64
	peakRSS   map[string]int64
	binDir    string
	tmp       string
	micro     string // go test -bench output
	microCmd  string
	mongoURI  string
	// commandsURL serves the embedded server's command counts (see commandCounts).
	commandsURL string

	readers, loginers, refreshers []account
	refreshTokens                 []string // each refresher's current refresh token

	idle       idleResult
	idleAfter  idleResult // idle again, after the sign-ins
	growthRows []growthRow
	signedIn   int           // sign-ins of the crowd
	settled    time.Duration // how long the stack took to settle after them
	after      []opResult    // the first four results again, after the sign-ins
}

// microPackages hold the hot-path micro-benchmarks: token verification (and the middleware around
// it), token issuing, argon2id at the production parameters, and envelope rendering.
var microPackages = []string{
	"./libs/platform/authn",
	"./services/session/internal/token",
	"./services/identity/internal/password",
	"./libs/platform/wire",
}

// microBenchmarks runs the Go micro-benchmarks with allocation counts, before the stack starts so
// they have the machine to themselves.
func (b *benchRun) microBenchmarks(ctx context.Context) error {
	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", b.o.benchtime, "-count", "1"}, microPackages...)
	b.microCmd = "go " + strings.Join(args, " ")
	fmt.Fprintf(os.Stderr, "bench: %s\n", b.microCmd)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("micro-benchmarks: %w\n%s", err, out)
	}
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
			keep = append(keep, line)
		}
	}
	b.micro = strings.Join(keep, "\n") + "\n"
	return nil
}

func bench(ctx context.Context, o options, args []string) error {
	started := time.Now()
	tmp, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &benchRun{o: o, tmp: tmp, binDir: o.bin}
	if b.binDir == "" {
		b.binDir = filepath.Join(tmp, "bin")
		fmt.Fprintln(os.Stderr, "bench: building the services ...")
		buildCtx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		err := stack.Build(buildCtx, b.binDir, stack.BuildOptions{})
		cancel()
		if err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	if !filepath.IsAbs(b.binDir) {
		if b.binDir, err = filepath.Abs(b.binDir); err != nil {
			return err
		}
	}

	if o.benchtime != "" {
		if err := b.microBenchmarks(ctx); err != nil {
			return err
		}
	}

	fmt.Fprintln(os.Stderr, "bench: starting MongoDB, Kafka and the stack ...")
	mongoDir, err := dataDir(tmp, "mongo")
	if err != nil {
		return err
	}
	kafkaDir, err := dataDir(tmp, "kafka")
	if err != nil {
		return err
	}
	mongo, err := startRole(ctx, "mongo", "-dir", mongoDir)
	if err != nil {
		return err
	}
	defer mongo.stop()
	kafka, err := startRole(ctx, "kafka", "-dir", kafkaDir)
	if err != nil {
		return err
	}
	defer kafka.stop()
	stackArgs := []string{"-bin", b.binDir, "-mongo", mongo.ready.MongoURI, "-brokers", strings.Join(kafka.ready.Brokers, ","), "-replicas", fmt.Sprint(o.replicas)}
	for _, e := range o.env {
		stackArgs = append(stackArgs, "-env", e)
	}
	st, err := startRole(ctx, "stack", stackArgs...)
	if err != nil {
		return err
	}
	defer st.stop()

	b.procs = procs{names: procOrder, pids: map[string][]int{procGateway: {st.pid()}, procMongo: {mongo.pid()}, procKafka: {kafka.pid()}}}
	for name, pids := range st.ready.Pids {
		b.procs.pids[name] = pids
	}
	b.internals, b.publics = st.ready.Internals, st.ready.Publics
	b.mongoURI = mongo.ready.MongoURI
	b.commandsURL = mongo.ready.Commands
	b.c = newClient(st.ready.Gateway, o.concurrency)
	if b.idleRSS, _, err = b.memory(); err != nil {
		return err
	}

	if err := b.runAll(ctx); err != nil {
		return err
	}
	if _, b.peakRSS, err = b.memory(); err != nil {
		return err
	}
	report := b.report(args, time.Since(started))
	if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.out)
	fmt.Print(report)
	return nil
}

// memory reads every process's RSS and peak RSS; with replicas, the largest replica's.
func (b *benchRun) memory() (rss, peak map[string]int64, err error) {
	rss, peak = map[string]int64{}, map[string]int64{}
	for _, n := range b.procs.names {
		for _, pid := range b.procs.pids[n] {
			r, p, err := memory(pid)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", n, err)
			}
			rss[n], peak[n] = max(rss[n], r), max(peak[n], p)
		}
	}
	return rss, peak, nil
}

// registerMany signs n accounts up, four at a time.
func (b *benchRun) registerMany(ctx context.Context, prefix string, n int) ([]account, error) {
	out := make([]account, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = b.c.register(ctx, fmt.Sprintf("%s%03d", prefix, i))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
	}
	return out, nil
}

// measure runs one throughput operation, reading every process's CPU time before and after it and
// profiling the service that serves it meanwhile.
func (b *benchRun) measure(ctx context.Context, r opResult, workers, count int, op func(ctx context.Context, worker, i int) (time.Duration, error)) (opResult, error) {
	fmt.Fprintf(os.Stderr, "bench: %s ...\n", r.name)
	before, err := b.procs.cpuSnapshot()
	if err != nil {
		return r, err
	}
	cmdsBefore, err := b.commandSnapshot(ctx)
	if err != nil {
		return r, err
	}
	var prof chan string
	if b.o.profile && r.profiled != "" {
		prof = make(chan string, 1)
		seconds := max(1, int(b.o.duration.Seconds())-1)
		go func() { prof <- b.cpuProfile(ctx, r.profiled, seconds) }()
	}
	lat, elapsed := closedLoop(ctx, workers, count, b.o.duration, op)
	after, err := b.procs.cpuSnapshot()
	if err != nil {
		return r, err
	}
	cmdsAfter, err := b.commandSnapshot(ctx)
	if err != nil {
		return r, err
	}
	r.commands = map[string]int64{}
	for k, n := range cmdsAfter {
		if d := n - cmdsBefore[k]; d > 0 {
			r.commands[k] = d
		}
	}
	if prof != nil {
		r.profile = <-prof
	}
	r.cpu = map[string]time.Duration{}
	for n := range after {
		r.cpu[n] = after[n] - before[n]
	}
	r.requests, r.errors, r.firstErr, r.elapsed = len(lat.values), lat.errors, lat.first, elapsed
	r.p50, r.p99 = lat.quantile(0.50), lat.quantile(0.99)
	if r.firstErr != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %d errors, first: %v\n", r.name, r.errors, r.firstErr)
	}
	return r, nil
}

// cpuProfile takes a CPU profile of the service and returns the top of it as text.
func (b *benchRun) cpuProfile(ctx context.Context, service string, seconds int) string {
	base, binary := "", filepath.Join(b.binDir, service)
	if service == procMongo {
		base = strings.TrimSuffix(b.commandsURL, "/")
		binary, _ = os.Executable() // the mongo role is this binary
	} else {
		base = b.internals[service][0] // the first replica
	}
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	path := filepath.Join(b.tmp, fmt.Sprintf("%s-%d.pprof", service, time.Now().UnixNano()))
	f, err := os.Create(path)
	if err != nil {
		return err.Error()
	}
	_, err = io.Copy(f, resp.Body)
	_ = f.Close()
	if err != nil {
		return err.Error()
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=30", binary, path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
	}
	return string(out)
}
