// Package store keeps delivery records in MongoDB (the "deliveries" collection, _id = event id).
//
// The unique _id is what makes delivery idempotent: the record is inserted before anything is sent,
// and a second insert for the same event fails with a duplicate key. Every write is a single-document
// update, so nothing needs a transaction (FerretDB has none).
package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// Collection is the name of the deliveries collection.
const Collection = "deliveries"

// Deliveries is the MongoDB implementation of delivery.Store.
type Deliveries struct {
	coll *mongo.Collection
}

// NewDeliveries returns a store over db's deliveries collection.
func NewDeliveries(db *mongo.Database) *Deliveries {
	return &Deliveries{coll: db.Collection(Collection)}
}

// EnsureIndexes creates the indexes operators look deliveries up by (status, and an account's
// deliveries newest first). The idempotency key is _id, which needs no index of its own.
func (s *Deliveries) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "createdAt", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "createdAt", Value: -1}}},
	)
}

// document is a delivery record as stored. It has no field for the code, on purpose.
type document struct {
	ID           string    `bson:"_id"`
	AccountID    string    `bson:"accountId,omitempty"`
	Purpose      string    `bson:"purpose"`
	Channel      string    `bson:"channel"`
	Destination  string    `bson:"destination"`
	Status       string    `bson:"status"`
	Attempts     int       `bson:"attempts"`
	SentChannels []string  `bson:"sentChannels"`
	LastError    string    `bson:"lastError,omitempty"`
	CreatedAt    time.Time `bson:"createdAt"`
	UpdatedAt    time.Time `bson:"updatedAt"`
}

func (d document) record() delivery.Record {
	return delivery.Record{
		EventID: d.ID, AccountID: d.AccountID, Purpose: d.Purpose, Channel: d.Channel, Destination: d.Destination,
		Status: delivery.Status(d.Status), Attempts: d.Attempts, SentChannels: d.SentChannels, LastError: d.LastError,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
}

// Create inserts the record, or returns delivery.ErrDuplicate when the event has one.
func (s *Deliveries) Create(ctx context.Context, r delivery.Record) error {
	sent := r.SentChannels
	if sent == nil {
		sent = []string{}
	}
	_, err := s.coll.InsertOne(ctx, document{
		ID: r.EventID, AccountID: r.AccountID, Purpose: r.Purpose, Channel: r.Channel, Destination: r.Destination,
		Status: string(r.Status), Attempts: r.Attempts, SentChannels: sent, LastError: r.LastError,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	})
	if mongox.IsDuplicateKey(err) {
		return delivery.ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("insert delivery %s: %w", r.EventID, err)
	}
	return nil
}

// Get returns the record of an event.
func (s *Deliveries) Get(ctx context.Context, eventID string) (delivery.Record, error) {
	var d document
	if err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: eventID}}).Decode(&d); err != nil {
		return delivery.Record{}, fmt.Errorf("find delivery %s: %w", eventID, err)
	}
	return d.record(), nil
}

// StartAttempt counts an attempt and returns the updated record.
func (s *Deliveries) StartAttempt(ctx context.Context, eventID string, at time.Time) (delivery.Record, error) {
	var d document
	err := s.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: eventID}},
		bson.D{
			{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}},
			{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: at.UTC()}}},
		},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err != nil {
		return delivery.Record{}, fmt.Errorf("start attempt of delivery %s: %w", eventID, err)
	}
	return d.record(), nil
}

// MarkChannelSent adds channel to the record's sent channels.
func (s *Deliveries) MarkChannelSent(ctx context.Context, eventID, channel string, at time.Time) error {
	return s.update(ctx, eventID, bson.D{
		{Key: "$addToSet", Value: bson.D{{Key: "sentChannels", Value: channel}}},
		{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: at.UTC()}}},
	})
}

// Finish sets a final status.
func (s *Deliveries) Finish(ctx context.Context, eventID string, status delivery.Status, lastError string, at time.Time) error {
	set := bson.D{{Key: "status", Value: string(status)}, {Key: "updatedAt", Value: at.UTC()}}
	if lastError != "" {
		set = append(set, bson.E{Key: "lastError", Value: lastError})
	}
	return s.update(ctx, eventID, bson.D{{Key: "$set", Value: set}})
}

// RecordError keeps the last error of a failed attempt.
func (s *Deliveries) RecordError(ctx context.Context, eventID, lastError string, at time.Time) error {
	return s.update(ctx, eventID, bson.D{{Key: "$set", Value: bson.D{
		{Key: "lastError", Value: lastError}, {Key: "updatedAt", Value: at.UTC()},
	}}})
}

func (s *Deliveries) update(ctx context.Context, eventID string, update bson.D) error {
	res, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: eventID}}, update)
	if err != nil {
		return fmt.Errorf("update delivery %s: %w", eventID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("update delivery %s: no such delivery", eventID)
	}
	return nil
}
