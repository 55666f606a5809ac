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

// many bounds throughput operations by -duration rather than by a count.
const many = 1 << 30

// runAll sets up accounts and runs every operation in turn: the idle stack, the operations with
// targets, the growth rows, the sign-ins, the operations again after them, and the user-enumeration
// comparison.
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
	b.readers, b.loginers, b.refreshers = readers, loginers, refreshers
	b.refreshTokens = make([]string, workers)
	for w := range workers {
		b.refreshTokens[w] = refreshers[w].refresh
	}
	if b.o.enumOnly {
		return b.enumeration(ctx, slices.Concat(readers, loginers, refreshers, revokers))
	}
	// Each reader gets a few more sessions, so listing them returns a realistic handful.
	for _, a := range readers {
		for range 4 {
			if _, err := b.c.login(ctx, a); err != nil {
				return err
			}
		}
	}
	if err := b.measureIdle(ctx); err != nil {
		return err
	}

	add := func(r opResult, err error) error {
		if err != nil {
			return err
		}
		b.results = append(b.results, r)
		return nil
	}
	if err := add(b.measureMe(ctx, opResult{
		name: "access-token validation + GET /api/v1/me", command: "GET /api/v1/me (profile)",
		cpuTarget: 150 * time.Microsecond, profiled: stack.Profile,
		analysis: "One MongoDB round trip (the profile by _id); the access token's signature check is memoised per token (exp and the deny-list are still checked on every request). " +
			"In the profile the FindOne is about a third of the profile service's CPU (the driver building, writing and reading the wire message, and the syscalls and goroutine wake-ups of the round trip), fasthttp's I/O and scheduling most of the rest, JSON rendering about 5% and tracing about 3%. " +
			"What would cut it further: answering repeated reads from a per-replica cache of the profile kept fresh by profile events — not done, because a write on one replica followed by a read on another must see the write (the read-your-writes journey), which a cache fed by Kafka cannot promise; " +
			"smaller cuts: no span recording when no trace exporter is configured, a faster JSON encoder",
	})); err != nil {
		return err
	}
	if err := add(b.measureList(ctx, opResult{
		name: "session list (5 sessions)", command: "GET /api/v1/account/sessions (session), an account with 5 sessions",
		cpuTarget: 250 * time.Microsecond, profiled: stack.Session,
		analysis: "One MongoDB round trip: the indexed Find of the account's unrevoked sessions, projected to the listed fields and decoded without reflection; the Touch write is skipped while this replica touched the session within the touch interval. " +
			"What remains is that round trip (driver, syscalls, wake-ups) and the HTTP stack, each about 40% in the profile. " +
			"A per-account list cache would save the round trip but, with replicas, a list right after a sign-in on another replica could miss the new session until session.created arrives; not done",
	})); err != nil {
		return err
	}
	if err := add(b.measureRefresh(ctx, "token refresh", func(r *opResult) {
		r.command, r.cpuTarget, r.profiled = "POST /api/v1/auth/refresh (session; rotates the refresh token)", 400*time.Microsecond, stack.Session
		r.analysis = "Two MongoDB round trips (the session by _id, then one conditional UpdateOne that claims and rotates: filter on _id, the presented token's hash, not revoked, not expired), an Ed25519 signature for the new access token (≈60 µs, about a tenth of the service's CPU here), and sealing the refresh grace's pair. " +
			"The profile splits the rest between the two round trips (driver work, syscalls, wake-ups: about 45%) and the HTTP stack. " +
			"Two round trips is the floor for a single-use rotation that must read the session first (the token is checked against its hash before anything is written, so a forged token cannot rotate a session); " +
			"what is left would need a cheaper round trip (a real MongoDB answers faster than FerretDB through its proxy) or fewer bytes per rotation (the 32 used hashes kept for reuse detection are rewritten each time)"
	})); err != nil {
		return err
	}
	b.growthRows = append(b.growthRows, growthRow{what: "token refresh", size: fmt.Sprintf("%d sessions in the database", b.countSessions(ctx)), r: b.results[2]})
	// argon2id takes one core for ~23 ms: two clients keep both cores busy.
	if err := add(b.measureLogin(ctx, opResult{
		name: "password login", command: "POST /api/v1/auth/login (identity → session; argon2id m=19 MiB t=2 p=1)",
		cpuTarget: 25 * time.Millisecond, profiled: stack.Identity,
		analysis: "argon2id at OWASP's parameters is most of it (pooled working memory now: no 19 MiB allocation, zeroing or GC per hash; about 20 ms of CPU per derivation on this machine, see BenchmarkVerify below). " +
			"The rest is the sign-in's bookkeeping: about thirty MongoDB commands across identity and session (the account, the login throttles, the trusted device read and touch, the second-factor checks, the session insert, the activity and session events through the outboxes and their relays), each a round trip with its driver work and wake-ups. " +
			"Fixes not done here: a factors summary on the account document (two reads fewer), touching the trusted device with the read (one fewer), a relay that claims and deletes events in batches",
	})); err != nil {
		return err
	}
	var otpSeq atomic.Int64
	if err := add(b.measure(ctx, opResult{
		name: "OTP request → message in the outbox", command: "POST /api/v1/auth/initiate-registration, then GET /api/v1/dev/outbox every 50 ms until the code is there",
		latTarget: 150 * time.Millisecond, profiled: stack.Notification,
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
		name: "revocation → refused by every service", command: "POST /api/v1/auth/logout, then poll every replica of identity, session and profile directly every 10 ms until each answers 401",
		latTarget: 250 * time.Millisecond,
		note:      "latency from the logout request to the last service refusing the token; each iteration also signs in first, so the CPU figures are not per revocation",
	}, 2, b.o.revocations, func(ctx context.Context, w, _ int) (time.Duration, error) {
		a, err := b.c.login(ctx, revokers[w])
		if err != nil {
			return 0, err
		}
		for _, p := range revocationProbes {
			if _, err := b.c.expect(ctx, 200, "GET", p.path, nil, a.access); err != nil {
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

	if b.o.growth {
		if err := b.growth(ctx); err != nil {
			return err
		}
	}
	if err := b.signIns(ctx); err != nil {
		return err
	}
	if b.signedIn > 0 {
		after := fmt.Sprintf(" after %s sign-ins", thousands(b.signedIn))
		for _, m := range []func() (opResult, error){
			func() (opResult, error) {
				return b.measureMe(ctx, opResult{name: b.results[0].name + after, profiled: procMongo})
			},
			func() (opResult, error) {
				return b.measureList(ctx, opResult{name: b.results[1].name + after, profiled: procMongo})
			},
			func() (opResult, error) {
				return b.measureRefresh(ctx, b.results[2].name+after, func(r *opResult) { r.profiled = procMongo })
			},
			func() (opResult, error) {
				return b.measureLogin(ctx, opResult{name: b.results[3].name + after, profiled: procMongo})
			},
		} {
			r, err := m()
			if err != nil {
				return err
			}
			b.after = append(b.after, r)
		}
		b.growthRows = append(b.growthRows, growthRow{what: "token refresh", size: fmt.Sprintf("%d sessions in the database", b.countSessions(ctx)), r: b.after[2]})
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
// serves no user-authenticated route), by the service that answers each.
var revocationProbes = []struct{ service, path string }{
	{stack.Identity, "/api/v1/auth/whoami"}, {stack.Session, "/api/v1/account/sessions"}, {stack.Profile, "/api/v1/me"},
}

// untilRefused polls every probe on every replica of its service (directly, not through the
// gateway, so that no replica is missed) until each answers 401, and returns the time since t0 of
// the last.
func (b *benchRun) untilRefused(ctx context.Context, token string, t0 time.Time) (time.Duration, error) {
	var mu sync.Mutex
	var last time.Duration
	var errs []error
	var wg sync.WaitGroup
	for _, p := range revocationProbes {
		for _, base := range b.publics[p.service] {
			wg.Go(func() {
				deadline := t0.Add(30 * time.Second)
				for time.Now().Before(deadline) {
					r, err := b.c.doAt(ctx, base, "GET", p.path, nil, token)
					if err == nil && r.status == 401 {
						mu.Lock()
						last = max(last, time.Since(t0))
						mu.Unlock()
						return
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s%s still accepts a revoked token after 30s", base, p.path))
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return last, nil
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

// measureMe measures GET /api/v1/me with the readers' tokens.
func (b *benchRun) measureMe(ctx context.Context, r opResult) (opResult, error) {
	return b.measure(ctx, r, b.o.concurrency, many, func(ctx context.Context, w, _ int) (time.Duration, error) {
		_, err := b.c.expect(ctx, 200, "GET", "/api/v1/me", nil, b.readers[w].access)
		return 0, err
	})
}

// measureList measures the readers' session lists (five sessions each).
func (b *benchRun) measureList(ctx context.Context, r opResult) (opResult, error) {
	return b.measure(ctx, r, b.o.concurrency, many, func(ctx context.Context, w, _ int) (time.Duration, error) {
		_, err := b.c.expect(ctx, 200, "GET", "/api/v1/account/sessions", nil, b.readers[w].access)
		return 0, err
	})
}

// measureRefresh measures the refreshers' refreshes, each continuing from its last refresh token.
func (b *benchRun) measureRefresh(ctx context.Context, name string, set ...func(*opResult)) (opResult, error) {
	r := opResult{name: name, command: "POST /api/v1/auth/refresh"}
	for _, f := range set {
		f(&r)
	}
	return b.measure(ctx, r, b.o.concurrency, many, func(ctx context.Context, w, _ int) (time.Duration, error) {
		rep, err := b.c.expect(ctx, 200, "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": b.refreshTokens[w]}, "")
		if err == nil {
			b.refreshTokens[w] = field(rep.body, "refresh_token")
		}
		return 0, err
	})
}

// measureLogin measures the loginers' password logins, two at a time (one per core).
func (b *benchRun) measureLogin(ctx context.Context, r opResult) (opResult, error) {
	return b.measure(ctx, r, 2, b.o.logins, func(ctx context.Context, w, _ int) (time.Duration, error) {
		_, err := b.c.login(ctx, b.loginers[w])
		return 0, err
	})
}

// thousands writes n with thousands separators: 10000 → 10,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
