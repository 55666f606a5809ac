// Package store keeps delivery records in MongoDB: one per event in "deliveries" (_id = event id) and
// one per message in "delivery_messages" (_id = eventId:channel).
//
// The unique _id is what makes delivery idempotent: the event's record is inserted before anything is
// sent, and a second insert for the same event fails with a duplicate key. Every write is a
// single-document update, so nothing needs a transaction (FerretDB has none).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// Collections of the store.
const (
	Collection         = "deliveries"
	MessagesCollection = "delivery_messages"
	// PendingStatusCollection keeps provider status reports that arrived before their message's
	// provider id was stored (Twilio may call back before Send has returned the SID to this service).
	PendingStatusCollection = "delivery_status_pending"
)

// PendingStatusTTL is how long a status report for a provider id no message has is kept.
const PendingStatusTTL = 7 * 24 * time.Hour

// ErrNotFound: no message has that provider id.
var ErrNotFound = errors.New("no such message")

// ErrStatusPending: no message has that provider id yet; the report is kept and applied when the
// message's provider id is stored.
var ErrStatusPending = errors.New("status kept until its message is stored")

// Deliveries is the MongoDB implementation of delivery.Store.
type Deliveries struct {
	coll     *mongo.Collection
	messages *mongo.Collection
	pending  *mongo.Collection
}

// NewDeliveries returns a store over db's deliveries collections.
func NewDeliveries(db *mongo.Database) *Deliveries {
	return &Deliveries{coll: db.Collection(Collection), messages: db.Collection(MessagesCollection), pending: db.Collection(PendingStatusCollection)}
}

