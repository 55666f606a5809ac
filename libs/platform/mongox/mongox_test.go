package mongox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestConnect(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	client, db, err := mongox.Connect(ctx, env.MongoURI, env.DBPrefix+"app")
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	defer func() { _ = db.Drop(ctx) }()
	if got, want := db.Name(), env.DBPrefix+"app"; got != want {
		t.Errorf("database = %q, want %q", got, want)
	}
	if err := mongox.Ping(ctx, client); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestConnectFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		uri  string
	}{
		{name: "nobody listening", uri: "mongodb://127.0.0.1:1/?directConnection=true"},
		{name: "malformed uri", uri: "mongodb://user:s3cret@host:notaport/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, _, err := mongox.Connect(context.Background(), tc.uri, "app")
			if err == nil {
				t.Fatal("Connect succeeded, want an error")
			}
			if took := time.Since(start); took > mongox.StartupTimeout+3*mongox.ServerSelectionTimeout {
				t.Errorf("Connect took %s to fail", took)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the URI's password: %v", err)
			}
		})
	}
}

// TestRequestBudget: a request that meets a MongoDB that is down fails within about 2 s (the fault
// tests in devstack/journey observe it end to end): an operation waits at most one server selection,
// and a request's best-effort write plus its read fit the budget.
func TestRequestBudget(t *testing.T) {
	if mongox.RequestBudget > 2*time.Second || mongox.RequestBudget < 2*mongox.ServerSelectionTimeout {
		t.Errorf("RequestBudget %s, ServerSelectionTimeout %s: want two selections within 2s", mongox.RequestBudget, mongox.ServerSelectionTimeout)
	}
	// Connect's options pointed at nobody: one operation fails after one selection.
	opts, err := mongox.ClientOptions("mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=30000")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerSelectionTimeout == nil || *opts.ServerSelectionTimeout != mongox.ServerSelectionTimeout {
		t.Fatalf("server selection timeout %v, want %s whatever the URI says", opts.ServerSelectionTimeout, mongox.ServerSelectionTimeout)
	}
	down, err := mongo.Connect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = down.Disconnect(context.Background()) }()
	done := make(chan error, 1)
	go func() { done <- down.Ping(context.Background(), nil) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("ping of nobody succeeded")
		}
	case <-time.After(5 * mongox.RequestBudget): // generous: proves "bounded", not a latency
		t.Fatal("an operation on a MongoDB that is down did not fail within 5x the request budget")
	}
}

func TestIsDuplicateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll := testenv.New(t).Database("app").Collection("people")
	if err := mongox.EnsureIndexes(ctx, coll, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "a", "email": "a@example.com"}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	_, dupID := coll.InsertOne(ctx, bson.M{"_id": "a", "email": "other@example.com"})
	_, dupEmail := coll.InsertOne(ctx, bson.M{"_id": "b", "email": "a@example.com"})
	_, dupUpsert := coll.UpdateOne(ctx, bson.M{"_id": "c"}, bson.M{"$set": bson.M{"email": "a@example.com"}}, options.Update().SetUpsert(true))
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "d", "email": "d@example.com"}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	// FerretDB answers a clash on an update of an existing document with an internal error (SQLite's
	// "UNIQUE constraint failed"), not E11000.
	_, dupUpdate := coll.UpdateOne(ctx, bson.M{"_id": "d"}, bson.M{"$set": bson.M{"email": "a@example.com"}})
	dupFindAndModify := coll.FindOneAndUpdate(ctx, bson.M{"_id": "d"}, bson.M{"$set": bson.M{"email": "a@example.com"}}).Err()
	_, otherCommand := coll.UpdateOne(ctx, bson.M{"_id": "d"}, bson.M{"$bogus": bson.M{"email": 1}})
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "duplicate _id", err: dupID, want: true},
		{name: "duplicate unique field", err: dupEmail, want: true},
		{name: "upsert into a unique field", err: dupUpsert, want: true},
		{name: "update of an existing document into a unique field", err: dupUpdate, want: true},
		{name: "findAndModify into a unique field", err: dupFindAndModify, want: true},
		{name: "other server error", err: otherCommand, want: false},
		{name: "message alone is not enough", err: errors.New("UNIQUE constraint failed: x"), want: false},
		{name: "wrapped", err: errors.Join(errors.New("insert"), dupID), want: true},
		{name: "nil", err: nil, want: false},
		{name: "other error", err: errors.New("boom"), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mongox.IsDuplicateKey(tc.err); got != tc.want {
				t.Errorf("IsDuplicateKey(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// indexSpec is what listIndexes reports about one index.
type indexSpec struct {
	Name               string `bson:"name"`
	Key                bson.D `bson:"key"`
	Unique             bool   `bson:"unique"`
	ExpireAfterSeconds *int32 `bson:"expireAfterSeconds"`
	PartialFilter      bson.D `bson:"partialFilterExpression"`
}

func listIndexes(t *testing.T, coll *mongo.Collection) map[string]indexSpec {
	t.Helper()
	cur, err := coll.Indexes().List(context.Background())
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var specs []indexSpec
	if err := cur.All(context.Background(), &specs); err != nil {
		t.Fatalf("decode indexes: %v", err)
	}
	byName := map[string]indexSpec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	return byName
}

// TestEnsureIndexesDegradesUnsupportedOptions runs against FerretDB v1, which answers TTL, partial,
// collation and hidden indexes with NotImplemented (code 238); on MongoDB the indexes keep their
// options, which the test accepts too.
func TestEnsureIndexesDegradesUnsupportedOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		model      mongo.IndexModel
		wantName   string
		wantUnique bool // on a server without the option
	}{
		{
			name:     "ttl becomes a plain index",
			model:    mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)},
			wantName: "expiresAt_1",
		},
		{
			name:       "unique ttl stays unique",
			model:      mongo.IndexModel{Keys: bson.D{{Key: "code", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(60).SetUnique(true).SetName("code_ttl")},
			wantName:   "code_ttl",
			wantUnique: true,
		},
		{
			name: "partial unique becomes non-unique on all documents",
			model: mongo.IndexModel{Keys: bson.D{{Key: "username", Value: 1}}, Options: options.Index().SetUnique(true).
				SetPartialFilterExpression(bson.M{"username": bson.M{"$exists": true}})},
			wantName: "username_1",
		},
		{
			name:     "partial compound",
			model:    mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "createdAt", Value: -1}}, Options: options.Index().SetPartialFilterExpression(bson.M{"revoked": false})},
			wantName: "accountId_1_createdAt_-1",
		},
		{
			name:       "collation dropped, unique kept",
			model:      mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetCollation(&options.Collation{Locale: "en", Strength: 2})},
			wantName:   "email_1",
			wantUnique: true,
		},
		{
			name:     "hidden becomes visible",
			model:    mongo.IndexModel{Keys: bson.D{{Key: "h", Value: 1}}, Options: options.Index().SetHidden(true)},
			wantName: "h_1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			coll := testenv.New(t).Database("app").Collection("c")
			for i := range 2 { // the second run finds the index in place
				if err := mongox.EnsureIndexes(ctx, coll, tc.model); err != nil {
					t.Fatalf("EnsureIndexes #%d: %v", i+1, err)
				}
			}
			got, ok := listIndexes(t, coll)[tc.wantName]
			if !ok {
				t.Fatalf("index %s missing; have %v", tc.wantName, listIndexes(t, coll))
			}
			if got.ExpireAfterSeconds == nil && got.PartialFilter == nil && got.Unique != tc.wantUnique {
				t.Errorf("unique = %v, want %v", got.Unique, tc.wantUnique)
			}
		})
	}
}

func TestEnsureIndexesKeepsUniqueness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll := testenv.New(t).Database("app").Collection("c")
	err := mongox.EnsureIndexes(ctx, coll,
		mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)},
		mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)},
	)
	if err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	if _, err := coll.InsertMany(ctx, []any{bson.M{"email": "x@example.com"}, bson.M{"email": "x@example.com"}}); !mongox.IsDuplicateKey(err) {
		t.Errorf("second insert of the same email: err = %v, want a duplicate-key error", err)
	}
}

func TestEnsureIndexesReturnsRealErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll := testenv.New(t).Database("app").Collection("c")
	tests := []struct {
		name      string
		models    []mongo.IndexModel
		wantIndex string
	}{
		{
			name:      "same name, other keys",
			wantIndex: "by_a",
			models: []mongo.IndexModel{
				{Keys: bson.D{{Key: "a", Value: 1}}, Options: options.Index().SetName("by_a")},
				{Keys: bson.D{{Key: "b", Value: 1}}, Options: options.Index().SetName("by_a")},
			},
		},
		{
			name:      "unsupported option that cannot be dropped",
			wantIndex: "t_text",
			models:    []mongo.IndexModel{{Keys: bson.D{{Key: "t", Value: "text"}}, Options: options.Index().SetWeights(bson.M{"t": 2})}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mongox.EnsureIndexes(ctx, coll, tc.models...)
			if err == nil {
				t.Fatal("EnsureIndexes succeeded, want an error")
			}
			for _, want := range []string{coll.Database().Name() + ".c", "index " + tc.wantIndex} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			var ce mongo.CommandError
			if !errors.As(err, &ce) {
				t.Errorf("error %v does not wrap the server's CommandError", err)
			}
		})
	}
}
