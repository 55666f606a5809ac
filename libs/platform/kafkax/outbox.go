package kafkax

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// Collections of the outbox, in the service's own database.
const (
	OutboxCollection = "outbox"
	// OutboxClaimsCollection holds one document per publish attempt and one per sent event (see Outbox).
	OutboxClaimsCollection = "outbox_claims"
)

// Relay timing.
const (
	outboxPollInterval   = 500 * time.Millisecond
	outboxLease          = 30 * time.Second       // a claimed event is left to its relay this long
	outboxRetryBase      = 500 * time.Millisecond // first wait after a failed publish of an event
	outboxRetryMax       = 10 * time.Second       // longest wait: once Kafka is back, events go out within this
	outboxPublishTimeout = 10 * time.Second       // one publish attempt, including the write of sentAt
	outboxClaimRetention = 7 * 24 * time.Hour     // claims are kept this long (TTL on MongoDB)
)

// Outbox is the transactional outbox: Add stores an event in the service's database next to the
// state change that caused it, and Run, the relay, publishes stored events to Kafka and marks them
// sent. An event accepted while Kafka is down is published when it is back. Delivery is at least once:
// a relay that dies between publishing and marking an event sent leaves it to be published again.
//
// Several replicas may run relays on the same collection. A relay claims one event at a time by moving
// its lockedUntil forward with FindOneAndUpdate, then confirms the claim by inserting a document keyed
// by event id and attempt number into outbox_claims; after publishing it inserts a "sent" document
// there before setting sentAt. On MongoDB the FindOneAndUpdate alone is enough. FerretDB v1 runs every
// update as a read followed by a whole-document write, so two relays can both "win" the update and a
// late write can even undo sentAt; inserts of a given _id stay atomic there, so only one relay
// publishes each attempt, and an event found sent is not published again.
type Outbox struct {
	coll     *mongo.Collection
	claims   *mongo.Collection
	producer *Producer
	log      *slog.Logger
	wake     chan struct{}
}

// outboxDoc is an event waiting in (or sent from) the outbox.
type outboxDoc struct {
	ID          string            `bson:"_id"`
	Topic       string            `bson:"topic"`
	Event       []byte            `bson:"event"` // the envelope's JSON
	CreatedAt   time.Time         `bson:"createdAt"`
	SentAt      *time.Time        `bson:"sentAt"`
	Attempts    int               `bson:"attempts"`
	LockedUntil time.Time         `bson:"lockedUntil"`
	Trace       map[string]string `bson:"trace,omitempty"` // W3C trace context of the request that added it
	LastError   string            `bson:"lastError,omitempty"`
	// Discarded marks a document stored by AddDiscarded: never published.
	Discarded bool `bson:"discarded,omitempty"`
}

// NewOutbox returns the outbox in db, relaying through p. log nil means slog.Default().
func NewOutbox(db *mongo.Database, p *Producer, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{
		coll:     db.Collection(OutboxCollection),
		claims:   db.Collection(OutboxClaimsCollection),
		producer: p,
		log:      log.With("component", "outbox"),
		wake:     make(chan struct{}, 1),
	}
}

// EnsureIndexes creates the indexes the relay's queries need.
func (o *Outbox) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, o.coll, mongo.IndexModel{
		Keys: bson.D{{Key: "sentAt", Value: 1}, {Key: "createdAt", Value: 1}},
	}); err != nil {
		return fmt.Errorf("outbox indexes: %w", err)
	}
	if err := mongox.EnsureIndexes(ctx, o.claims, mongo.IndexModel{
		Keys:    bson.D{{Key: "claimedAt", Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(int32(outboxClaimRetention / time.Second)),
	}); err != nil {
		return fmt.Errorf("outbox indexes: %w", err)
	}
	return nil
}

// Add stores ev for publication on topic (the name without the deployment prefix, as for
// Producer.Publish) and wakes the relay. Adding an event whose id is already in the outbox does
// nothing. The trace context of ctx is stored with the event and continued when it is published.
func (o *Outbox) Add(ctx context.Context, topic string, ev events.Envelope) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("outbox: marshal %s event %s: %w", ev.Type, ev.EventID, err)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	now := time.Now().UTC()
	doc := outboxDoc{
		ID:          ev.EventID,
		Topic:       topic,
		Event:       raw,
		CreatedAt:   now,
		LockedUntil: now,
		Trace:       carrier,
	}
	if _, err := o.coll.InsertOne(ctx, doc); err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("outbox: add %s event %s: %w", ev.Type, ev.EventID, err)
	}
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return nil
}

// AddDiscarded makes the write Add makes — the same document in the same collection — but marked
// sent, so it is never published and the relay is not woken. A flow whose answer must cost the same
// whether or not it sends something (a password reset asked for an address without an account) makes
// this write where the real send makes Add's.
func (o *Outbox) AddDiscarded(ctx context.Context, topic string, ev events.Envelope) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("outbox: marshal %s event %s: %w", ev.Type, ev.EventID, err)
	}
	now := time.Now().UTC()
	doc := outboxDoc{ID: ev.EventID, Topic: topic, Event: raw, CreatedAt: now, SentAt: &now, LockedUntil: now, Discarded: true}
	if _, err := o.coll.InsertOne(ctx, doc); err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("outbox: add discarded %s event %s: %w", ev.Type, ev.EventID, err)
	}
	return nil
}

