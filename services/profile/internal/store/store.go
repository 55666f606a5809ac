// Package store keeps profiles in MongoDB (the "profiles" collection).
//
// Every write touches one document, so it needs no transactions (FerretDB has none): inserts rely on
// the unique _id, updates are conditional on the document's version.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// Collection is the name of the profiles collection.
const Collection = "profiles"

// Profiles is the MongoDB implementation of profile.Store.
type Profiles struct {
	coll *mongo.Collection
}

// NewProfiles returns a store over db's profiles collection.
func NewProfiles(db *mongo.Database) *Profiles {
	return &Profiles{coll: db.Collection(Collection)}
}

// EnsureIndexes creates the indexes the store needs. Profiles are looked up by _id (the account id)
// only, which MongoDB indexes by itself; the call exists so start-up reads the same in every service
// and so later lookups (by username, say) have a place to declare their index.
func (s *Profiles) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll)
}

// document is a profile as stored. Unset values are left out rather than stored as empty strings.
type document struct {
	ID            string    `bson:"_id"`
	Email         string    `bson:"email,omitempty"`
	Username      string    `bson:"username,omitempty"`
	FirstName     string    `bson:"firstName,omitempty"`
	LastName      string    `bson:"lastName,omitempty"`
	DisplayName   string    `bson:"displayName,omitempty"`
	Phone         string    `bson:"phone,omitempty"`
	Locale        string    `bson:"locale,omitempty"`
	Timezone      string    `bson:"timezone,omitempty"`
	AvatarURL     string    `bson:"avatarUrl,omitempty"`
	CreatedAt     time.Time `bson:"createdAt"`
	UpdatedAt     time.Time `bson:"updatedAt"`
	Version       int64     `bson:"version"`
	AppliedEvents []string  `bson:"appliedEvents,omitempty"`
}

func toDocument(p profile.Profile) document {
	return document{
		ID: p.AccountID, Email: p.Email, Username: p.Username, FirstName: p.FirstName, LastName: p.LastName,
		DisplayName: p.DisplayName, Phone: p.Phone, Locale: p.Locale, Timezone: p.Timezone, AvatarURL: p.AvatarURL,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(), Version: p.Version, AppliedEvents: p.AppliedEvents,
	}
}

func (d document) profile() profile.Profile {
	return profile.Profile{
		AccountID: d.ID, Email: d.Email, Username: d.Username, FirstName: d.FirstName, LastName: d.LastName,
		DisplayName: d.DisplayName, Phone: d.Phone, Locale: d.Locale, Timezone: d.Timezone, AvatarURL: d.AvatarURL,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Version: d.Version, AppliedEvents: d.AppliedEvents,
	}
}

// Find returns the profile or profile.ErrNotFound.
func (s *Profiles) Find(ctx context.Context, accountID string) (profile.Profile, error) {
	var d document
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return profile.Profile{}, profile.ErrNotFound
	}
	if err != nil {
		return profile.Profile{}, wrap("find profile", accountID, err)
	}
	return d.profile(), nil
}

// Insert stores a new profile at version 1, or returns profile.ErrConflict when it exists.
func (s *Profiles) Insert(ctx context.Context, p profile.Profile) error {
	d := toDocument(p)
	d.Version = 1
	_, err := s.coll.InsertOne(ctx, d)
	if mongox.IsDuplicateKey(err) {
		return profile.ErrConflict
	}
	if err != nil {
		return wrap("insert profile", p.AccountID, err)
	}
	return nil
}

// Update replaces the profile if it is still at p.Version, bumping the version.
func (s *Profiles) Update(ctx context.Context, p profile.Profile) error {
	d := toDocument(p)
	d.Version = p.Version + 1
	res, err := s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: p.AccountID}, {Key: "version", Value: p.Version}}, d)
	if err != nil {
		return wrap("update profile", p.AccountID, err)
	}
	if res.MatchedCount == 0 {
		return profile.ErrConflict
	}
	return nil
}

// Ensure returns the profile, creating it with the id and timestamps alone when it does not exist.
// The upsert touches nothing but $setOnInsert fields, so it never changes an existing profile.
func (s *Profiles) Ensure(ctx context.Context, accountID string, now time.Time) (profile.Profile, error) {
	update := bson.D{{Key: "$setOnInsert", Value: bson.D{
		{Key: "createdAt", Value: now.UTC()},
		{Key: "updatedAt", Value: now.UTC()},
		{Key: "version", Value: int64(1)},
	}}}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	var d document
	err := s.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: accountID}}, update, opts).Decode(&d)
	if mongox.IsDuplicateKey(err) {
		// Two upserts raced and the other one inserted first: the profile exists now.
		return s.Find(ctx, accountID)
	}
	if err != nil {
		return profile.Profile{}, wrap("ensure profile", accountID, err)
	}
	return d.profile(), nil
}

// wrap adds context to a driver error and marks the ones that mean "MongoDB is unreachable" as
// profile.ErrUnavailable, so the API answers 503 instead of 500.
func wrap(op, id string, err error) error {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return fmt.Errorf("%s %s: %w: %w", op, id, profile.ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}
