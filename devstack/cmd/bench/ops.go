package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

// enumResult compares the answers for an existing and an unknown account on one endpoint.
type enumResult struct {
	name                   string
	known, unknown         []time.Duration
	sameStatus, sameBody   bool
	knownStatus, unknownSt int
	errors                 int
}

// runAll sets up accounts and runs every operation in turn.
func (b *benchRun) runAll(ctx context.Context) error {
	workers := b.o.concurrency
	fmt.Fprintln(os.Stderr, "bench: registering accounts ...")
	readers, err := b.registerMany(ctx, "reader", workers)
	if err != nil {
		return err
	}
	loginers, err := b.registerMany(ctx, "loginer", max(workers, 2)) // the login operation runs 2 clients
	if err != nil {
		return err
	}
	refreshers, err := b.registerMany(ctx, "refresher", workers)
	if err != nil {
		return err
	}
	revokers, err := b.registerMany(ctx, "revoker", 2)
	if err != nil {
		return err
	}
	if b.o.enumOnly {
		return b.enumeration(ctx, slices.Concat(readers, loginers, refreshers, revokers))
	}
	// Each reader gets a few more sessions, so listing them returns a realistic handful.
	for _, a := range readers {
		for range 3 {
			if _, err := b.c.login(ctx, a); err != nil {
				return err
			}
		}
	}

	add := func(r opResult, err error) error {
		if err != nil {
			return err
		}
		b.results = append(b.results, r)
		return nil
	}
	const many = 1 << 30 // throughput operations are bounded by -duration

	if err := add(b.measure(ctx, opResult{
		name: "access-token validation + GET /api/v1/me", command: "GET /api/v1/me (profile)",
		cpuTarget: 250 * time.Microsecond, profiled: stack.Profile,
	}, workers, many, func(ctx context.Context, w, _ int) (time.Duration, error) {
		_, err := b.c.expect(ctx, 200, "GET", "/api/v1/me", nil, readers[w].access)
		return 0, err
	})); err != nil {
		return err
	}

	if err := add(b.measure(ctx, opResult{
		name: "session list", command: "GET /api/v1/account/sessions (session)",
		cpuTarget: 300 * time.Microsecond, profiled: stack.Session,
		analysis: "One MongoDB round trip per list (the Find of the account's unrevoked sessions; Touch writes at most once per touch interval and session). " +
			"In the profile the Find is about 30% of the service's CPU, the HTTP stack and middleware most of the rest, and much of both is syscalls and scheduler wake-ups (Syscall6, futex, findRunnable) " +
			"on a machine that FerretDB saturates at 4 clients (3+ ms of its CPU per list). " +
			"With one client (`-c 1`) on this machine it was 0.35 ms, and GET /api/v1/me rose to 0.28 ms: most of the per-request CPU is the fixed cost of a round trip and its wake-ups, which more concurrent requests share. " +
			"Fix: a cheaper round trip (project only the listed fields; keep the driver's pool small, maxPoolSize near GOMAXPROCS, so fewer goroutines are woken) or none at all on repeated lists " +
			"(cache the account's list for the touch interval, dropped on session.created and session.revoked); on a real MongoDB each round trip also costs less than through FerretDB's proxy",
	}, workers, many, func(ctx context.Context, w, _ int) (time.Duration, error) {
		_, err := b.c.expect(ctx, 200, "GET", "/api/v1/account/sessions", nil, readers[w].access)
		return 0, err
	})); err != nil {
		return err
	}

	refresh := make([]string, workers)
	for w := range workers {
		refresh[w] = refreshers[w].refresh
	}
	if err := add(b.measure(ctx, opResult{
		name: "token refresh", command: "POST /api/v1/auth/refresh (session; rotates the refresh token)",
		cpuTarget: 500 * time.Microsecond, profiled: stack.Session,
		analysis: "Four MongoDB round trips per refresh (session Get, refresh-token claim InsertOne, Rotate, and the Revoked CountDocuments that guards against FerretDB losing a racing revocation), each costing driver work, syscalls and wake-ups. " +
			"Fix: claim and rotate in one findAndModify on the session document (conditional on its current refresh-token hash), and drop the Revoked re-check now that the embedded server serialises writes " +
			"(real MongoDB never needed it): one or two round trips, about 0.4-0.5 ms here",
	}, workers, many, func(ctx context.Context, w, _ int) (time.Duration, error) {
		r, err := b.c.expect(ctx, 200, "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": refresh[w]}, "")
		if err == nil {
			refresh[w] = field(r.body, "refresh_token")
		}
		return 0, err
	})); err != nil {
		return err
	}

	// argon2id takes one core for ~25 ms: two clients keep both cores busy.
	if err := add(b.measure(ctx, opResult{
		name: "password login", command: "POST /api/v1/auth/login (identity → session; argon2id m=19 MiB t=2 p=1)",
		cpuTarget: 25 * time.Millisecond, profiled: stack.Identity,
		analysis: "argon2id itself is ~80% of identity's CPU (≈22 ms, see BenchmarkVerify below); the rest is zeroing the fresh 19 MiB block of every hash (memclrNoHeapPointers, page faults), " +
			"the garbage collector, and the throttle and session round trips. The session service adds ≈3 ms (session creation and event). " +
			"Fix: reuse argon2id's 19 MiB working memory across hashes (a pooled argon2id, x/crypto allocates it on every call), which removes the zeroing, the page faults and most GC work; " +
			"the remaining budget is argon2id at OWASP's parameters, which the target itself puts at ≈23 ms",
	}, 2, b.o.logins, func(ctx context.Context, w, _ int) (time.Duration, error) {
		_, err := b.c.login(ctx, loginers[w])
		return 0, err
	})); err != nil {
		return err
	}

	var otpSeq atomic.Int64
	if err := add(b.measure(ctx, opResult{
		name: "OTP request → message in the outbox", command: "POST /api/v1/auth/initiate-registration, then GET /api/v1/dev/outbox every 50 ms until the code is there",
		latTarget: 250 * time.Millisecond, profiled: stack.Notification,
		analysis: "The path is identity's outbox insert and relay (woken at once), Kafka, notification's consumer (kafka-go fetch with ReadBackoffMin 50 ms when idle), delivery and the dev-outbox insert; " +
			"most of the wall time is queueing behind FerretDB, which takes 60+ ms of CPU per OTP across the writes of the flow on a 2-core machine. " +
			"With one client (`-c 1`, FerretDB not saturated) the p99 was 49 ms on this machine; polling the outbox every 5 ms instead of 50 ms saturated FerretDB and pushed p99 past 700 ms. " +
			"Fix: nothing in the path waits on a timer; give the database headroom (a real MongoDB) and the figure follows",
		note: "latency from sending the request to the notification service storing the message (its created_at; identity → transactional outbox → Kafka → notification → dev outbox), so the polling interval does not add to it; the CPU figures include the polling",
	}, 2, b.o.otps, func(ctx context.Context, _, _ int) (time.Duration, error) {
		email := fmt.Sprintf("otp-%06d@bench.example.com", otpSeq.Add(1))
		t0 := time.Now()
		if _, err := b.c.expect(ctx, 202, "POST", "/api/v1/auth/initiate-registration", map[string]any{"email": email}, ""); err != nil {
			return 0, err
		}
		_, at, err := b.c.delivered(ctx, email, 50*time.Millisecond)
		if err != nil {
			return 0, err
		}
		return max(at.Sub(t0), time.Nanosecond), nil
	})); err != nil {
		return err
	}

	if err := add(b.measure(ctx, opResult{
		name: "revocation → refused by every service", command: "POST /api/v1/auth/logout, then poll identity, session and profile every 10 ms until each answers 401",
		latTarget: time.Second,
		note:      "latency from the logout request to the last service refusing the token; each iteration also signs in first, so the CPU figures are not per revocation",
	}, 2, b.o.revocations, func(ctx context.Context, w, _ int) (time.Duration, error) {
		a, err := b.c.login(ctx, revokers[w])
		if err != nil {
			return 0, err
		}
		for _, p := range revocationProbes {
			if _, err := b.c.expect(ctx, 200, "GET", p, nil, a.access); err != nil {
				return 0, err
			}
		}
		t0 := time.Now()
		if _, err := b.c.expect(ctx, 200, "POST", "/api/v1/auth/logout", nil, a.access); err != nil {
			return 0, err
		}
		return b.untilRefused(ctx, a.access, t0)
	})); err != nil {
		return err
	}

	// Every side cycles through as many addresses: known accounts on one, never-registered ones on
	// the other, so per-address bookkeeping (throttle counters, cooldowns) is alike on both.
	var known []account
	for _, group := range [][]account{readers, loginers, refreshers, revokers} {
		known = append(known, group...)
	}
	return b.enumeration(ctx, known)
}

