package mongoserver_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/mongoserver"
)

// pushdownColl starts a server and returns a collection indexed on accountId holding every shape a
// document's accountId can take, so that an equality the SQLite index narrows can be checked against
// MongoDB's semantics.
func pushdownColl(t *testing.T) *mongo.Collection {
	t.Helper()
	ctx := context.Background()
	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	coll := connect(t, srv.URI()).Database("app").Collection("sessions")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "state", Value: 1}}}); err != nil {
		t.Fatalf("CreateIndex: %v", err)
	}
	docs := []any{
		bson.M{"_id": "s1", "accountId": "acc-1", "state": "live"},
		bson.M{"_id": "s2", "accountId": "acc-1", "state": "revoked"},
		bson.M{"_id": "s3", "accountId": "acc-2", "state": "live"},
		bson.M{"_id": "s4", "accountId": bson.A{"acc-0", "acc-1"}, "state": "live"}, // MongoDB matches arrays element-wise
		bson.M{"_id": "s5", "accountId": 1, "state": "live"},
		bson.M{"_id": "s6", "state": "live"},
		bson.M{"_id": "s7", "accountId": bson.M{"id": "acc-1"}, "state": "live"},
		bson.M{"_id": "s8", "accountId": `a<b&"c"`, "state": "live"}, // escaped in JSON: never pushed down
		bson.M{"_id": "s9", "accountId": "ACC-1", "state": "live"},
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatalf("InsertMany: %v", err)
	}
	return coll
}

func ids(t *testing.T, coll *mongo.Collection, filter any) []string {
	t.Helper()
	cur, err := coll.Find(context.Background(), filter, options.Find().SetProjection(bson.M{"_id": 1}))
	if err != nil {
		t.Fatalf("Find(%v): %v", filter, err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatalf("All: %v", err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	slices.Sort(out)
	return out
}

// TestPushdownKeepsMongoDBSemantics: every filter the patched SQLite backend narrows still returns
// exactly what MongoDB returns (the narrowing is a superset; the full filter decides).
func TestPushdownKeepsMongoDBSemantics(t *testing.T) {
	coll := pushdownColl(t)
	for _, tc := range []struct {
		filter bson.D
		want   []string
	}{
		{bson.D{{Key: "accountId", Value: "acc-1"}}, []string{"s1", "s2", "s4"}},
		{bson.D{{Key: "accountId", Value: "acc-1"}, {Key: "state", Value: "live"}}, []string{"s1", "s4"}},
		{bson.D{{Key: "state", Value: "live"}, {Key: "accountId", Value: "acc-2"}}, []string{"s3"}},
		{bson.D{{Key: "accountId", Value: "nobody"}}, nil},
		{bson.D{{Key: "accountId", Value: `a<b&"c"`}}, []string{"s8"}},
		{bson.D{{Key: "accountId", Value: 1}}, []string{"s5"}},
		{bson.D{{Key: "_id", Value: "s1"}, {Key: "state", Value: "live"}}, []string{"s1"}},
		{bson.D{{Key: "_id", Value: "s2"}, {Key: "state", Value: "live"}}, nil},
		{bson.D{{Key: "_id", Value: bson.M{"$in": bson.A{"s1", "s3", "missing"}}}}, []string{"s1", "s3"}},
		{bson.D{{Key: "_id", Value: bson.M{"$in": bson.A{"s1", 7}}}}, []string{"s1"}},
		{bson.D{{Key: "state", Value: "revoked"}}, []string{"s2"}}, // not the first field of an index: scanned
	} {
		if got := ids(t, coll, tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("Find(%v) = %v, want %v", tc.filter, got, tc.want)
		}
	}

	// Writes go through the same narrowing: a conditional update by _id and state.
	ctx := context.Background()
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "s2"}, {Key: "state", Value: "live"}}, bson.M{"$set": bson.M{"touched": true}})
	if err != nil || res.MatchedCount != 0 {
		t.Fatalf("conditional update of a revoked session: matched %v, err %v; want 0", res.MatchedCount, err)
	}
	res, err = coll.UpdateMany(ctx, bson.D{{Key: "accountId", Value: "acc-1"}}, bson.M{"$set": bson.M{"touched": true}})
	if err != nil || res.ModifiedCount != 3 {
		t.Fatalf("UpdateMany by account: modified %v, err %v; want 3", res.ModifiedCount, err)
	}
	del, err := coll.DeleteMany(ctx, bson.D{{Key: "accountId", Value: "acc-1"}, {Key: "touched", Value: true}})
	if err != nil || del.DeletedCount != 3 {
		t.Fatalf("DeleteMany by account: deleted %v, err %v; want 3", del.DeletedCount, err)
	}
	if got := ids(t, coll, bson.D{}); !slices.Equal(got, []string{"s3", "s5", "s6", "s7", "s8", "s9"}) {
		t.Errorf("left after the delete: %v", got)
	}
}

// TestPushdownUsesTheIndex: the query plan of a narrowed filter searches an index instead of scanning
// the table, which is what keeps the local stack as fast after 10,000 sign-ins as after ten.
func TestPushdownUsesTheIndex(t *testing.T) {
	coll := pushdownColl(t)
	for _, tc := range []struct {
		filter bson.D
		want   string // in the SQLite plan
	}{
		{bson.D{{Key: "accountId", Value: "acc-1"}, {Key: "state", Value: "live"}}, "USING INDEX"},
		{bson.D{{Key: "_id", Value: "s1"}, {Key: "state", Value: "live"}}, "USING INDEX"},
		{bson.D{{Key: "_id", Value: bson.M{"$in": bson.A{"s1", "s3"}}}}, "USING INDEX"},
		{bson.D{{Key: "state", Value: "live"}}, "SCAN"},
	} {
		plan := explainPlan(t, coll, tc.filter)
		if !strings.Contains(plan, tc.want) {
			t.Errorf("plan of %v = %s, want %q in it", tc.filter, plan, tc.want)
		}
	}
}

func explainPlan(t *testing.T, coll *mongo.Collection, filter bson.D) string {
	t.Helper()
	var out bson.M
	err := coll.Database().RunCommand(context.Background(), bson.D{
		{Key: "explain", Value: bson.D{{Key: "find", Value: coll.Name()}, {Key: "filter", Value: filter}}},
	}).Decode(&out)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	raw, err := bson.MarshalExtJSON(out, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestOnCommandSeesEveryCommand: the hook the bench counts round trips with names each command's
// database, name and collection.
func TestOnCommandSeesEveryCommand(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string]int{}
	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0", OnCommand: func(db, command, collection string) {
		mu.Lock()
		defer mu.Unlock()
		seen[db+" "+command+" "+collection]++
	}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	coll := connect(t, srv.URI()).Database("app").Collection("things")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "a"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := coll.FindOne(ctx, bson.M{"_id": "a"}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["app insert things"] != 1 || seen["app find things"] != 2 {
		t.Errorf("commands seen = %v, want one insert and two finds on app.things", seen)
	}
}
