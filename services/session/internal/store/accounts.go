package store

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/session/internal/account"
)

// Accounts is the accounts collection: the session service's projection of identity's and profile's
// account facts (see package account). One document per account, with a version per part.
type Accounts struct {
	coll *mongo.Collection
}

// NewAccounts returns the account projection of db.
func NewAccounts(db *mongo.Database) *Accounts {
	return &Accounts{coll: db.Collection("accounts")}
}

type accountDoc struct {
	ID             string `bson:"_id"`
	Email          string `bson:"email"`
	EmailVerified  bool   `bson:"emailVerified"`
	FullName       string `bson:"fullName"`
	IdentityVer    int64  `bson:"identityVersion"`
	ProfileVersion int64  `bson:"profileVersion"`
}

// ApplyIdentity sets email and its verification when version is newer than the stored one.
func (a *Accounts) ApplyIdentity(ctx context.Context, accountID string, version int64, email string, verified bool) error {
	return a.apply(ctx, accountID, "identityVersion", "profileVersion", version,
		bson.D{{Key: "email", Value: email}, {Key: "emailVerified", Value: verified}})
}

// ApplyName sets the full name when version is newer than the stored one.
func (a *Accounts) ApplyName(ctx context.Context, accountID string, version int64, fullName string) error {
	return a.apply(ctx, accountID, "profileVersion", "identityVersion", version, bson.D{{Key: "fullName", Value: fullName}})
}

// apply is one conditional upsert: it matches the account only while its part is older than version.
// When the account exists with a newer part the upsert's insert collides on _id: the event is stale,
// and dropping it is right. A new document starts the other part at account.VersionNone.
func (a *Accounts) apply(ctx context.Context, accountID, versionKey, otherKey string, version int64, set bson.D) error {
	filter := bson.D{{Key: "_id", Value: accountID}, {Key: versionKey, Value: bson.D{{Key: "$lt", Value: version}}}}
	set = append(set, bson.E{Key: versionKey, Value: version})
	update := bson.D{{Key: "$set", Value: set}, {Key: "$setOnInsert", Value: bson.D{{Key: otherKey, Value: account.VersionNone}}}}
	_, err := a.coll.UpdateOne(ctx, filter, update, options.Update().SetUpsert(true))
	if mongox.IsDuplicateKey(err) {
		return nil
	}
	if err != nil {
		return classify(err)
	}
	return nil
}

// Get returns the account's facts, or account.ErrNotFound.
func (a *Accounts) Get(ctx context.Context, accountID string) (account.Facts, error) {
	var d accountDoc
	if err := a.coll.FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return account.Facts{}, account.ErrNotFound
		}
		return account.Facts{}, classify(err)
	}
	return account.Facts{Email: d.Email, EmailVerified: d.EmailVerified, FullName: d.FullName}, nil
}
