package kafkax

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
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
	// outboxPollMin is the relay's first wait after a round that found nothing; each further empty
	// round doubles it up to outboxPollMax. Add in the same process wakes the relay at once, so the
	// polls are only for events added by another replica (whose own relay normally publishes them
	// first) or left behind by a relay that died: those are published within outboxPollMax (plus
	// outboxLease for an event a dead relay had claimed).
	outboxPollMin        = 500 * time.Millisecond
	outboxPollMax        = 15 * time.Second
	outboxLease          = 30 * time.Second       // a claimed event is left to its relay this long
	outboxRetryBase      = 500 * time.Millisecond // first wait after a failed publish of an event
	outboxRetryMax       = 10 * time.Second       // longest wait: once Kafka is back, events go out within this
	outboxPublishTimeout = 10 * time.Second       // one publish attempt, including the write of the sent marker
	outboxClaimRetention = 7 * 24 * time.Hour     // claims are kept this long (TTL on MongoDB, swept elsewhere)
	// outboxSweepEvery is how often a relay deletes the outbox documents that are done with (those of
	// AddDiscarded, and any sent one left by an older version or a failed delete).
	outboxSweepEvery = time.Minute
	// outboxClaimsSweepEvery is how often a relay deletes claims older than outboxClaimRetention, in
	// batches of outboxClaimsSweepBatch, at most outboxClaimsSweepBatches batches a time. MongoDB's TTL
	// index does the same; the embedded MongoDB-compatible server has no TTL.
	outboxClaimsSweepEvery   = time.Hour
	outboxClaimsSweepBatch   = 500
	outboxClaimsSweepBatches = 20
	// outboxAddedBuffer is how many ids of events added in this process wait for the relay to claim
	// them by id; beyond that the relay searches for them.
	outboxAddedBuffer = 4096
)

// Outbox is the transactional outbox: Add stores an event in the service's database next to the
// state change that caused it, and Run, the relay, publishes stored events to Kafka and deletes them.
// An event accepted while Kafka is down is published when it is back. Delivery is at least once: a
// relay that dies between publishing and recording an event sent leaves it to be published again.
//
// The relay claims the events Add stored in its own process by their id, an index lookup; it searches
// the collection for pending events (oldest first) only when it starts, when its timer expires (events
// of other replicas, retries whose time has come) and when more events were added than it had room to
// remember.
//
// Several replicas may run relays on the same collection. A relay claims one event at a time by moving
// its lockedUntil forward with FindOneAndUpdate, then confirms the claim by inserting a document keyed
// by event id and attempt number into outbox_claims; after publishing it inserts a "sent" document
// there (keyed by event id) before deleting the event from the outbox. On MongoDB the FindOneAndUpdate
// alone is enough. FerretDB v1 runs every update as a read followed by a whole-document write, so two
// relays can both "win" the update; inserts of a given _id stay atomic there, so only one relay
// publishes each attempt, and an event found sent (still in the outbox after a failed delete, or
// added again with the same id) is deleted without being published again. The sent markers and
// attempt claims are kept for outboxClaimRetention, so that de-duplication lasts that long.
//
// The outbox stays small: it holds only the events not yet published, and the documents of
// AddDiscarded until the next sweep (about a minute).
type Outbox struct {
	coll     *mongo.Collection
	claims   *mongo.Collection
	producer *Producer
	log      *slog.Logger
	wake     chan struct{}
	// added carries the ids of the events Add stored in this process, so that the relay claims them
	// by _id (an index lookup) instead of searching the collection for pending events, a search
	// that reads every pending event and, while a burst's backlog is being worked off, costs more for
	// every event of it. When it is full, Add only wakes the relay and the search finds the event.
	added chan string
	// overflowed records that added was full: the next round searches.
	overflowed atomic.Bool

	// pollMax, sweepEvery and claimsSweepEvery are outboxPollMax, outboxSweepEvery and
	// outboxClaimsSweepEvery (tests shorten them).
	pollMax, sweepEvery, claimsSweepEvery time.Duration
}