// EnsureIndexes creates the indexes operators look deliveries up by (status, and an account's
// deliveries newest first), the messages of an event, and the provider id the status callback finds a
// message by. The idempotency key is _id, which needs no index of its own.
func (s *Deliveries) EnsureIndexes(ctx context.Context) error {
	err := mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "createdAt", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "createdAt", Value: -1}}},
	)
	if err != nil {
		return err
	}
	err = mongox.EnsureIndexes(ctx, s.messages,
		mongo.IndexModel{Keys: bson.D{{Key: "eventId", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "providerMessageId", Value: 1}}, Options: options.Index().SetSparse(true)},
	)
	if err != nil {
		return err
	}
	return mongox.EnsureIndexes(ctx, s.pending,
		mongo.IndexModel{Keys: bson.D{{Key: "providerMessageId", Value: 1}, {Key: "at", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "createdAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(int32(PendingStatusTTL / time.Second))},
	)
}

// document is a delivery record as stored. It has no field for the code, on purpose.
type document struct {
	ID           string    `bson:"_id"`
	AccountID    string    `bson:"accountId,omitempty"`
	Kind         string    `bson:"kind,omitempty"`
	Purpose      string    `bson:"purpose"`
	Channel      string    `bson:"channel"`
	Destination  string    `bson:"destination"`
	Status       string    `bson:"status"`
	Attempts     int       `bson:"attempts"`
	LastError    string    `bson:"lastError,omitempty"`
	DeadLettered bool      `bson:"deadLettered,omitempty"`
	CreatedAt    time.Time `bson:"createdAt"`
	UpdatedAt    time.Time `bson:"updatedAt"`
}

func (d document) record() delivery.Record {
	return delivery.Record{
		EventID: d.ID, AccountID: d.AccountID, Kind: d.Kind, Purpose: d.Purpose, Channel: d.Channel, Destination: d.Destination,
		Status: delivery.Status(d.Status), Attempts: d.Attempts, LastError: d.LastError, DeadLettered: d.DeadLettered,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
}

// messageDoc is a message record as stored.
type messageDoc struct {
	ID                string    `bson:"_id"`
	EventID           string    `bson:"eventId"`
	Channel           string    `bson:"channel"`
	Destination       string    `bson:"destination"`
	Status            string    `bson:"status"`
	ProviderMessageID string    `bson:"providerMessageId,omitempty"`
	ProviderStatus    string    `bson:"providerStatus,omitempty"`
	Attempts          int       `bson:"attempts"`
	LastError         string    `bson:"lastError,omitempty"`
	CreatedAt         time.Time `bson:"createdAt"`
	UpdatedAt         time.Time `bson:"updatedAt"`
}

func (d messageDoc) record() delivery.MessageRecord {
	return delivery.MessageRecord{
		ID: d.ID, EventID: d.EventID, Channel: d.Channel, Destination: d.Destination, Status: delivery.Status(d.Status),
		ProviderMessageID: d.ProviderMessageID, Attempts: d.Attempts, LastError: d.LastError,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
}

// Create inserts the record, or returns delivery.ErrDuplicate when the event has one.
func (s *Deliveries) Create(ctx context.Context, r delivery.Record) error {
	_, err := s.coll.InsertOne(ctx, document{
		ID: r.EventID, AccountID: r.AccountID, Kind: r.Kind, Purpose: r.Purpose, Channel: r.Channel, Destination: r.Destination,
		Status: string(r.Status), Attempts: r.Attempts, LastError: r.LastError,
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

// Finish sets a final status.
func (s *Deliveries) Finish(ctx context.Context, eventID string, status delivery.Status, lastError string, at time.Time) error {
	set := bson.D{{Key: "status", Value: string(status)}, {Key: "updatedAt", Value: at.UTC()}}
	if lastError != "" {
		set = append(set, bson.E{Key: "lastError", Value: lastError})
	}
	return s.update(ctx, s.coll, eventID, bson.D{{Key: "$set", Value: set}})
}

// RecordError keeps the last error of a failed attempt.
func (s *Deliveries) RecordError(ctx context.Context, eventID, lastError string, at time.Time) error {
	return s.update(ctx, s.coll, eventID, bson.D{{Key: "$set", Value: bson.D{
		{Key: "lastError", Value: lastError}, {Key: "updatedAt", Value: at.UTC()},
	}}})
}

// MarkDeadLettered records that the event reached the dead-letter topic.
func (s *Deliveries) MarkDeadLettered(ctx context.Context, eventID string, at time.Time) error {
	return s.update(ctx, s.coll, eventID, bson.D{{Key: "$set", Value: bson.D{
		{Key: "deadLettered", Value: true}, {Key: "updatedAt", Value: at.UTC()},
	}}})
}

// AddMessage inserts a message record; one that exists already is kept as it is.
func (s *Deliveries) AddMessage(ctx context.Context, m delivery.MessageRecord) error {
	_, err := s.messages.InsertOne(ctx, messageDoc{
		ID: m.ID, EventID: m.EventID, Channel: m.Channel, Destination: m.Destination, Status: string(m.Status),
		ProviderMessageID: m.ProviderMessageID, Attempts: m.Attempts, LastError: m.LastError,
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	})
	if err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("insert message %s: %w", m.ID, err)
	}
	return nil
}

// Messages returns the message records of an event.
func (s *Deliveries) Messages(ctx context.Context, eventID string) ([]delivery.MessageRecord, error) {
	cur, err := s.messages.Find(ctx, bson.D{{Key: "eventId", Value: eventID}})
	if err != nil {
		return nil, fmt.Errorf("find messages of %s: %w", eventID, err)
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", eventID, err)
	}
	out := make([]delivery.MessageRecord, len(docs))
	for i, d := range docs {
		out[i] = d.record()
	}
	return out, nil
}

// UpdateMessage changes a message record.
func (s *Deliveries) UpdateMessage(ctx context.Context, id string, u delivery.MessageUpdate, at time.Time) error {
	set := bson.D{{Key: "updatedAt", Value: at.UTC()}}
	if u.Status != "" {
		set = append(set, bson.E{Key: "status", Value: string(u.Status)})
	}
	if u.ProviderMessageID != "" {
		set = append(set, bson.E{Key: "providerMessageId", Value: u.ProviderMessageID})
	}
	if u.LastError != "" {
		set = append(set, bson.E{Key: "lastError", Value: u.LastError})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if u.CountAttempt {
		update = append(update, bson.E{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}})
	}
	if err := s.update(ctx, s.messages, id, update); err != nil {
		return err
	}
	if u.ProviderMessageID != "" {
		// Status reports that beat the id here. The message is sent: a failure to apply them leaves
		// them kept (the next callback for the id applies them) rather than failing the delivery.
		_, _, _ = s.reconcile(ctx, u.ProviderMessageID)
	}
	return nil
}

// ProviderStatus applies a provider's status report (Twilio's status callback) to the message it sent
// as providerID: status is the message's new state (sent, delivered or failed), providerStatus the
// provider's own word for it, errorText the provider's error, if any. A message already delivered or
// failed does not go back to sent (callbacks may arrive out of order).
//
// A report for a provider id no message has yet (the provider called back before the sender stored
// the id) is kept in PendingStatusCollection and ErrStatusPending returned; UpdateMessage applies it
// when it stores that provider id. Both sides check the other after writing, so a report racing the
// id's storing is applied by one of them, never lost, and claimed by deleting it, never applied twice.
func (s *Deliveries) ProviderStatus(ctx context.Context, providerID string, status delivery.Status, providerStatus, errorText string, at time.Time) (delivery.MessageRecord, error) {
	d, err := s.messageByProviderID(ctx, providerID)
	if errors.Is(err, ErrNotFound) {
		_, err = s.pending.InsertOne(ctx, pendingDoc{
			ProviderMessageID: providerID, Status: string(status), ProviderStatus: providerStatus, ErrorText: errorText,
			At: at.UTC(), CreatedAt: time.Now().UTC(),
		})
		if err != nil {
			return delivery.MessageRecord{}, fmt.Errorf("keep status of %s: %w", providerID, err)
		}
		// The message may have got its provider id between the lookup and the insert.
		rec, applied, err := s.reconcile(ctx, providerID)
		if err != nil {
			return delivery.MessageRecord{}, err
		}
		if !applied {
			return delivery.MessageRecord{}, ErrStatusPending
		}
		return rec, nil
	}
	if err != nil {
		return delivery.MessageRecord{}, err
	}
	return s.applyStatus(ctx, d, status, providerStatus, errorText, at)
}

// pendingDoc is a provider status report kept until its message's provider id is stored.
type pendingDoc struct {
	ID                primitive.ObjectID `bson:"_id,omitempty"`
	ProviderMessageID string             `bson:"providerMessageId"`
	Status            string             `bson:"status"`
	ProviderStatus    string             `bson:"providerStatus"`
	ErrorText         string             `bson:"errorText,omitempty"`
	At                time.Time          `bson:"at"`
	CreatedAt         time.Time          `bson:"createdAt"`
}

func (s *Deliveries) messageByProviderID(ctx context.Context, providerID string) (messageDoc, error) {
	var d messageDoc
	if err := s.messages.FindOne(ctx, bson.D{{Key: "providerMessageId", Value: providerID}}).Decode(&d); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return messageDoc{}, ErrNotFound
		}
		return messageDoc{}, fmt.Errorf("find message %s: %w", providerID, err)
	}
	return d, nil
}

// reconcile applies, oldest first, the kept reports for providerID once a message has that id. It
// reports whether it applied any, and the message as it left it.
func (s *Deliveries) reconcile(ctx context.Context, providerID string) (delivery.MessageRecord, bool, error) {
	d, err := s.messageByProviderID(ctx, providerID)
	if errors.Is(err, ErrNotFound) {
		return delivery.MessageRecord{}, false, nil
	}
	if err != nil {
		return delivery.MessageRecord{}, false, err
	}
	rec, applied := d.record(), false
	for {
		var p pendingDoc
		err := s.pending.FindOneAndDelete(ctx, bson.D{{Key: "providerMessageId", Value: providerID}},
			options.FindOneAndDelete().SetSort(bson.D{{Key: "at", Value: 1}})).Decode(&p)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return rec, applied, nil
		}
		if err != nil {
			return rec, applied, fmt.Errorf("claim kept status of %s: %w", providerID, err)
		}
		if rec, err = s.applyStatus(ctx, d, delivery.Status(p.Status), p.ProviderStatus, p.ErrorText, p.At); err != nil {
			// Put it back for the next attempt (the next callback or the next UpdateMessage).
			p.ID = primitive.ObjectID{}
			_, _ = s.pending.InsertOne(context.WithoutCancel(ctx), p)
			return rec, applied, err
		}
		d.Status, d.LastError, applied = string(rec.Status), rec.LastError, true
	}
}

// applyStatus writes one status report to the message d.
func (s *Deliveries) applyStatus(ctx context.Context, d messageDoc, status delivery.Status, providerStatus, errorText string, at time.Time) (delivery.MessageRecord, error) {
	final := d.Status == string(delivery.StatusDelivered) || d.Status == string(delivery.StatusFailed)
	set := bson.D{{Key: "providerStatus", Value: providerStatus}, {Key: "updatedAt", Value: at.UTC()}}
	if !final || status != delivery.StatusSent {
		set = append(set, bson.E{Key: "status", Value: string(status)})
		d.Status = string(status)
	}
	if errorText != "" {
		set = append(set, bson.E{Key: "lastError", Value: errorText})
		d.LastError = errorText
	}
	if err := s.update(ctx, s.messages, d.ID, bson.D{{Key: "$set", Value: set}}); err != nil {
		return delivery.MessageRecord{}, err
	}
	return d.record(), nil
}

func (s *Deliveries) update(ctx context.Context, coll *mongo.Collection, id string, update bson.D) error {
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, update)
	if err != nil {
		return fmt.Errorf("update %s %s: %w", coll.Name(), id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("update %s %s: no such record", coll.Name(), id)
	}
	return nil
}
