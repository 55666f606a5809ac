package store

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

// AllForAccount returns the account's sessions in every state (active, ended, revoked), newest first,
// at most limit of them, for the account's data export. Refresh-token hashes and sealed grace pairs
// are never read: the projection leaves them in the database.
func (s *Sessions) AllForAccount(ctx context.Context, accountID string, limit int) ([]session.Session, error) {
	opts := options.Find().SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)).
		SetProjection(bson.D{
			{Key: "refreshHash", Value: 0}, {Key: "rotatedRefreshHashes", Value: 0},
			{Key: "graceHash", Value: 0}, {Key: "graceSealed", Value: 0},
		})
	cur, err := s.coll.Find(ctx, bson.D{{Key: "accountId", Value: accountID}}, opts)
	if err != nil {
		return nil, classify(err)
	}
	var docs []sessionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, classify(err)
	}
	out := make([]session.Session, len(docs))
	for i, d := range docs {
		out[i] = d.session()
	}
	return out, nil
}