// outboxDoc is an event waiting in the outbox (or a document of AddDiscarded).
type outboxDoc struct {
	ID          string            `bson:"_id"`
	Topic       string            `bson:"topic"`
	Event       []byte            `bson:"event"` // the envelope's JSON
	CreatedAt   time.Time         `bson:"createdAt"`
	SentAt      *time.Time        `bson:"sentAt"` // set only by AddDiscarded (and by older versions once sent)
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
		added:    make(chan string, outboxAddedBuffer),

		pollMax:          outboxPollMax,
		sweepEvery:       outboxSweepEvery,
		claimsSweepEvery: outboxClaimsSweepEvery,
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
	case o.added <- doc.ID:
	default:
		o.overflowed.Store(true)
	}
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return nil
}

// AddDiscarded makes the write Add makes — the same document in the same collection — but marked
// sent, so it is never published and the relay is not woken; a relay's sweep deletes it within about a
// minute. A flow whose answer must cost the same whether or not it sends something (a password reset
// asked for an address without an account) makes this write where the real send makes Add's.
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

// Run relays events until ctx is done. Whenever Add wakes it, and otherwise after a wait that starts at
// 500ms and doubles after every round that found nothing up to 15s, it publishes pending events oldest
// first. An event whose publication fails waits (500ms, doubling up to 10s) and is tried again; the
// relay itself pauses until then. About once a minute it also deletes the documents of AddDiscarded,
// and once an hour the claims past their retention. Run returns nil when ctx is done; an event being
// published at that moment is finished first.
func (o *Outbox) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := outboxPollMin
	var measured, swept, claimsSwept time.Time
	search := true // the first round looks for what an earlier run left behind
	for {
		round := o.relayAdded(ctx)
		if round.retryIn == 0 && (search || o.overflowed.Swap(false)) {
			more := o.relayPending(ctx)
			round.published += more.published
			round.retryIn = more.retryIn
		}
		search = false
		if now := time.Now(); now.Sub(measured) >= outboxMeasureEvery {
			o.measureBacklog(ctx)
			measured = now
		}
		if now := time.Now(); now.Sub(swept) >= o.sweepEvery {
			o.sweepDone(ctx)
			swept = now
		}
		if now := time.Now(); now.Sub(claimsSwept) >= o.claimsSweepEvery {
			o.sweepClaims(ctx)
			claimsSwept = now
		}
		next := wait
		switch {
		case round.retryIn > 0:
			next, wait = round.retryIn, outboxPollMin
		case round.published > 0:
			next, wait = outboxPollMin, outboxPollMin
		default:
			wait = min(2*wait, o.pollMax) // nothing found: wait longer next time
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
			wait = outboxPollMin // Reset discards a stale expiry (Go 1.23 timers)
		case <-timer.C:
			search = true // for events of other replicas, and failed ones whose retry time has come
		}
	}
}

// relayRound is what one round of the relay did: how many events it published, and when a
// publication failed, how long that event waits before its next attempt.
type relayRound struct {
	published int
	retryIn   time.Duration
}

// relayAdded publishes the events Add stored in this process, claiming each by its id, until none is
// waiting, a publication fails or ctx is done. An event another relay claimed first is left to it.
func (o *Outbox) relayAdded(ctx context.Context) relayRound {
	var round relayRound
	for ctx.Err() == nil {
		var id string
		select {
		case id = <-o.added:
		default:
			return round
		}
		doc, err := o.claim(ctx, id)
		if err != nil {
			o.log.WarnContext(ctx, "cannot claim outbox events", "err", err)
			o.overflowed.Store(true) // the search finds it once the database answers again
			round.retryIn = outboxRetryBase
			return round
		}
		if doc == nil {
			continue
		}
		if !o.publish(ctx, doc) {
			round.retryIn = backoff(doc.Attempts, outboxRetryBase, outboxRetryMax)
			return round
		}
		round.published++
	}
	return round
}

// relayPending publishes claimable events until there are none, a publication fails or ctx is done.
func (o *Outbox) relayPending(ctx context.Context) relayRound {
	var round relayRound
	for ctx.Err() == nil {
		doc, err := o.claim(ctx, "")
		if err != nil {
			o.log.WarnContext(ctx, "cannot claim outbox events", "err", err)
			round.retryIn = outboxRetryBase
			return round
		}
		if doc == nil {
			return round
		}
		if !o.publish(ctx, doc) {
			// Kafka is probably down: wait until the event may be tried again.
			round.retryIn = backoff(doc.Attempts, outboxRetryBase, outboxRetryMax)
			return round
		}
		round.published++
	}
	return round
}

