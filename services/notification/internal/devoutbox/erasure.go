package devoutbox

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
)

// EraseDestinations removes the stored messages to any of destinations or with any of messageIDs
// (account.deleted). Idempotent.
func (o *Outbox) EraseDestinations(ctx context.Context, destinations, messageIDs []string) error {
	if destinations == nil {
		destinations = []string{}
	}
	if messageIDs == nil {
		messageIDs = []string{}
	}
	_, err := o.coll.DeleteMany(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "to", Value: bson.D{{Key: "$in", Value: destinations}}}},
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: messageIDs}}}},
	}}})
	if err != nil {
		return wrap("erase dev outbox messages", err)
	}
	return nil
}
