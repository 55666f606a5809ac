package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// Providers is the linked_providers collection: one document per (account, provider), unique on
// (provider, subject) so a provider account is linked to at most one Latchkey account.
type Providers struct{ coll *mongo.Collection }

// NewProviders returns the linked-provider store of db.
func NewProviders(db *mongo.Database) *Providers {
	return &Providers{coll: db.Collection(CollProviders)}
}

type providerDoc struct {
	ID        string    `bson:"_id"`
	AccountID string    `bson:"accountId"`
	Provider  string    `bson:"provider"`
	Subject   string    `bson:"subject"`
	Email     string    `bson:"email,omitempty"`
	LinkedAt  time.Time `bson:"linkedAt"`
}

func (d providerDoc) link() oauth.Link {
	return oauth.Link{ID: d.ID, AccountID: d.AccountID, Provider: d.Provider, Subject: d.Subject, Email: d.Email, LinkedAt: d.LinkedAt}
}

// Link inserts l. It returns oauth.ErrLinkedElsewhere when the provider account belongs to another
// account and oauth.ErrAlreadyLinked when this account already has a link to the provider (the same
// provider account or another one).
func (s *Providers) Link(ctx context.Context, l oauth.Link) error {
	_, err := s.coll.InsertOne(ctx, providerDoc{ID: l.ID, AccountID: l.AccountID, Provider: l.Provider,
		Subject: l.Subject, Email: l.Email, LinkedAt: l.LinkedAt.UTC()})
	if err == nil {
		return nil
	}
	if !mongox.IsDuplicateKey(err) {
		return wrap("insert provider link", err)
	}
	if other, ferr := s.ByIdentity(ctx, l.Provider, l.Subject); ferr == nil && other.AccountID != l.AccountID {
		return oauth.ErrLinkedElsewhere
	}
	return oauth.ErrAlreadyLinked
}

// ByIdentity returns the link of a provider account, or oauth.ErrNotLinked.
func (s *Providers) ByIdentity(ctx context.Context, provider, subject string) (oauth.Link, error) {
	var d providerDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "provider", Value: provider}, {Key: "subject", Value: subject}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return oauth.Link{}, oauth.ErrNotLinked
	}
	if err != nil {
		return oauth.Link{}, wrap("find provider link", err)
	}
	return d.link(), nil
}

// ListByAccount returns the account's links, oldest first.
func (s *Providers) ListByAccount(ctx context.Context, accountID string) ([]oauth.Link, error) {
	return findAll(ctx, s.coll, bson.D{{Key: "accountId", Value: accountID}},
		options.Find().SetSort(bson.D{{Key: "linkedAt", Value: 1}, {Key: "_id", Value: 1}}), "provider links", providerDoc.link)
}

// CountByAccount returns how many providers are linked to the account (security-info counts them).
func (s *Providers) CountByAccount(ctx context.Context, accountID string) (int, error) {
	n, err := s.coll.CountDocuments(ctx, bson.D{{Key: "accountId", Value: accountID}})
	if err != nil {
		return 0, wrap("count provider links", err)
	}
	return int(n), nil
}

// Unlink removes the account's link to provider and reports whether there was one.
func (s *Providers) Unlink(ctx context.Context, accountID, provider string) (bool, error) {
	res, err := s.coll.DeleteOne(ctx, bson.D{{Key: "accountId", Value: accountID}, {Key: "provider", Value: provider}})
	if err != nil {
		return false, wrap("delete provider link", err)
	}
	return res.DeletedCount > 0, nil
}

// Delete removes the link with id (undoing a link whose account could not be created).
func (s *Providers) Delete(ctx context.Context, id string) error {
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return wrap("delete provider link", err)
	}
	return nil
}
