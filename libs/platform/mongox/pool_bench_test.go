package mongox_test

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// BenchmarkFindByIDPool is the read of a request (FindOne by _id) from four concurrent clients per
// core, as a service serves them, with the driver's default pool (maxPoolSize 100) and with pools
// near GOMAXPROCS. The MongoDB-compatible server runs in the test process, so ns/op includes it.
func BenchmarkFindByIDPool(b *testing.B) {
	env := testenv.New(b)
	for _, size := range []uint64{0, 4, 2} {
		b.Run(fmt.Sprintf("maxPoolSize=%d", size), func(b *testing.B) {
			opts, err := mongox.ClientOptions(env.MongoURI)
			if err != nil {
				b.Fatal(err)
			}
			if size > 0 {
				opts.SetMaxPoolSize(size)
			}
			client, err := mongo.Connect(context.Background(), opts)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
			coll := client.Database(env.Database("bench").Name()).Collection("docs")
			if _, err := coll.InsertOne(context.Background(), bson.M{"_id": "acc-1", "email": "ada@example.com", "firstName": "Ada"}); err != nil && !mongox.IsDuplicateKey(err) {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(2)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var doc bson.M
					if err := coll.FindOne(context.Background(), bson.M{"_id": "acc-1"}).Decode(&doc); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