// claim returns the oldest pending event not claimed by another relay — the event with the id, when
// id is not empty — claimed for outboxLease, or nil when there is none. Once started it is not
// interrupted by ctx, so that a relay that stops never leaves an event locked without publishing it.
func (o *Outbox) claim(ctx context.Context, id string) (*outboxDoc, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxPublishTimeout)
	defer cancel()
	for {
		now := time.Now().UTC()
		filter := bson.D{{Key: "sentAt", Value: nil}, {Key: "lockedUntil", Value: bson.M{"$lte": now}}}
		if id != "" {
			filter = append(bson.D{{Key: "_id", Value: id}}, filter...)
		}
		var doc outboxDoc
		err := o.coll.FindOneAndUpdate(ctx,
			filter,
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
		// Whether we won or another relay claimed the same attempt, the event may already be sent: its
		// delete failed, or it was added again after it was published and deleted. The sent marker
		// says; such an event is deleted without being published again.
		sent, err := o.isSent(ctx, doc.ID)
		if err != nil {
			return nil, err
		}
		if sent {
			o.remove(ctx, &doc)
			if id != "" {
				return nil, nil
			}
			continue
		}
		if won {
			return &doc, nil
		}
		// Another relay claimed this attempt at the same moment; it publishes the event.
		if id != "" {
			return nil, nil
		}
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

// publish publishes a claimed event, records it sent and deletes it from the outbox, and reports
// whether the publication succeeded.
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
	o.remove(pctx, doc)
	return true
}

// remove deletes a sent event from the outbox; its body may carry a one-time code, which must not
// outlive its delivery in the database (codes are otherwise stored only as HMACs). Its sent marker
// stays in outbox_claims.
func (o *Outbox) remove(ctx context.Context, doc *outboxDoc) {
	if _, err := o.coll.DeleteOne(ctx, bson.M{"_id": doc.ID}); err != nil {
		// The sent marker is in place: the next relay to claim the event deletes it without publishing.
		o.log.WarnContext(ctx, "published, but cannot delete the outbox event", "event_id", doc.ID, "err", err)
	}
}

// sweepDone deletes the outbox documents that carry sentAt: those of AddDiscarded, and sent ones left
// by an older version of the relay, which kept them. The filter is a range on the index's first key.
func (o *Outbox) sweepDone(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxPublishTimeout)
	defer cancel()
	if _, err := o.coll.DeleteMany(ctx, bson.M{"sentAt": bson.M{"$lte": time.Now().UTC()}}); err != nil {
		o.log.WarnContext(ctx, "cannot delete discarded outbox documents", "err", err)
	}
}

// sweepClaims deletes claims older than outboxClaimRetention, a batch at a time so that no single
// write is large, and at most outboxClaimsSweepBatches batches a sweep.
func (o *Outbox) sweepClaims(ctx context.Context) {
	old := bson.M{"claimedAt": bson.M{"$lt": time.Now().UTC().Add(-outboxClaimRetention)}}
	for range outboxClaimsSweepBatches {
		n, err := o.sweepClaimsBatch(ctx, old)
		if err != nil {
			o.log.WarnContext(ctx, "cannot delete expired outbox claims", "err", err)
			return
		}
		if n < outboxClaimsSweepBatch {
			return
		}
	}
}

// sweepClaimsBatch deletes up to outboxClaimsSweepBatch claims matching old and returns how many it
// found.
func (o *Outbox) sweepClaimsBatch(ctx context.Context, old bson.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxPublishTimeout)
	defer cancel()
	cur, err := o.claims.Find(ctx, old, options.Find().
		SetProjection(bson.M{"_id": 1}).
		SetLimit(outboxClaimsSweepBatch))
	if err != nil {
		return 0, fmt.Errorf("find expired outbox claims: %w", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return 0, fmt.Errorf("read expired outbox claims: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	in := make([]string, len(ids))
	for i, id := range ids {
		in[i] = id.ID
	}
	if _, err := o.claims.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": in}, "claimedAt": old["claimedAt"]}); err != nil {
		return 0, fmt.Errorf("delete expired outbox claims: %w", err)
	}
	return len(ids), nil
}
