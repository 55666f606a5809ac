package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// EraseAccount removes the delivery records of an account (account.deleted): those of its events and
// those to any of destinations (its e-mail addresses and phone numbers, also from before it had an
// account id, such as the registration code), their message records and the provider status reports
// waiting for those messages. It returns the ids of the removed messages (the dev outbox keys its
// entries by them). Idempotent.
func (s *Deliveries) EraseAccount(ctx context.Context, accountID string, destinations []string) ([]string, error) {
	if destinations == nil {
		destinations = []string{}
	}
	match := bson.A{bson.D{{Key: "destination", Value: bson.D{{Key: "$in", Value: destinations}}}}}
	if accountID != "" {
		match = append(match, bson.D{{Key: "accountId", Value: accountID}})
	}
	eventIDs, err := distinctStrings(ctx, s.coll, bson.D{{Key: "$or", Value: match}}, "_id")
	if err != nil {
		return nil, fmt.Errorf("find deliveries to erase: %w", err)
	}
	msgFilter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "eventId", Value: bson.D{{Key: "$in", Value: eventIDs}}}},
		bson.D{{Key: "destination", Value: bson.D{{Key: "$in", Value: destinations}}}},
	}}}
	cur, err := s.messages.Find(ctx, msgFilter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "providerMessageId", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find delivery messages to erase: %w", err)
	}
	var msgs []struct {
		ID                string `bson:"_id"`
		ProviderMessageID string `bson:"providerMessageId"`
	}
	if err := cur.All(ctx, &msgs); err != nil {
		return nil, fmt.Errorf("read delivery messages to erase: %w", err)
	}
	messageIDs, providerIDs := []string{}, []string{}
	for _, m := range msgs {
		messageIDs = append(messageIDs, m.ID)
		if m.ProviderMessageID != "" {
			providerIDs = append(providerIDs, m.ProviderMessageID)
		}
	}
	if _, err := s.pending.DeleteMany(ctx, bson.D{{Key: "providerMessageId", Value: bson.D{{Key: "$in", Value: providerIDs}}}}); err != nil {
		return nil, fmt.Errorf("erase pending delivery statuses: %w", err)
	}
	if _, err := s.messages.DeleteMany(ctx, msgFilter); err != nil {
		return nil, fmt.Errorf("erase delivery messages: %w", err)
	}
	if _, err := s.coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: eventIDs}}}}); err != nil {
		return nil, fmt.Errorf("erase deliveries: %w", err)
	}
	return messageIDs, nil
}

// distinctStrings returns the string values of field in the documents of coll matching filter.
func distinctStrings(ctx context.Context, coll *mongo.Collection, filter bson.D, field string) ([]string, error) {
	cur, err := coll.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: field, Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := []string{}
	for _, d := range docs {
		if v, ok := d[field].(string); ok {
			out = append(out, v)
		}
	}
	return out, nil
}
