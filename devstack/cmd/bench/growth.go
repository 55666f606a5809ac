package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	mongoopts "go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/devstack/stack"
)

// idleSettle is how long the stack is left alone before its idle CPU is read: long enough for the
// outbox relays and consumers to finish the set-up's work and back off.
const idleSettle = 15 * time.Second

// idleResult is every process's CPU time over a window in which nothing was asked of the stack.
type idleResult struct {
	window time.Duration
	cpu    map[string]time.Duration
}

// perMinute is the process's idle CPU in milliseconds per minute.
func (r idleResult) perMinute(name string) float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.cpu[name]) / float64(time.Millisecond) * float64(time.Minute) / float64(r.window)
}

// growthRow is one point of an operation measured at several sizes of the data it works on.
type growthRow struct {
	what string // the operation
	size string // the size at this point
	r    opResult
}

// measureIdle leaves the stack alone for idleSettle, then reads every process's CPU time over
// o.idle into b.idle.
func (b *benchRun) measureIdle(ctx context.Context) error {
	if b.o.idle <= 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: idle CPU over %s (after %s to settle) ...\n", b.o.idle, idleSettle)
	if !sleepCtx(ctx, idleSettle) {
		return ctx.Err()
	}
	r, err := b.idleFor(ctx)
	b.idle = r
	return err
}

// idleFor reads every process's CPU time over o.idle.
func (b *benchRun) idleFor(ctx context.Context) (idleResult, error) {
	before, err := b.procs.cpuSnapshot()
	if err != nil {
		return idleResult{}, err
	}
	t0 := time.Now()
	if !sleepCtx(ctx, b.o.idle) {
		return idleResult{}, ctx.Err()
	}
	after, err := b.procs.cpuSnapshot()
	if err != nil {
		return idleResult{}, err
	}
	r := idleResult{window: time.Since(t0), cpu: map[string]time.Duration{}}
	for n := range after {
		r.cpu[n] = after[n] - before[n]
	}
	return r, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// growth measures the operations whose cost could depend on how much data there is, at several
// sizes: a session list by the number of the account's sessions, a password login by the number of
// the account's trusted devices, and a username search by the number of accounts.
func (b *benchRun) growth(ctx context.Context) error {
	workers := b.o.concurrency
	for _, n := range []int{1, 5, 50} {
		a, err := b.registerOne(ctx, fmt.Sprintf("list%d", n))
		if err != nil {
			return err
		}
		for range n - 1 {
			if a, err = b.c.login(ctx, a); err != nil {
				return err
			}
		}
		r, err := b.measure(ctx, opResult{name: fmt.Sprintf("session list, %d sessions", n), command: "GET /api/v1/account/sessions"},
			workers, many, func(ctx context.Context, _, _ int) (time.Duration, error) {
				_, err := b.c.expect(ctx, 200, "GET", "/api/v1/account/sessions", nil, a.access)
				return 0, err
			})
		if err != nil {
			return err
		}
		b.growthRows = append(b.growthRows, growthRow{what: "session list", size: plural(n, "session of the account", "sessions of the account"), r: r})
	}

	for _, n := range []int{1, 10, 100} {
		a, err := b.registerOne(ctx, fmt.Sprintf("devices%d", n))
		if err != nil {
			return err
		}
		for i := 1; i < n; i++ {
			if err := b.trustDevice(ctx, a, fmt.Sprintf("extra-%s-%d", a.device, i)); err != nil {
				return fmt.Errorf("trust device %d of %s: %w", i, a.email, err)
			}
		}
		r, err := b.measure(ctx, opResult{name: fmt.Sprintf("password login, %d trusted devices", n), command: "POST /api/v1/auth/login"},
			2, b.o.logins/2, func(ctx context.Context, _, _ int) (time.Duration, error) {
				_, err := b.c.login(ctx, a)
				return 0, err
			})
		if err != nil {
			return err
		}
		b.growthRows = append(b.growthRows, growthRow{what: "password login", size: plural(n, "trusted device", "trusted devices"), r: r})
	}

	seeded := 0
	for _, n := range []int{1_000, 20_000} {
		if err := b.seedAccounts(ctx, seeded, n); err != nil {
			return fmt.Errorf("seed accounts: %w", err)
		}
		seeded = n
		// "seed0001" matches seed00010 to seed00019 at every size (the answer's first page of them).
		// One client: on the embedded server a search reads every account (see growthWhy).
		r, err := b.measure(ctx, opResult{name: fmt.Sprintf("username search, %d accounts", n), command: "GET /api/v1/account/username/search?q=seed0001"},
			1, many, func(ctx context.Context, _, _ int) (time.Duration, error) {
				r, err := b.c.expect(ctx, 200, "GET", "/api/v1/account/username/search?q=seed0001", nil, "")
				if err == nil && countResults(r) < 1 {
					return 0, fmt.Errorf("search answered no results: %s", r.raw)
				}
				return 0, err
			})
		if err != nil {
			return err
		}
		b.growthRows = append(b.growthRows, growthRow{what: "username search", size: fmt.Sprintf("%d accounts", n), r: r})
	}
	return nil
}

func plural(n int, one, more string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, more)
}

