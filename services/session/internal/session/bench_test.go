package session_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

// The benchmarks run the session domain against the embedded MongoDB-compatible server (FerretDB behind
// the write-serialising proxy) through the production driver, with the transactional outbox in the same
// database, and report the MongoDB round trips of one operation (round-trips/op) and the CPU time of
// this process per operation (cpu-ns/op, user+system from getrusage) next to ns/op.
//
// By default the server runs in this process (testenv), so cpu-ns/op includes FerretDB's CPU. With
// SESSION_BENCH_MONGO_URI set to a server in another process, e.g. the one
// `go run ./devstack/cmd/bench -role mongo -dir $(mktemp -d)` announces (it stops when its stdin closes),
// this process starts no embedded servers (TestMain) and cpu-ns/op is the session code and the driver
// alone: the figure `make bench` counts for the service.
const benchMongoURI = "SESSION_BENCH_MONGO_URI"

// benchFixture is a Service on its own database, on a client that counts the commands it sends.
type benchFixture struct {
	svc      *session.Service
	sessions *store.Sessions
	commands atomic.Int64
	cpu      time.Duration
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// production-like options: the chart's lifetimes and refresh grace.
var benchOptions = session.Options{
	AccessTokenTTL: 15 * time.Minute, IdleTTL: 720 * time.Hour, AbsoluteTTL: 2160 * time.Hour,
	RefreshGrace: 10 * time.Second, TouchInterval: 5 * time.Minute,
}

func newBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	f := &benchFixture{}
	ctx := context.Background()
	uri, dbName := os.Getenv(benchMongoURI), "bench_"+strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	if uri == "" {
		env := testenv.New(b)
		uri, dbName = env.MongoURI, env.DBPrefix+"session"
	}
	monitor := &event.CommandMonitor{Started: func(context.Context, *event.CommandStartedEvent) { f.commands.Add(1) }}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetMonitor(monitor))
	if err != nil {
		b.Fatal(err)
	}
	db := client.Database(dbName)
	b.Cleanup(func() {
		_ = db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	})
	f.sessions = store.NewSessions(db)
	if err := f.sessions.EnsureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	outbox := kafkax.NewOutbox(db, nil, slog.New(slog.DiscardHandler)) // Add only stores; nothing relays
	key, err := token.NewKey(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ring, err := token.NewKeyring(key)
	if err != nil {
		b.Fatal(err)
	}
	opts := benchOptions
	opts.Logger = slog.New(slog.DiscardHandler)
	issuer := token.NewIssuer(ring, token.IssuerConfig{Issuer: authntest.Issuer, Audience: "latchkey", TTL: opts.AccessTokenTTL})
	f.svc = session.NewService(f.sessions, issuer, outbox, authn.NewDenyList(), opts)
	return f
}

// measure resets the timer and the command count; report puts round trips per op next to ns/op.
func (f *benchFixture) measure(b *testing.B) {
	b.ReportAllocs()
	f.commands.Store(0)
	f.cpu = cpuTime(b)
	b.ResetTimer()
}

func (f *benchFixture) report(b *testing.B) {
	b.StopTimer()
	b.ReportMetric(float64(f.commands.Load())/float64(b.N), "round-trips/op")
	b.ReportMetric(float64(cpuTime(b)-f.cpu)/float64(b.N), "cpu-ns/op")
}

var benchDevice = session.Device{
	DeviceID: "laptop-1", DeviceName: "Ada's laptop", Platform: "WEB", IPAddress: "203.0.113.7",
	UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
}

// BenchmarkCreate is the session service's part of a password login: start a session, record
// session.created in the outbox, sign the first access token.
func BenchmarkCreate(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	a := session.Assurance{AMR: []string{"pwd"}, ACR: "aal1"}
	f.measure(b)
	for i := 0; i < b.N; i++ {
		if _, err := f.svc.Create(ctx, fmt.Sprintf("acc-%d", i%64), benchDevice, a); err != nil {
			b.Fatal(err)
		}
	}
	f.report(b)
}

// BenchmarkRefresh is POST /api/v1/auth/refresh: one client refreshing its session over and over.
func BenchmarkRefresh(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	issued, err := f.svc.Create(ctx, "acc-1", benchDevice, session.Assurance{})
	if err != nil {
		b.Fatal(err)
	}
	tok := issued.RefreshToken
	f.measure(b)
	for i := 0; i < b.N; i++ {
		next, err := f.svc.RefreshFrom(ctx, tok, "203.0.113.7", "")
		if err != nil {
			b.Fatal(err)
		}
		tok = next.RefreshToken
	}
	f.report(b)
}

// BenchmarkList is GET /api/v1/account/sessions behind its Touch middleware, for an account with 1, 5
// and 50 live sessions, the caller's session touched within the interval (a client listing again).
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1, 5, 50} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			f := newBenchFixture(b)
			ctx := context.Background()
			var p authn.Principal
			for i := range n {
				issued, err := f.svc.Create(ctx, "acc-1", benchDevice, session.Assurance{})
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					p = authn.Principal{AccountID: "acc-1", SessionID: issued.Session.ID}
				}
			}
			f.svc.Touch(ctx, p)
			f.measure(b)
			for i := 0; i < b.N; i++ {
				f.svc.Touch(ctx, p)
				list, err := f.svc.List(ctx, p.AccountID)
				if err != nil || len(list) != n {
					b.Fatalf("List = %d sessions, %v; want %d", len(list), err, n)
				}
			}
			f.report(b)
		})
	}
}

// BenchmarkLogout is POST /api/v1/auth/logout: revoke the caller's session (with its session.revoked
// event and activity entry in the outbox).
func BenchmarkLogout(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	ids := make([]string, b.N)
	for i := range ids {
		issued, err := f.svc.Create(ctx, "acc-1", benchDevice, session.Assurance{})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = issued.Session.ID
	}
	f.measure(b)
	for i := 0; i < b.N; i++ {
		if err := f.svc.Logout(ctx, authn.Principal{AccountID: "acc-1", SessionID: ids[i]}); err != nil {
			b.Fatal(err)
		}
	}
	f.report(b)
}
