package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// claimOnce records the single use of the one-time link hash in uses (a collection of {_id: hash,
// at}), then marks its document in links usedAt (informational only). The claim is an insert into a
// unique _id, atomic on FerretDB and MongoDB alike (a conditional update is not, on FerretDB): of
// concurrent claims exactly one wins.
func claimOnce(ctx context.Context, uses, links *mongo.Collection, hash string, at time.Time, what string) (bool, error) {
	_, err := uses.InsertOne(ctx, bson.D{{Key: "_id", Value: hash}, {Key: "at", Value: at.UTC()}})
	if mongox.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("claim "+what, err)
	}
	_, _ = links.UpdateOne(ctx, bson.D{{Key: "_id", Value: hash}}, bson.D{{Key: "$set", Value: bson.D{{Key: "usedAt", Value: at.UTC()}}}})
	return true, nil
}

// usedAt is when the one-time link hash was claimed in uses (zero: never).
func usedAt(ctx context.Context, uses *mongo.Collection, hash, what string) (time.Time, error) {
	var use struct {
		At time.Time `bson:"at"`
	}
	switch err := uses.FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(&use); {
	case err == nil:
		return use.At, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return time.Time{}, nil
	default:
		return time.Time{}, wrap("find "+what+" use", err)
	}
}