// countResults counts the cards of a username search answer, whatever its envelope.
func countResults(r reply) int {
	for _, path := range [][]string{{"data", "users"}, {"data", "content"}, {"data", "results"}, {"content"}, {"results"}, {"data"}} {
		var v any = r.body
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		if list, ok := v.([]any); ok {
			return len(list)
		}
	}
	return -1
}

func (b *benchRun) registerOne(ctx context.Context, name string) (account, error) {
	as, err := b.registerMany(ctx, name, 1)
	if err != nil {
		return account{}, err
	}
	return as[0], nil
}

// trustDevice signs the account in from a new device and answers the device check with the code
// from the dev outbox, which makes the device trusted.
func (b *benchRun) trustDevice(ctx context.Context, a account, deviceID string) error {
	seen, err := b.c.messageIDs(ctx, a.email)
	if err != nil {
		return err
	}
	r, err := b.c.expect(ctx, 200, "POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": benchPassword, "device_id": deviceID}, "")
	if err != nil {
		return err
	}
	token := field(r.body, "device_verification_token")
	if token == "" {
		return fmt.Errorf("login from a new device answered no device check: %s", r.raw)
	}
	code, err := b.c.newCode(ctx, a.email, "device_verification", seen)
	if err != nil {
		return err
	}
	_, err = b.c.expect(ctx, 200, "POST", "/api/v1/account/device/verify", map[string]any{
		"deviceVerificationToken": token, "otp": code, "deviceId": deviceID, "deviceName": "bench", "platform": "WEB",
	}, "")
	return err
}

// messageIDs returns the ids of the dev outbox's messages to `to`.
func (c *client) messageIDs(ctx context.Context, to string) (map[string]bool, error) {
	r, err := c.expect(ctx, 200, "GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil, "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	msgs, _ := r.body["messages"].([]any)
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		seen[field(mm, "id")] = true
	}
	return seen, nil
}

// newCode polls the dev outbox until a message of purpose to `to` that is not in seen arrives, and
// returns its code.
func (c *client) newCode(ctx context.Context, to, purpose string, seen map[string]bool) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.expect(ctx, 200, "GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil, "")
		if err != nil {
			return "", err
		}
		msgs, _ := r.body["messages"].([]any)
		for _, m := range msgs {
			mm, _ := m.(map[string]any)
			if !seen[field(mm, "id")] && field(mm, "purpose") == purpose && field(mm, "code") != "" {
				return field(mm, "code"), nil
			}
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return "", ctx.Err()
		}
	}
	return "", fmt.Errorf("no new %s code for %s in the dev outbox after 30s", purpose, to)
}