// Run relays events until ctx is done: whenever Add wakes it and every 500ms, it publishes pending
// events oldest first. An event whose publication fails waits (500ms, doubling up to 10s) and is tried
// again; the relay itself pauses until its next round. Run returns nil when ctx is done; an event being
// published at that moment is finished first.
func (o *Outbox) Run(ctx context.Context) error {
	ticker := time.NewTicker(outboxPollInterval)
	defer ticker.Stop()
	var measured time.Time
	for {
		o.relayPending(ctx)
		if time.Since(measured) >= outboxMeasureEvery {
			o.measureBacklog(ctx)
			measured = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
		case <-ticker.C:
		}
	}
}

// relayPending publishes claimable events until there are none, a publication fails or ctx is done.
func (o *Outbox) relayPending(ctx context.Context) {
	for ctx.Err() == nil {
		doc, err := o.claim(ctx)
		if err != nil {
			o.log.WarnContext(ctx, "cannot claim outbox events", "err", err)
			return
		}
		if doc == nil {
			return
		}
		if !o.publish(ctx, doc) {
			return // Kafka is probably down: wait for the next round
		}
	}
}

// claim returns the oldest pending event not claimed by another relay, claimed for outboxLease, or nil
// when there is none. Once started it is not interrupted by ctx, so that a relay that stops never
// leaves an event locked without publishing it.
func (o *Outbox) claim(ctx context.Context) (*outboxDoc, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxPublishTimeout)
	defer cancel()
	for {
		now := time.Now().UTC()
		var doc outboxDoc
		err := o.coll.FindOneAndUpdate(ctx,
			bson.M{"sentAt": nil, "lockedUntil": bson.M{"$lte": now}},
			bson.M{"$set": bson.M{"lockedUntil": now.Add(outboxLease)}, "$inc": bson.M{"attempts": 1}},
			options.FindOneAndUpdate().
				SetSort(bson.D{{Key: "createdAt", Value: 1}}).
				SetReturnDocument(options.After),
		).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("claim outbox event: %w", err)
		}
		_, err = o.claims.InsertOne(ctx, bson.M{"_id": claimID(doc.ID, fmt.Sprint(doc.Attempts)), "claimedAt": now})
		won := err == nil
		if err != nil && !mongox.IsDuplicateKey(err) {
			return nil, fmt.Errorf("claim outbox event %s: %w", doc.ID, err)
		}
		// Whether we won or another relay claimed the same attempt, our update may have been a stale
		// write (FerretDB) that undid sentAt: the sent marker says, and sentAt is set again.
		sent, err := o.isSent(ctx, doc.ID)
		if err != nil {
			return nil, err
		}
		if sent {
			o.markSent(ctx, &doc)
			continue
		}
		if won {
			return &doc, nil
		}
		// Another relay claimed this attempt at the same moment; it publishes the event.
	}
}

// isSent reports whether the event's sent marker exists.
func (o *Outbox) isSent(ctx context.Context, eventID string) (bool, error) {
	err := o.claims.FindOne(ctx, bson.M{"_id": claimID(eventID, "sent")}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check outbox event %s: %w", eventID, err)
	}
	return true, nil
}

// claimID is the id of a document in outbox_claims: one per attempt, and one once the event is sent.
func claimID(eventID, what string) string { return eventID + "/" + what }

// publish publishes a claimed event and marks it sent, and reports whether the publication succeeded.
// It is not interrupted by ctx: a relay that stops finishes the event in hand.
func (o *Outbox) publish(ctx context.Context, doc *outboxDoc) bool {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxPublishTimeout)
	defer cancel()
	pctx = otel.GetTextMapPropagator().Extract(pctx, propagation.MapCarrier(doc.Trace))
	log := o.log.With("event_id", doc.ID, "topic", doc.Topic, "attempt", doc.Attempts)

	var ev events.Envelope
	err := json.Unmarshal(doc.Event, &ev)
	if err == nil {
		err = o.producer.Publish(pctx, doc.Topic, ev)
	}
	if err != nil {
		outboxPublishErr.Inc()
		retryAt := time.Now().UTC().Add(backoff(doc.Attempts, outboxRetryBase, outboxRetryMax))
		log.WarnContext(pctx, "cannot publish outbox event; will retry", "retry_at", retryAt, "err", err)
		if _, uerr := o.coll.UpdateOne(pctx, bson.M{"_id": doc.ID, "sentAt": nil},
			bson.M{"$set": bson.M{"lockedUntil": retryAt, "lastError": err.Error()}}); uerr != nil {
			log.WarnContext(pctx, "cannot record the failed publish", "err", uerr)
		}
		return false
	}
	outboxPublished.Inc()
	if _, err := o.claims.InsertOne(pctx, bson.M{"_id": claimID(doc.ID, "sent"), "claimedAt": time.Now().UTC()}); err != nil && !mongox.IsDuplicateKey(err) {
		// Published but not marked: it is published again once the claim expires (consumers de-duplicate).
		log.WarnContext(pctx, "published, but cannot record the outbox event as sent", "err", err)
		return true
	}
	o.markSent(pctx, doc)
	return true
}

// markSent sets the event's sentAt and drops its body: an event may carry a one-time code, which must
// not outlive its delivery in the database (codes are otherwise stored only as HMACs).
func (o *Outbox) markSent(ctx context.Context, doc *outboxDoc) {
	if _, err := o.coll.UpdateOne(ctx, bson.M{"_id": doc.ID},
		bson.M{"$set": bson.M{"sentAt": time.Now().UTC()}, "$unset": bson.M{"lastError": "", "event": "", "trace": ""}}); err != nil {
		// The sent marker is in place: the next relay to claim the event marks it without publishing.
		o.log.WarnContext(ctx, "published, but cannot mark the outbox event sent", "event_id", doc.ID, "err", err)
	}
}
