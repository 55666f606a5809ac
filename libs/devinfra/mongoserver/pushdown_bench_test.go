package mongoserver_test

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/mongoserver"
)

// BenchmarkLookupAsCollectionsGrow measures the lookups Latchkey's hot paths make — a document by _id,
// a conditional update by _id and state, an account's documents by an indexed field — on collections
// of 100 and 10,000 documents. With the SQLite backend narrowing these filters through its indexes
// (third_party/ferretdb/LATCHKEY.md) the cost per lookup does not grow with the collection; upstream
// FerretDB v1 decoded every document of the collection for the last two.
func BenchmarkLookupAsCollectionsGrow(b *testing.B) {
	ctx := context.Background()
	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: b.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(srv.URI()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Disconnect(ctx) })

	for _, size := range []int{100, 10_000} {
		coll := client.Database("bench").Collection(fmt.Sprintf("sessions_%d", size))
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}}}); err != nil {
			b.Fatal(err)
		}
		docs := make([]any, 0, 1000)
		for i := range size {
			docs = append(docs, bson.M{"_id": fmt.Sprintf("s-%06d", i), "accountId": fmt.Sprintf("acc-%05d", i/5), "state": "live", "n": 0})
			if len(docs) == cap(docs) || i == size-1 {
				if _, err := coll.InsertMany(ctx, docs); err != nil {
					b.Fatal(err)
				}
				docs = docs[:0]
			}
		}
		b.Run(fmt.Sprintf("docs=%d/find-by-id", size), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := coll.FindOne(ctx, bson.M{"_id": fmt.Sprintf("s-%06d", i%size)}).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("docs=%d/update-by-id-and-state", size), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("s-%06d", i%size)}, {Key: "state", Value: "live"}},
					bson.M{"$inc": bson.M{"n": 1}})
				if err != nil || res.MatchedCount != 1 {
					b.Fatalf("UpdateOne: matched %v, %v", res.MatchedCount, err)
				}
			}
		})
		b.Run(fmt.Sprintf("docs=%d/find-by-indexed-field", size), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				cur, err := coll.Find(ctx, bson.M{"accountId": fmt.Sprintf("acc-%05d", i%(size/5)), "state": "live"})
				if err != nil {
					b.Fatal(err)
				}
				var got []bson.M
				if err := cur.All(ctx, &got); err != nil || len(got) != 5 {
					b.Fatalf("Find: %d documents, %v", len(got), err)
				}
			}
		})
	}
}
