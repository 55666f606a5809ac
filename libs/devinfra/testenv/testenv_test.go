package testenv_test

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPrefixesAreUniqueAndValid(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^t[0-9a-f]{6}_$`)
	seen := map[string]bool{}
	for range 50 {
		env := testenv.New(t)
		if !valid.MatchString(env.DBPrefix) {
			t.Errorf("DBPrefix %q does not match %s", env.DBPrefix, valid)
		}
		if want := env.DBPrefix[:len(env.DBPrefix)-1] + "."; env.TopicPrefix != want {
			t.Errorf("TopicPrefix = %q, want %q", env.TopicPrefix, want)
		}
		if seen[env.DBPrefix] {
			t.Errorf("DBPrefix %q handed out twice", env.DBPrefix)
		}
		seen[env.DBPrefix] = true
	}
}

func TestDatabaseIsDroppedAfterTheTest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var name, uri string
	t.Run("uses a database", func(t *testing.T) {
		env := testenv.New(t)
		uri = env.MongoURI
		db := env.Database("svc")
		name = db.Name()
		if want := env.DBPrefix + "svc"; name != want {
			t.Errorf("database name = %q, want %q", name, want)
		}
		if _, err := db.Collection("c").InsertOne(ctx, bson.M{"_id": 1}); err != nil {
			t.Fatalf("InsertOne: %v", err)
		}
	})

	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	names, err := client.ListDatabaseNames(ctx, bson.M{})
	if err != nil {
		t.Fatalf("ListDatabaseNames: %v", err)
	}
	if slices.Contains(names, name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestParallelWorldsAreIsolated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value string }{{"first", "a"}, {"second", "b"}, {"third", "c"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			env := testenv.New(t)

			coll := env.Database("app").Collection("things")
			if _, err := coll.InsertOne(ctx, bson.M{"_id": "only", "v": tc.value}); err != nil {
				t.Fatalf("InsertOne: %v", err)
			}
			if n, err := coll.CountDocuments(ctx, bson.M{}); err != nil || n != 1 {
				t.Errorf("documents = %d (%v), want 1", n, err)
			}

			topic := env.TopicPrefix + "events"
			conn, err := kafka.DialContext(ctx, "tcp", env.Brokers[0])
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer func() { _ = conn.Close() }()
			if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}); err != nil {
				t.Fatalf("CreateTopics: %v", err)
			}
			w := &kafka.Writer{Addr: kafka.TCP(env.Brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
			defer func() { _ = w.Close() }()
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(tc.value)}); err != nil {
				t.Fatalf("WriteMessages: %v", err)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: env.Brokers, GroupID: "g", Topic: topic, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
			defer func() { _ = r.Close() }()
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("FetchMessage: %v", err)
			}
			if got := string(m.Value); got != tc.value {
				t.Errorf("message = %q, want %q", got, tc.value)
			}
		})
	}
}
