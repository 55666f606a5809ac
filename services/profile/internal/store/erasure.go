package store

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
)

// EraseAccount removes the account's profile (account.deleted): the profile is the only document the
// profile service keys by account. Idempotent.
func (s *Profiles) EraseAccount(ctx context.Context, accountID string) error {
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: accountID}}); err != nil {
		return wrap("erase profile", accountID, err)
	}
	return nil
}
