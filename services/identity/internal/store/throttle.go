package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Counters is the throttle collection: one document per (scope, key), id scope|keyHash, holding
// the key's state (at, n) and a version v that every change bumps. A change is an update
// conditioned on the version read (or an insert of a new id), so of concurrent changes exactly one
// wins — a single-document conditional write, atomic on MongoDB (and on the test server, which
// serializes writes). expiresAt is when the state reads as empty anyway; a TTL index may remove it.
type Counters struct{ coll *mongo.Collection }

// NewCounters returns the throttle counter store of db.
func NewCounters(db *mongo.Database) *Counters { return &Counters{coll: db.Collection(CollThrottle)} }

// keyHash hashes the caller-supplied key (an IP, a typed identifier): ids stay short, and typed
// identifiers are not kept in clear.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

func counterID(scope, key string) string { return scope + "|" + keyHash(key) }

type counterDoc struct {
	At      int64 `bson:"at"`
	N       int64 `bson:"n"`
	Version int64 `bson:"v"`
}

// Load returns the state of (scope, key).
func (s *Counters) Load(ctx context.Context, scope, key string) (throttle.State, bool, error) {
	var d counterDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: counterID(scope, key)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return throttle.State{}, false, nil
	}
	if err != nil {
		return throttle.State{}, false, wrap("read "+scope, err)
	}
	return throttle.State{At: d.At, N: d.N, Version: d.Version}, true, nil
}

// Swap stores next while the stored state is still old (see throttle.Store).
func (s *Counters) Swap(ctx context.Context, scope, key string, old throttle.State, found bool, next throttle.State, expires time.Time) (bool, error) {
	id := counterID(scope, key)
	if !found {
		_, err := s.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "scope", Value: scope},
			{Key: "at", Value: next.At}, {Key: "n", Value: next.N}, {Key: "v", Value: int64(1)}, {Key: "expiresAt", Value: expires.UTC()}})
		if mongox.IsDuplicateKey(err) {
			return false, nil
		}
		if err != nil {
			return false, wrap("count "+scope, err)
		}
		return true, nil
	}
	res, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: old.Version}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: next.At}, {Key: "n", Value: next.N},
			{Key: "v", Value: old.Version + 1}, {Key: "expiresAt", Value: expires.UTC()}}}})
	if err != nil {
		return false, wrap("count "+scope, err)
	}
	return res.MatchedCount == 1, nil
}

// Delete forgets (scope, key).
func (s *Counters) Delete(ctx context.Context, scope, key string) error {
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: counterID(scope, key)}}); err != nil {
		return wrap("reset "+scope, err)
	}
	return nil
}
