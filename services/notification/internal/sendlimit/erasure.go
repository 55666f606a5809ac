package sendlimit

import (
	"context"
	"fmt"
	"regexp"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// EraseDestinations removes the per-destination counters of the given addresses and numbers
// (account.deleted): their ids hold the destination in clear. Per-country counters name no one and
// stay. Idempotent.
func (l *Limiter) EraseDestinations(ctx context.Context, destinations []string) error {
	for _, d := range destinations {
		if d == "" {
			continue
		}
		filter := bson.D{{Key: "_id", Value: primitive.Regex{Pattern: "^destination:" + regexp.QuoteMeta(d) + ":", Options: "i"}}}
		if _, err := l.coll.DeleteMany(ctx, filter); err != nil {
			return fmt.Errorf("erase send limits of a destination: %w", err)
		}
	}
	return nil
}
