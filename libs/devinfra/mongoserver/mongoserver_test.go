package mongoserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/mongoserver"
)

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

func TestStartInsertFind(t *testing.T) {
	ctx := context.Background()
	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	coll := connect(t, srv.URI()).Database("app").Collection("things")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "a", "n": 1}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	var got struct {
		N int `bson:"n"`
	}
	if err := coll.FindOne(ctx, bson.M{"_id": "a"}).Decode(&got); err != nil {
		t.Fatalf("FindOne: %v", err)
	}
	if got.N != 1 {
		t.Errorf("n = %d, want 1", got.N)
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	client := connect(t, srv.URI())
	if _, err := client.Database("app").Collection("things").InsertOne(ctx, bson.M{"_id": "kept"}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	_ = client.Disconnect(ctx)
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	srv, err = mongoserver.Start(ctx, mongoserver.Options{Dir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	n, err := connect(t, srv.URI()).Database("app").Collection("things").CountDocuments(ctx, bson.M{"_id": "kept"})
	if err != nil {
		t.Fatalf("CountDocuments: %v", err)
	}
	if n != 1 {
		t.Errorf("documents after restart = %d, want 1", n)
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		opts mongoserver.Options
	}{
		{name: "no dir", opts: mongoserver.Options{Addr: "127.0.0.1:0"}},
		{name: "bad address", opts: mongoserver.Options{Dir: t.TempDir(), Addr: "256.0.0.1:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := mongoserver.Start(context.Background(), tc.opts)
			if err == nil {
				_ = srv.Close()
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

// TestConcurrentUpdatesOfOneDocument checks what MongoDB guarantees and FerretDB alone does not:
// concurrent writes to one document all take effect (FerretDB reads, modifies and writes back the
// whole document, which the serializing proxy makes one step).
func TestConcurrentUpdatesOfOneDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	coll := connect(t, srv.URI()).Database("atomic").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "doc"}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}

	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				// Every writer also sets a field of its own: a lost update would drop it or a count.
				_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "doc"}}, bson.D{
					{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}},
					{Key: "$set", Value: bson.D{{Key: fmt.Sprintf("w%d", w), Value: i}}},
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "doc"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if n, _ := got["n"].(int32); n != writers*each {
		t.Errorf("n = %v after %d increments, want %d (an update was lost)", got["n"], writers*each, writers*each)
	}
	for w := range writers {
		if v, ok := got[fmt.Sprintf("w%d", w)].(int32); !ok || v != each-1 {
			t.Errorf("w%d = %v, want %d", w, got[fmt.Sprintf("w%d", w)], each-1)
		}
	}
}
