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

// EnsureIndexes creates the indexes the store needs. Profiles are looked up by _id (the account id),
// which MongoDB indexes by itself; the republisher looks for pending snapshots through a sparse index
// that holds only the (few) profiles whose snapshot is not in the outbox yet.
func (s *Profiles) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll, mongo.IndexModel{
		Keys:    bson.D{{Key: "snapshotPending", Value: 1}, {Key: "updatedAt", Value: 1}},
		Options: options.Index().SetName("snapshot_pending").SetSparse(true),
	})
}

// document is a profile as stored. Unset values are left out rather than stored as empty strings.
// The account sub-document is the projection of identity's facts (account.created/account.updated).
type document struct {
	ID              string      `bson:"_id"`
	Email           string      `bson:"email,omitempty"`
	Username        string      `bson:"username,omitempty"`
	Phone           string      `bson:"phone,omitempty"`
	Account         accountFact `bson:"account"`
	FirstName       string      `bson:"firstName,omitempty"`
	LastName        string      `bson:"lastName,omitempty"`
	DisplayName     string      `bson:"displayName,omitempty"`
	Bio             string      `bson:"bio,omitempty"`
	Location        string      `bson:"location,omitempty"`
	Locale          string      `bson:"locale,omitempty"`
	Timezone        string      `bson:"timezone,omitempty"`
	AvatarURL       string      `bson:"avatarUrl,omitempty"`
	UserType        string      `bson:"userType,omitempty"`
	AudioUsage      string      `bson:"audioUsage,omitempty"`
	ReferralSource  string      `bson:"referralSource,omitempty"`
	CountryCode     string      `bson:"countryCode,omitempty"`
	CreatedAt       time.Time   `bson:"createdAt"`
	UpdatedAt       time.Time   `bson:"updatedAt"`
	Version         int64       `bson:"version"`
	AppliedEvents   []string    `bson:"appliedEvents,omitempty"`
	SnapshotPending bool        `bson:"snapshotPending,omitempty"`
}

type accountFact struct {
	Version       int64  `bson:"version"`
	EmailVerified bool   `bson:"emailVerified"`
	PhoneVerified bool   `bson:"phoneVerified"`
	Status        string `bson:"status,omitempty"`
	PendingPhone  string `bson:"pendingPhone,omitempty"`
}

func toDocument(p profile.Profile) document {
	return document{
		ID: p.AccountID, Email: p.Email, Username: p.Username, Phone: p.Phone,
		Account: accountFact{Version: p.AccountVersion, EmailVerified: p.EmailVerified, PhoneVerified: p.PhoneVerified, Status: p.AccountStatus,
			PendingPhone: p.PendingPhone},
		FirstName: p.FirstName, LastName: p.LastName, DisplayName: p.DisplayName, Bio: p.Bio, Location: p.Location,
		Locale: p.Locale, Timezone: p.Timezone, AvatarURL: p.AvatarURL, UserType: p.UserType, AudioUsage: p.AudioUsage,
		ReferralSource: p.ReferralSource, CountryCode: p.CountryCode,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(), Version: p.Version, AppliedEvents: p.AppliedEvents,
		SnapshotPending: p.SnapshotPending,
	}
}

func (d document) profile() profile.Profile {
	return profile.Profile{
		AccountID: d.ID, Email: d.Email, Username: d.Username, Phone: d.Phone,
		AccountVersion: d.Account.Version, EmailVerified: d.Account.EmailVerified, PhoneVerified: d.Account.PhoneVerified,
		AccountStatus: d.Account.Status, PendingPhone: d.Account.PendingPhone,
		FirstName: d.FirstName, LastName: d.LastName, DisplayName: d.DisplayName, Bio: d.Bio, Location: d.Location,
		Locale: d.Locale, Timezone: d.Timezone, AvatarURL: d.AvatarURL, UserType: d.UserType, AudioUsage: d.AudioUsage,
		ReferralSource: d.ReferralSource, CountryCode: d.CountryCode,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Version: d.Version, AppliedEvents: d.AppliedEvents,
		SnapshotPending: d.SnapshotPending,
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

// MarkSnapshotPublished clears the pending mark while the profile is still at version: a change made
// meanwhile keeps its own snapshot pending.
func (s *Profiles) MarkSnapshotPublished(ctx context.Context, accountID string, version int64) error {
	_, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: accountID}, {Key: "version", Value: version}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "snapshotPending", Value: ""}}}})
	if err != nil {
		return wrap("mark profile.updated queued", accountID, err)
	}
	return nil
}

// SnapshotUnpublished lists up to limit profiles changed before the given time whose profile.updated
// snapshot is still pending (through the sparse snapshot_pending index).
func (s *Profiles) SnapshotUnpublished(ctx context.Context, before time.Time, limit int) ([]profile.Profile, error) {
	cur, err := s.coll.Find(ctx,
		bson.D{{Key: "snapshotPending", Value: true}, {Key: "updatedAt", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}},
		options.Find().SetSort(bson.D{{Key: "updatedAt", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, wrap("find pending snapshots", "", err)
	}
	var docs []document
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap("read pending snapshots", "", err)
	}
	out := make([]profile.Profile, len(docs))
	for i, d := range docs {
		out[i] = d.profile()
	}
	return out, nil
}

// wrap adds context to a driver error and marks the ones that mean "MongoDB is unreachable" as
// profile.ErrUnavailable, so the API answers 503 instead of 500.
func wrap(op, id string, err error) error {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return fmt.Errorf("%s %s: %w: %w", op, id, profile.ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}
