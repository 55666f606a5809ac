package store

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// EraseAccount removes every session of the account and, from the legacy collections earlier versions
// wrote (see legacyTokenUses), their revocation records and refresh-token uses (account.deleted).
// Idempotent.
func (s *Sessions) EraseAccount(ctx context.Context, accountID string) error {
	byAccount := bson.D{{Key: "accountId", Value: accountID}}
	cur, err := s.coll.Find(ctx, byAccount, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return classify(err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return classify(err)
	}
	ids := make([]string, 0, len(docs))
	for _, d := range docs {
		ids = append(ids, d.ID)
	}
	// Revocation records outlive their session's document; theirs are found by account too.
	revoked, err := s.revocations.Distinct(ctx, "_id", byAccount)
	if err != nil {
		return classify(err)
	}
	for _, v := range revoked {
		if id, ok := v.(string); ok {
			ids = append(ids, id)
		}
	}
	if _, err := s.uses.DeleteMany(ctx, bson.D{{Key: "sessionId", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return classify(err)
	}
	if _, err := s.revocations.DeleteMany(ctx, byAccount); err != nil {
		return classify(err)
	}
	if _, err := s.coll.DeleteMany(ctx, byAccount); err != nil {
		return classify(err)
	}
	return nil
}

// Erase removes the account's projected facts (account.deleted). Idempotent.
func (a *Accounts) Erase(ctx context.Context, accountID string) error {
	if _, err := a.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: accountID}}); err != nil {
		return classify(err)
	}
	return nil
}
