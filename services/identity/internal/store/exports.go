package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/export"
)

// CollExports holds account data exports (_id the export id, keyed by accountId for erasure).
const CollExports = "account_exports"

// Exports is the MongoDB implementation of export.Store.
type Exports struct{ coll *mongo.Collection }

// NewExports returns the export store of db.
func NewExports(db *mongo.Database) *Exports { return &Exports{coll: db.Collection(CollExports)} }

// EnsureIndexes creates the indexes: an account's exports, and expiry (TTL where the server has it;
// queries filter expiresAt themselves and the cleanup worker deletes what is left).
func (s *Exports) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "requestedAt", Value: -1}}, Options: options.Index().SetName("account_requested")},
		mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(0)},
	)
}

// exportDoc is an export as stored; each part is its JSON text.
type exportDoc struct {
	ID          string            `bson:"_id"`
	AccountID   string            `bson:"accountId"`
	RequestedAt time.Time         `bson:"requestedAt"`
	Status      string            `bson:"status"`
	Parts       map[string]string `bson:"parts"`
	CompletedAt *time.Time        `bson:"completedAt,omitempty"`
	ExpiresAt   time.Time         `bson:"expiresAt"`
}

func (d exportDoc) export() export.Export {
	e := export.Export{
		ID: d.ID, AccountID: d.AccountID, RequestedAt: d.RequestedAt.UTC(), Status: d.Status,
		Parts: make(map[string]json.RawMessage, len(d.Parts)), ExpiresAt: d.ExpiresAt.UTC(),
	}
	for k, v := range d.Parts {
		e.Parts[k] = json.RawMessage(v)
	}
	if d.CompletedAt != nil {
		e.CompletedAt = d.CompletedAt.UTC()
	}
	return e
}

// Create inserts a new export.
func (s *Exports) Create(ctx context.Context, e export.Export) error {
	d := exportDoc{ID: e.ID, AccountID: e.AccountID, RequestedAt: e.RequestedAt, Status: e.Status, Parts: map[string]string{}, ExpiresAt: e.ExpiresAt}
	for k, v := range e.Parts {
		d.Parts[k] = string(v)
	}
	if _, err := s.coll.InsertOne(ctx, d); err != nil {
		return wrap("insert export", err)
	}
	return nil
}

// Get returns the account's export id unless it has expired at now.
func (s *Exports) Get(ctx context.Context, accountID, id string, now time.Time) (export.Export, error) {
	var d exportDoc
	err := s.coll.FindOne(ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "accountId", Value: accountID}, {Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now}}},
	}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return export.Export{}, export.ErrNotFound
	}
	if err != nil {
		return export.Export{}, wrap("find export", err)
	}
	return d.export(), nil
}

// AddPart sets one part of a pending, unexpired export of the account; it never inserts. service is
// one of events.ExportPartServices (checked by the caller), so the field path is safe.
func (s *Exports) AddPart(ctx context.Context, accountID, id, service string, data json.RawMessage, now time.Time) (bool, error) {
	res, err := s.coll.UpdateOne(ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "accountId", Value: accountID}, {Key: "status", Value: export.StatusPending},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now}}},
	}, bson.D{{Key: "$set", Value: bson.D{{Key: "parts." + service, Value: string(data)}}}})
	if err != nil {
		return false, wrap("store export part", err)
	}
	return res.MatchedCount == 1, nil
}

// Complete marks a pending export that has every part of services complete.
func (s *Exports) Complete(ctx context.Context, id string, services []string, completedAt, expiresAt time.Time) (bool, error) {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "status", Value: export.StatusPending}}
	for _, svc := range services {
		filter = append(filter, bson.E{Key: "parts." + svc, Value: bson.D{{Key: "$exists", Value: true}}})
	}
	res, err := s.coll.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: export.StatusComplete}, {Key: "completedAt", Value: completedAt}, {Key: "expiresAt", Value: expiresAt},
	}}})
	if err != nil {
		return false, wrap("complete export", err)
	}
	return res.ModifiedCount == 1, nil
}

// DeleteExpired deletes at most limit exports expired at now.
func (s *Exports) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	cur, err := s.coll.Find(ctx, bson.D{{Key: "expiresAt", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return 0, wrap("find expired exports", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return 0, wrap("read expired exports", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	in := make([]string, len(ids))
	for i, d := range ids {
		in[i] = d.ID
	}
	// expiresAt again: an export completed (its expiry moved) since the find is kept.
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}, {Key: "expiresAt", Value: bson.D{{Key: "$lte", Value: now}}}})
	if err != nil {
		return 0, wrap("delete expired exports", err)
	}
	return int(res.DeletedCount), nil
}

// EraseAccount deletes every export of accountID (account deletion; auth.AccountEraser).
func (s *Exports) EraseAccount(ctx context.Context, accountID string) error {
	if _, err := s.coll.DeleteMany(ctx, bson.D{{Key: "accountId", Value: accountID}}); err != nil {
		return wrap("erase exports", err)
	}
	return nil
}
