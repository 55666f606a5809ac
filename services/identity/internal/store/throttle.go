package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// Counters is the throttle collection. A window of a limit is up to Max documents, one per claimed
// slot, with ids scope|windowStart|keyHash|slot (see claimSlot). Old windows are never read again
// (the window start is part of every query), so nothing depends on a TTL index removing them.
type Counters struct{ coll *mongo.Collection }

// NewCounters returns the throttle counter store of db.
func NewCounters(db *mongo.Database) *Counters { return &Counters{coll: db.Collection(CollThrottle)} }

// keyHash hashes the caller-supplied key (an IP, a typed identifier): ids stay short, and typed
// identifiers are not kept in clear.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

func windowFilter(scope, key string, start time.Time) bson.D {
	return bson.D{{Key: "scope", Value: scope}, {Key: "key", Value: keyHash(key)}, {Key: "windowStart", Value: start.UTC()}}
}

// Claim takes a free slot of the window, reporting false when all max are taken.
func (s *Counters) Claim(ctx context.Context, scope, key string, start, expires time.Time, max int) (bool, error) {
	taken, err := s.Count(ctx, scope, key, start)
	if err != nil || taken >= max {
		return false, err
	}
	h := keyHash(key)
	prefix := scope + "|" + strconv.FormatInt(start.Unix(), 10) + "|" + h
	slot, err := claimSlot(ctx, s.coll, prefix, taken, max, func(id string, slot int) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "scope", Value: scope}, {Key: "key", Value: h},
			{Key: "windowStart", Value: start.UTC()}, {Key: "slot", Value: slot}, {Key: "expiresAt", Value: expires.UTC()}}
	})
	return slot > 0, err
}

// Count returns how many slots of the window are taken.
func (s *Counters) Count(ctx context.Context, scope, key string, start time.Time) (int, error) {
	n, err := s.coll.CountDocuments(ctx, windowFilter(scope, key, start))
	if err != nil {
		return 0, wrap("count "+scope, err)
	}
	return int(n), nil
}

// Reset frees the window's slots.
func (s *Counters) Reset(ctx context.Context, scope, key string, start time.Time) error {
	if _, err := s.coll.DeleteMany(ctx, windowFilter(scope, key, start)); err != nil {
		return wrap("reset "+scope, err)
	}
	return nil
}
