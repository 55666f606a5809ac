package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

// rssTarget is the bound on each service's RSS under load.
const rssTarget = 64 << 20

// report renders docs/benchmarks.md.
func (b *benchRun) report(args []string, took time.Duration) string {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }
	cmd := "make bench"
	if len(args) > 0 {
		cmd = "go run ./devstack/cmd/bench " + strings.Join(args, " ")
	}
	p("# Benchmarks\n\n")
	p("Produced by `%s` (devstack/cmd/bench) on %s, in %s. Do not edit by hand: run it again.\n\n", cmd, time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	p("Machine: %d CPUs (%s), %s, %s/%s, %s. The load generator runs on the same machine.\n\n", runtime.NumCPU(), cpuModel(), memTotal(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	p("Set-up: the four services built without the race detector, each its own process; the gateway (in the stack runner), the embedded MongoDB-compatible server (FerretDB on SQLite behind the write-serialising proxy) and the embedded Kafka broker (kfake) each in their own process too, so each one's CPU time is read from its own `/proc/<pid>/stat` (utime+stime, 10 ms resolution) before and after every operation. ")
	p("Clients: %d concurrent closed-loop clients over keep-alive connections on 127.0.0.1, each operation bounded by %s and by its request count. ", b.o.concurrency, b.o.duration)
	p("Identity's abuse throttles are raised for the run (one generator stands in for many clients; every request still pays for the throttle bookkeeping) and each request carries its own X-Forwarded-For address.\n\n")

	p("## Operations\n\n")
	p("CPU columns are milliseconds of CPU per successful request; *services* is the four services together, the figure the targets apply to; *system* adds the gateway, the MongoDB-compatible server and the broker: what one request costs a user of the local stack.\n\n")
	p("| operation | requests | errors | req/s | p50 | p99 | services CPU ms/req | target | system CPU ms/req | MongoDB commands/req | identity | session | profile | notification | gateway | mongodb | kafka |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range b.results {
		rate := float64(r.requests) / r.elapsed.Seconds()
		p("| %s | %d | %d | %.0f | %s | %s | %s | %s | %s | %.1f |", r.name, r.requests, r.errors, rate, ms(r.p50), ms(r.p99), ms(r.servicesCPU()), target(r), ms(r.systemCPU()), r.commandsPerRequest())
		for _, n := range procOrder {
			p(" %s |", ms(r.cpuPerRequest(n)))
		}
		p("\n")
	}
	p("\nWhat one request is:\n\n")
	for _, r := range b.results {
		p("- **%s**: %s.", r.name, r.command)
		if r.note != "" {
			p(" %s.", r.note)
		}
		if r.firstErr != nil {
			p(" First error: `%s`.", oneLine(r.firstErr.Error()))
		}
		p("\n")
	}

	p("\nMongoDB commands per request, by database, command and collection (counted by the embedded server; they include what runs in the background meanwhile, such as outbox relays and consumers):\n\n")
	for _, r := range b.results {
		p("- **%s**: %s\n", r.name, r.topCommands(12))
	}
	b.reportIdle(p)
	b.reportAfter(p)
	b.reportGrowth(p)

	p("\n## Memory\n\n")
	p("RSS in MiB: *idle* right after start-up, *peak* is VmHWM at the end of the run (the highest resident set the process ever had). Target: at most 64 MiB per service under load.\n\n")
	p("| process | idle RSS | peak RSS | target |\n|---|---:|---:|---|\n")
	for _, n := range procOrder {
		t := "—"
		if isService(n) {
			t = verdict(b.peakRSS[n] <= rssTarget, "≤ 64 MiB")
		}
		p("| %s | %.1f | %.1f | %s |\n", n, mib(b.idleRSS[n]), mib(b.peakRSS[n]), t)
	}
	if b.peakRSS[stack.Identity] > rssTarget {
		p("\nIdentity's peak is argon2id's working memory: each hash running at once holds a 19 MiB workspace, and two run at once on two cores (ARGON2_MAX_CONCURRENT defaults to GOMAXPROCS; a bounded queue and a 503 with Retry-After beyond). ")
		p("The workspaces are pooled (services/identity/internal/password/argon2id, mapped outside the Go heap and reused, so they are neither zeroed nor collected per hash), which is why the peak no longer grows with the number of logins; ")
		p("two workspaces (38 MiB) plus the service's own ≈30 MiB put the floor near 68 MiB on this machine, above the 64 MiB target: meeting it would take one hash at a time (ARGON2_MAX_CONCURRENT=1, halving login throughput on two cores) or a smaller runtime. ")
		p("The chart sets GOMEMLIMIT per service from its memory limit (identity's leaves room for the workspaces) and gives identity a 256 MiB limit.\n")
	}

	p("\n## User enumeration: known versus unknown account\n\n")
	p("Anonymous endpoints that take an account identifier, called %d times for an existing account and %d times for unknown ones, interleaved (which side goes first alternates, so the asynchronous aftermath of one request — relay, Kafka, delivery — is not always charged to the same side). Status and body must be identical; the latency distributions should overlap (compare medians and p90, not single samples).\n\n", b.o.enumSamples, b.o.enumSamples)
	p("*z* is the Mann-Whitney U test's normal approximation over the two samples: |z| < 1.96 means no difference detectable at the 5%% level.\n\n")
	p("| endpoint | status known / unknown | same body | known p50 | unknown p50 | known p90 | unknown p90 | z | errors |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, e := range b.enum {
		z := mannWhitneyZ(e.known, e.unknown)
		p("| %s | %d / %d %s | %s | %s | %s | %s | %s | %.2f %s | %d |\n", e.name, e.knownStatus, e.unknownSt, mark(e.sameStatus), mark(e.sameBody),
			ms(quantile(e.known, 0.5)), ms(quantile(e.unknown, 0.5)), ms(quantile(e.known, 0.9)), ms(quantile(e.unknown, 0.9)), z, mark(math.Abs(z) < 1.96), e.errors)
	}

	missed := false
	for _, r := range b.results {
		if r.missed() {
			missed = true
		}
	}
	if missed {
		p("\n## Where the time goes (missed targets)\n\n")
		p("CPU profile of the service that serves the operation, taken over the operation with `/debug/pprof/profile` (PPROF_ENABLED=true), the top functions by cumulative time (flat: in the function itself; cum: with what it calls):\n\n")
		for _, r := range b.results {
			if !r.missed() {
				continue
			}
			p("### %s\n\n", r.name)
			if r.analysis != "" {
				p("%s.\n\n", r.analysis)
			}
			if r.profile != "" {
				p("Profile of %s:\n\n```\n%s```\n\n", r.profiled, trimProfile(r.profile))
			}
		}
	}
	if b.micro != "" {
		p("\n## Micro-benchmarks\n\nThe hot paths in isolation, one core per benchmark (`-2` is GOMAXPROCS), produced by `%s` from the repository root:\n\n```\n%s```\n", b.microCmd, b.micro)
	}
	p("\n## Reference\n\nTargets of issue 18, set against Ory Kratos v26.2.0 measured the same way on a 2-core machine: whoami 0.9–1.05 ms CPU per request, listing sessions 0.8–1.04 ms, password login 33–35 ms (argon2id at OWASP parameters), 99 MB RSS idle and 280 MB under login load; Kratos uses no CPU while idle.\n")
	return w.String()
}

// mannWhitneyZ is the z score of the Mann-Whitney U statistic of a against b (normal approximation,
// ties given their average rank; no tie correction of the variance).
func mannWhitneyZ(a, b []time.Duration) float64 {
	n1, n2 := float64(len(a)), float64(len(b))
	if n1 == 0 || n2 == 0 {
		return 0
	}
	type obs struct {
		d     time.Duration
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, d := range a {
		all = append(all, obs{d, true})
	}
	for _, d := range b {
		all = append(all, obs{d, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].d < all[j].d })
	rankSumA := 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].d == all[i].d {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j share their mean
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSumA += rank
			}
		}
		i = j
	}
	u := rankSumA - n1*(n1+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
	return (u - mean) / sd
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func target(r opResult) string {
	switch {
	case r.cpuTarget > 0:
		return verdict(r.servicesCPU() <= r.cpuTarget, "≤ "+ms(r.cpuTarget)+" ms CPU")
	case r.latTarget > 0:
		return verdict(r.p99 <= r.latTarget, "p99 ≤ "+ms(r.latTarget)+" ms")
	}
	return "—"
}

func verdict(ok bool, what string) string {
	if ok {
		return what + " ✅"
	}
	return what + " ❌"
}

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func isService(name string) bool {
	for _, s := range stack.Services {
		if s == name {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.ReplaceAll(s, "`", "'")
}

// trimProfile drops pprof's header lines about files and build ids.
func trimProfile(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.TrimLeft(strings.Join(keep, "\n"), "\n")
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown memory"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib)
			return fmt.Sprintf("%.0f GiB RAM", float64(kib)/(1<<20))
		}
	}
	return "unknown memory"
}