// revocationProbes are authenticated GETs answered by identity, session and profile (notification
// serves no user-authenticated route).
var revocationProbes = []string{"/api/v1/auth/whoami", "/api/v1/account/sessions", "/api/v1/me"}

// untilRefused polls every probe until each answers 401 and returns the time since t0 of the last.
func (b *benchRun) untilRefused(ctx context.Context, token string, t0 time.Time) (time.Duration, error) {
	var wg sync.WaitGroup
	times := make([]time.Duration, len(revocationProbes))
	errs := make([]error, len(revocationProbes))
	for i, p := range revocationProbes {
		wg.Go(func() {
			deadline := t0.Add(30 * time.Second)
			for time.Now().Before(deadline) {
				r, err := b.c.do(ctx, "GET", p, nil, token)
				if err != nil {
					errs[i] = err
					return
				}
				if r.status == 401 {
					times[i] = time.Since(t0)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			errs[i] = fmt.Errorf("%s still accepts a revoked token after 30s", p)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return max(times[0], times[1], times[2]), nil
}

// enumeration times the answers for an existing and an unknown account, interleaved, on the three
// endpoints that take an account identifier from an anonymous caller.
func (b *benchRun) enumeration(ctx context.Context, known []account) error {
	fmt.Fprintln(os.Stderr, "bench: user enumeration timing ...")
	n := b.o.enumSamples
	cases := []struct {
		name string
		path string
		body func(email string, i int) map[string]any
	}{
		{"login (wrong password)", "/api/v1/auth/login", func(email string, _ int) map[string]any {
			return map[string]any{"identifier": email, "password": "wrong-Password-9", "device_id": "bench-device"}
		}},
		{"forgot-password", "/api/v1/auth/forgot-password", func(email string, _ int) map[string]any {
			return map[string]any{"email": email}
		}},
		{"initiate-registration", "/api/v1/auth/initiate-registration", func(email string, _ int) map[string]any {
			return map[string]any{"email": email}
		}},
	}
	for _, tc := range cases {
		res := enumResult{name: tc.name + " " + tc.path, sameStatus: true, sameBody: true}
		var firstKnown, firstUnknown reply
		for i := range n {
			// Which side goes first alternates: a request's aftermath (the outbox relay, Kafka and the
			// notification service delivering the known address's message) lands on whatever request
			// comes next, so a fixed order would charge it to the unknown side every time.
			order := []bool{true, false}
			if i%2 == 1 {
				order = []bool{false, true}
			}
			for _, side := range order {
				email := fmt.Sprintf("nobody-%s-%d@bench.example.com", url.PathEscape(tc.name[:5]), i%len(known))
				if side {
					email = known[i%len(known)].email
				}
				// The bench runs identity with a 1 ms resend cooldown, so repeated codes to the
				// known address are not throttled while fresh unknown addresses never are.
				t0 := time.Now()
				r, err := b.c.do(ctx, "POST", tc.path, tc.body(email, i), "")
				d := time.Since(t0)
				if err != nil {
					res.errors++
					continue
				}
				if side {
					res.known = append(res.known, d)
					if firstKnown.raw == nil {
						firstKnown = r
					}
					res.sameStatus = res.sameStatus && r.status == firstKnown.status
				} else {
					res.unknown = append(res.unknown, d)
					if firstUnknown.raw == nil {
						firstUnknown = r
					}
					res.sameStatus = res.sameStatus && r.status == firstUnknown.status
				}
			}
		}
		res.knownStatus, res.unknownSt = firstKnown.status, firstUnknown.status
		res.sameStatus = res.sameStatus && firstKnown.status == firstUnknown.status
		res.sameBody = string(firstKnown.raw) == string(firstUnknown.raw)
		b.enum = append(b.enum, res)
	}
	return nil
}
