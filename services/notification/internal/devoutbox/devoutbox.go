// Package devoutbox is the development delivery driver: instead of sending messages it keeps them in
// the dev_outbox collection, where developers and tests read them (codes included) through
// GET /api/v1/dev/outbox. It must never run where real people receive messages.
package devoutbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// Collection is the name of the outbox collection.
const Collection = "dev_outbox"

// ErrUnavailable: MongoDB cannot be reached.
var ErrUnavailable = errors.New("dev outbox unavailable")

// Entry is one stored message. Subject is empty except for e-mail; Code is empty for notices.
type Entry struct {
	ID        string    `bson:"_id"`
	Channel   string    `bson:"channel"`
	To        string    `bson:"to"`
	Subject   string    `bson:"subject,omitempty"`
	Body      string    `bson:"body"`
	Code      string    `bson:"code,omitempty"`
	Purpose   string    `bson:"purpose"`
	CreatedAt time.Time `bson:"created_at"`
}

// Outbox stores messages in MongoDB. It implements delivery.Sender.
type Outbox struct {
	coll *mongo.Collection
	now  func() time.Time
}

// New returns an outbox over db's dev_outbox collection.
func New(db *mongo.Database) *Outbox {
	return &Outbox{coll: db.Collection(Collection), now: time.Now}
}

// EnsureIndexes creates the index the listing uses (by destination, newest first).
func (o *Outbox) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, o.coll, mongo.IndexModel{
		Keys: bson.D{{Key: "to", Value: 1}, {Key: "created_at", Value: -1}},
	})
}

// Send stores the message (its plain-text body; an e-mail's HTML alternative is not kept). Security
// alerts are stored with their kind as the purpose and no code. The message id is the document id, so sending the same message again (a
// retry after a failure further on) stores it once.
// SendsOncePerID makes the outbox a delivery.OncePerIDSender: a message is stored under its id, so a
// send repeated after a crash stores nothing more.
func (o *Outbox) SendsOncePerID() bool { return true }

func (o *Outbox) Send(ctx context.Context, m delivery.Message) (string, error) {
	e := Entry{
		ID: m.ID, Channel: m.Channel, To: m.To, Body: m.Body, Purpose: m.Purpose,
		Subject: m.Subject, Code: m.Code,
		// Milliseconds: what MongoDB keeps, so the listing's order matches what it shows.
		CreatedAt: o.now().UTC().Truncate(time.Millisecond),
	}
	_, err := o.coll.InsertOne(ctx, e)
	if mongox.IsDuplicateKey(err) {
		return "", nil
	}
	if err != nil {
		return "", wrap(fmt.Sprintf("store %s message %s in dev outbox", m.Channel, m.ID), err)
	}
	return "", nil
}

// List returns the newest messages sent to to (already normalised), newest first, at most limit.
func (o *Outbox) List(ctx context.Context, to string, limit int) ([]Entry, error) {
	opts := options.Find().
		SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(limit))
	cur, err := o.coll.Find(ctx, bson.D{{Key: "to", Value: to}}, opts)
	if err != nil {
		return nil, wrap("list dev outbox", err)
	}
	entries := []Entry{}
	if err := cur.All(ctx, &entries); err != nil {
		return nil, wrap("read dev outbox", err)
	}
	for i := range entries {
		entries[i].CreatedAt = entries[i].CreatedAt.UTC()
	}
	return entries, nil
}

// wrap adds context to a driver error and marks the ones that mean "MongoDB is unreachable".
func wrap(op string, err error) error {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
