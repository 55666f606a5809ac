package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
)

// CollAPIKeys holds API keys: unique on hash (the SHA-256 of the key), listed by accountId.
const CollAPIKeys = "api_keys"

// apiKeyIndexes are the indexes of CollAPIKeys.
var apiKeyIndexes = []mongo.IndexModel{
	{Keys: bson.D{{Key: "hash", Value: 1}}, Options: options.Index().SetName("hash_unique").SetUnique(true)},
	{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "createdAt", Value: -1}}, Options: options.Index().SetName("account_created")},
}

// APIKeys is the api_keys collection.
type APIKeys struct{ coll *mongo.Collection }

// NewAPIKeys returns the API-key store of db.
func NewAPIKeys(db *mongo.Database) *APIKeys { return &APIKeys{coll: db.Collection(CollAPIKeys)} }

type apiKeyDoc struct {
	ID         string     `bson:"_id"`
	AccountID  string     `bson:"accountId"`
	Name       string     `bson:"name"`
	Prefix     string     `bson:"prefix"`
	Hash       string     `bson:"hash"`
	Scopes     []string   `bson:"scopes"`
	CreatedAt  time.Time  `bson:"createdAt"`
	ExpiresAt  *time.Time `bson:"expiresAt"`
	LastUsedAt *time.Time `bson:"lastUsedAt"`
	RevokedAt  *time.Time `bson:"revokedAt"`
	// Slot is the number of the CollAPIKeySlots document the key holds (0: a key stored before
	// slots, counted by CountLive instead).
	Slot int `bson:"slot,omitempty"`
	// CreatedInSession is the session the key was created in (absent on older keys).
	CreatedInSession string `bson:"createdInSession,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func fromOpt(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func (d apiKeyDoc) key() apikey.Key {
	scopes, _ := authn.ParseScopes(d.Scopes) // written by Insert from a valid Scope
	return apikey.Key{
		ID: d.ID, AccountID: d.AccountID, Name: d.Name, Prefix: d.Prefix, Hash: d.Hash, Scopes: scopes,
		CreatedAt: d.CreatedAt, ExpiresAt: fromOpt(d.ExpiresAt), LastUsedAt: fromOpt(d.LastUsedAt),
		RevokedAt: fromOpt(d.RevokedAt), CreatedInSession: d.CreatedInSession,
	}
}

// Insert stores a new key without any limit (tests use it to store keys as older versions did).
func (s *APIKeys) Insert(ctx context.Context, k apikey.Key) error {
	return s.insert(ctx, k, 0)
}

func (s *APIKeys) insert(ctx context.Context, k apikey.Key, slot int) error {
	_, err := s.coll.InsertOne(ctx, apiKeyDoc{
		ID: k.ID, AccountID: k.AccountID, Name: k.Name, Prefix: k.Prefix, Hash: k.Hash, Scopes: k.Scopes.Names(),
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: optTime(k.ExpiresAt), LastUsedAt: optTime(k.LastUsedAt), Slot: slot,
		CreatedInSession: k.CreatedInSession,
	})
	if err != nil {
		return wrap("insert api key", err)
	}
	return nil
}

// CountLive counts the account's keys that are neither revoked nor expired at now.
func (s *APIKeys) CountLive(ctx context.Context, accountID string, now time.Time) (int, error) {
	n, err := s.coll.CountDocuments(ctx, bson.D{
		{Key: "accountId", Value: accountID},
		{Key: "revokedAt", Value: nil},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "expiresAt", Value: nil}},
			bson.D{{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}},
		}},
	})
	if err != nil {
		return 0, wrap("count api keys", err)
	}
	return int(n), nil
}

// List returns the account's unrevoked keys, newest first.
func (s *APIKeys) List(ctx context.Context, accountID string) ([]apikey.Key, error) {
	return findAll(ctx, s.coll, bson.D{{Key: "accountId", Value: accountID}, {Key: "revokedAt", Value: nil}},
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: 1}}), "api keys", apiKeyDoc.key)
}

func (s *APIKeys) findOne(ctx context.Context, filter bson.D) (apikey.Key, error) {
	var d apiKeyDoc
	err := s.coll.FindOne(ctx, filter).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	if err != nil {
		return apikey.Key{}, wrap("find api key", err)
	}
	return d.key(), nil
}

// Find returns the account's unrevoked key, or apikey.ErrNotFound (also for another account's key).
func (s *APIKeys) Find(ctx context.Context, accountID, id string) (apikey.Key, error) {
	return s.findOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "accountId", Value: accountID}, {Key: "revokedAt", Value: nil}})
}

// ByHash returns the key with the hash, revoked or not, or apikey.ErrNotFound.
func (s *APIKeys) ByHash(ctx context.Context, hash string) (apikey.Key, error) {
	return s.findOne(ctx, bson.D{{Key: "hash", Value: hash}})
}

// Revoke marks the account's unrevoked key revoked at at and frees its slot, or answers
// apikey.ErrNotFound.
func (s *APIKeys) Revoke(ctx context.Context, accountID, id string, at time.Time) error {
	var d apiKeyDoc
	err := s.coll.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "accountId", Value: accountID}, {Key: "revokedAt", Value: nil}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revokedAt", Value: at.UTC()}}}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return apikey.ErrNotFound
	}
	if err != nil {
		return wrap("revoke api key", err)
	}
	s.releaseSlot(ctx, accountID, d.Slot, d.ID)
	return nil
}

// ClaimFirstUse sets lastUsedAt to at while the key has never been used, and reports whether it did
// (one conditional write: of concurrent first uses, one wins).
func (s *APIKeys) ClaimFirstUse(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "lastUsedAt", Value: nil}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "lastUsedAt", Value: at.UTC()}}}})
	if err != nil {
		return false, wrap("record api key first use", err)
	}
	return res.ModifiedCount == 1, nil
}

// TouchLastUsed sets lastUsedAt to at unless it is already after notBefore (one conditional write,
// so concurrent verifications write it once).
func (s *APIKeys) TouchLastUsed(ctx context.Context, id string, at, notBefore time.Time) error {
	_, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "$or", Value: bson.A{
			bson.D{{Key: "lastUsedAt", Value: nil}},
			bson.D{{Key: "lastUsedAt", Value: bson.D{{Key: "$lte", Value: notBefore.UTC()}}}},
		}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "lastUsedAt", Value: at.UTC()}}}})
	if err != nil {
		return wrap("record api key use", err)
	}
	return nil
}