// seedAccounts adds accounts seed<from> to seed<to-1> to identity's database, each a copy of a
// registered account's document under a new id, e-mail and username. Registering 20,000 accounts
// through the API would take the bench half an hour of argon2id; the search reads these documents
// exactly as it reads registered ones.
func (b *benchRun) seedAccounts(ctx context.Context, from, to int) error {
	fmt.Fprintf(os.Stderr, "bench: seeding accounts %d to %d ...\n", from, to)
	client, err := mongo.Connect(ctx, mongoopts.Client().ApplyURI(b.mongoURI))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	accounts := client.Database(databaseOf(stack.Identity)).Collection("accounts")
	var model bson.M
	if err := accounts.FindOne(ctx, bson.M{"email": b.readers[0].email}).Decode(&model); err != nil {
		return fmt.Errorf("read a registered account: %w", err)
	}
	batch := make([]any, 0, 500)
	for i := from; i < to; i++ {
		doc := bson.M{}
		for k, v := range model {
			doc[k] = v
		}
		name := fmt.Sprintf("seed%05d", i)
		doc["_id"] = uuid.NewString()
		doc["email"] = name + "@seed.bench.example.com"
		doc["username"] = name
		doc["firstName"] = "Seed"
		doc["lastName"] = fmt.Sprintf("Person%d", i)
		doc["searchTerms"] = bson.A{"seed", fmt.Sprintf("person%d", i), "seed person"}
		batch = append(batch, doc)
		if len(batch) == cap(batch) || i == to-1 {
			if _, err := accounts.InsertMany(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// signIns signs the crowd in o.signins times in all, four at a time, and measures the refresh of
// the refreshers after the first thousand (a growth row: refresh with 1k live sessions).
func (b *benchRun) signIns(ctx context.Context) error {
	if b.o.signins <= 0 {
		return nil
	}
	crowd, err := b.registerMany(ctx, "crowd", crowdSize)
	if err != nil {
		return err
	}
	var done atomic.Int64
	phase := func(n int) error {
		fmt.Fprintf(os.Stderr, "bench: %d sign-ins ...\n", n)
		lat, _ := closedLoop(ctx, b.o.concurrency, n, 24*time.Hour, func(ctx context.Context, _, _ int) (time.Duration, error) {
			i := done.Add(1)
			if i%1000 == 0 {
				fmt.Fprintf(os.Stderr, "bench: %d sign-ins done\n", i)
			}
			_, err := b.c.login(ctx, crowd[int(i)%len(crowd)])
			return 0, err
		})
		if lat.errors > 0 {
			return fmt.Errorf("sign-ins: %d failed, first: %w", lat.errors, lat.first)
		}
		return nil
	}
	first := min(1000, b.o.signins)
	if err := phase(first); err != nil {
		return err
	}
	r, err := b.measureRefresh(ctx, "token refresh, 1,000 sign-ins in")
	if err != nil {
		return err
	}
	b.growthRows = append(b.growthRows, growthRow{what: "token refresh", size: fmt.Sprintf("%d sessions in the database", b.countSessions(ctx)), r: r})
	if rest := b.o.signins - first; rest > 0 {
		if err := phase(rest); err != nil {
			return err
		}
	}
	b.signedIn = int(done.Load())
	fmt.Fprintln(os.Stderr, "bench: waiting for the stack to settle ...")
	if b.settled, err = b.settle(ctx); err != nil {
		return err
	}
	if b.o.idle > 0 {
		b.idleAfter, err = b.idleFor(ctx)
	}
	return err
}

// crowdSize is how many accounts the sign-ins are spread over.
const crowdSize = 200

// countSessions counts the session documents in the session service's database.
func (b *benchRun) countSessions(ctx context.Context) int {
	client, err := mongo.Connect(ctx, mongoopts.Client().ApplyURI(b.mongoURI))
	if err != nil {
		return 0
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	n, err := client.Database(databaseOf(stack.Session)).Collection("sessions").EstimatedDocumentCount(ctx)
	if err != nil {
		return 0
	}
	return int(n)
}

// databaseOf names a service's database in the bench's stack (stack.Stack.Database without a prefix).
func databaseOf(service string) string { return "latchkey_" + service }

// settle waits until the stack is as quiet as it was idle at the start — every process together
// under quietCPU per second, or under one and a half times the idle rate measured then if that is
// higher, for three seconds in a row — so that the consumers have worked off what the sign-ins
// queued, or until settleMax; it returns how long it waited.
func (b *benchRun) settle(ctx context.Context) (time.Duration, error) {
	quiet := quietCPU
	if b.idle.window > 0 {
		var idle time.Duration
		for _, d := range b.idle.cpu {
			idle += d
		}
		quiet = max(quiet, time.Duration(1.5*float64(idle)/b.idle.window.Seconds()))
	}
	t0 := time.Now()
	prev, err := b.procs.cpuSnapshot()
	if err != nil {
		return 0, err
	}
	calm := 0
	for time.Since(t0) < settleMax && calm < 3 {
		if !sleepCtx(ctx, time.Second) {
			return 0, ctx.Err()
		}
		cur, err := b.procs.cpuSnapshot()
		if err != nil {
			return 0, err
		}
		var used time.Duration
		var busy []string
		for _, n := range b.procs.names {
			d := cur[n] - prev[n]
			used += d
			if d >= 10*time.Millisecond {
				busy = append(busy, fmt.Sprintf("%s %s", n, d))
			}
		}
		prev = cur
		if i := int(time.Since(t0) / time.Second); i%10 == 0 {
			fmt.Fprintf(os.Stderr, "bench: settling, CPU in the last second: %v\n", busy)
		}
		if used < quiet {
			calm++
		} else {
			calm = 0
		}
	}
	return time.Since(t0), nil
}

// quietCPU and settleMax bound settle: 2% of one core per second, three minutes.
const (
	quietCPU  = 20 * time.Millisecond
	settleMax = 3 * time.Minute
)
