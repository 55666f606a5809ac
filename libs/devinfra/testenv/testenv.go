// Package testenv is the shared helper of the repository's integration tests: one embedded
// MongoDB-compatible server and one Kafka-compatible broker per test package, and for every test a
// world of its own (a database-name prefix and a topic prefix nobody else uses).
//
// A test package wires it up once:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// and each test asks for its world:
//
//	env := testenv.New(t)
//	db := env.Database("identity") // dropped when the test ends
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
	"github.com/latchkey/latchkey/libs/devinfra/mongoserver"
)

// Env is one test's world on the package's shared servers.
type Env struct {
	// MongoURI connects to the package's MongoDB-compatible server.
	MongoURI string
	// Brokers are the bootstrap addresses of the package's Kafka-compatible broker.
	Brokers []string
	// DBPrefix is put in front of every database name the test uses, e.g. "t3f9a2_".
	DBPrefix string
	// TopicPrefix is put in front of every topic name the test uses, e.g. "t3f9a2.".
	TopicPrefix string

	t testing.TB
}

// shared holds the servers Main started for the package.
var shared struct {
	mongoURI string
	brokers  []string
	client   *mongo.Client
}

// Main starts the package's servers, runs its tests, stops the servers, removes their data and exits
// with the tests' exit code. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "latchkey-testenv-*")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: create temp dir: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	mongoSrv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	defer func() {
		if err := mongoSrv.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop MongoDB server: %v\n", err)
		}
	}()

	kafkaSrv, err := kafkaserver.Start(kafkaserver.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	defer kafkaSrv.Close()

	client, err := mongo.Connect(ctx, options.Client().ApplyURI(mongoSrv.URI()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: connect to %s: %v\n", mongoSrv.URI(), err)
		return 1
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	shared.mongoURI = mongoSrv.URI()
	shared.brokers = kafkaSrv.Brokers()
	shared.client = client
	return m.Run()
}

// New returns a fresh world for the test t. It fails the test if the package's TestMain does not call
// Main.
func New(t testing.TB) *Env {
	t.Helper()
	if shared.client == nil {
		t.Fatal("testenv: the test package must call testenv.Main(m) from TestMain")
	}
	id := uniqueID(t)
	return &Env{
		MongoURI:    shared.mongoURI,
		Brokers:     append([]string(nil), shared.brokers...),
		DBPrefix:    id + "_",
		TopicPrefix: id + ".",
		t:           t,
	}
}

// Database returns the database DBPrefix+name on a connected client shared by the package. The
// database is dropped when the test ends.
func (e *Env) Database(name string) *mongo.Database {
	db := shared.client.Database(e.DBPrefix + name)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			e.t.Errorf("testenv: drop database %s: %v", db.Name(), err)
		}
	})
	return db
}

var usedIDs sync.Map

// uniqueID returns "t" and six random hex digits, never the same twice in one process.
func uniqueID(t testing.TB) string {
	for {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("testenv: random id: %v", err)
		}
		id := "t" + hex.EncodeToString(b[:])
		if _, taken := usedIDs.LoadOrStore(id, struct{}{}); !taken {
			return id
		}
	}
}
