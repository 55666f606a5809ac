package store

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// ForAccount returns the account's delivery records, newest first, at most limit of them (for the
// account's data export; the accountId index serves it).
func (s *Deliveries) ForAccount(ctx context.Context, accountID string, limit int) ([]delivery.Record, error) {
	opts := options.Find().SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit))
	cur, err := s.coll.Find(ctx, bson.D{{Key: "accountId", Value: accountID}}, opts)
	if err != nil {
		return nil, err
	}
	var docs []document
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]delivery.Record, len(docs))
	for i, d := range docs {
		out[i] = d.record()
	}
	return out, nil
}

// MessagesOf returns the message records of the events (deliveries) eventIDs.
func (s *Deliveries) MessagesOf(ctx context.Context, eventIDs []string) ([]delivery.MessageRecord, error) {
	if len(eventIDs) == 0 {
		return nil, nil
	}
	cur, err := s.messages.Find(ctx, bson.D{{Key: "eventId", Value: bson.D{{Key: "$in", Value: eventIDs}}}},
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]delivery.MessageRecord, len(docs))
	for i, d := range docs {
		out[i] = d.record()
	}
	return out, nil
}
