package activity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// Collections of the activity log. Both are erased or anonymous on account deletion: entries are
// keyed by accountId (EraseAccount folds them into counts and deletes them); counts hold no account.
const (
	// CollEntries holds one document per activity event, _id = the event id.
	CollEntries = "activity"
	// collAccounts is identity's account collection (store.CollAccounts; not imported: the store
	// depends on auth, which depends on this package).
	collAccounts = "accounts"
	// CollCounts holds anonymous counts per day, kind and outcome: _id = "YYYY-MM-DD|kind|outcome".
	CollCounts = "activity_counts"
)

// DefaultRetention is how long entries are kept (ACTIVITY_RETENTION).
const DefaultRetention = 90 * 24 * time.Hour

// Paging limits of List.
const (
	DefaultSize = 20
	MaxSize     = 100
)

// cleanupBatch is how many expired entries one delete removes, so a cleanup never holds one huge
// delete against the server.
const cleanupBatch = 500

// Store is the MongoDB activity log. It implements Reader.
type Store struct {
	entries, counts, accounts *mongo.Collection
	retention                 time.Duration
	now                       func() time.Time
}

var _ Reader = (*Store)(nil)

// NewStore returns the log in db keeping entries for retention (DefaultRetention when not positive).
// It reads the accounts collection of the same database to tell whether an account still exists.
func NewStore(db *mongo.Database, retention time.Duration) *Store {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Store{
		entries: db.Collection(CollEntries), counts: db.Collection(CollCounts), accounts: db.Collection(collAccounts),
		retention: retention, now: time.Now,
	}
}

// WithClock returns a copy of s that reads the time from now (tests).
func (s *Store) WithClock(now func() time.Time) *Store {
	c := *s
	c.now = now
	return &c
}

// Retention is how long entries are kept.
func (s *Store) Retention() time.Duration { return s.retention }

// entryDoc is an entry as stored.
type entryDoc struct {
	ID         string            `bson:"_id"`
	AccountID  string            `bson:"accountId"`
	OccurredAt time.Time         `bson:"occurredAt"`
	Kind       string            `bson:"kind"`
	Outcome    string            `bson:"outcome,omitempty"`
	Reason     string            `bson:"reason,omitempty"`
	SessionID  string            `bson:"sessionId,omitempty"`
	DeviceID   string            `bson:"deviceId,omitempty"`
	DeviceName string            `bson:"deviceName,omitempty"`
	Platform   string            `bson:"platform,omitempty"`
	IPAddress  string            `bson:"ipAddress,omitempty"`
	UserAgent  string            `bson:"userAgent,omitempty"`
	Location   string            `bson:"location,omitempty"`
	ActorType  string            `bson:"actorType,omitempty"`
	ActorID    string            `bson:"actorId,omitempty"`
	Details    map[string]string `bson:"details,omitempty"`
	NotMeAt    *time.Time        `bson:"notMeAt,omitempty"`
}

func toDoc(e Entry) entryDoc {
	d := entryDoc{
		ID: e.ID, AccountID: e.AccountID, OccurredAt: e.OccurredAt.UTC(), Kind: e.Kind, Outcome: e.Outcome,
		Reason: e.Reason, SessionID: e.SessionID, DeviceID: e.DeviceID, DeviceName: e.DeviceName,
		Platform: e.Platform, IPAddress: e.IPAddress, UserAgent: e.UserAgent, Location: e.Location,
		ActorType: e.Actor.Type, ActorID: e.Actor.ID, Details: e.Details,
	}
	if !e.NotMeAt.IsZero() {
		t := e.NotMeAt.UTC()
		d.NotMeAt = &t
	}
	return d
}

func (d entryDoc) entry() Entry {
	e := Entry{ID: d.ID, AccountID: d.AccountID, OccurredAt: d.OccurredAt.UTC(), Activity: events.Activity{
		Kind: d.Kind, Outcome: d.Outcome, Reason: d.Reason, SessionID: d.SessionID, DeviceID: d.DeviceID,
		DeviceName: d.DeviceName, Platform: d.Platform, IPAddress: d.IPAddress, UserAgent: d.UserAgent,
		Location: d.Location, Actor: events.Actor{Type: d.ActorType, ID: d.ActorID}, Details: d.Details,
	}}
	if d.NotMeAt != nil {
		e.NotMeAt = d.NotMeAt.UTC()
	}
	return e
}

// EnsureIndexes creates the log's indexes: the owner's pages (newest first), the kind filter, and a
// TTL index deleting entries past the retention where the server supports it (FerretDB does not:
// queries skip expired entries themselves and RunCleanup deletes them). A TTL index made with
// another retention is changed to this one.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, s.entries,
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "occurredAt", Value: -1}}, Options: options.Index().SetName("account_occurred")},
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "kind", Value: 1}, {Key: "occurredAt", Value: -1}}, Options: options.Index().SetName("account_kind_occurred")},
	); err != nil {
		return fmt.Errorf("indexes of %s: %w", CollEntries, err)
	}
	ttl := mongo.IndexModel{Keys: bson.D{{Key: "occurredAt", Value: 1}},
		Options: options.Index().SetName("occurred_ttl").SetExpireAfterSeconds(int32(s.retention / time.Second))}
	err := mongox.EnsureIndexes(ctx, s.entries, ttl)
	if err == nil || !isIndexOptionsConflict(err) {
		if err != nil {
			return fmt.Errorf("indexes of %s: %w", CollEntries, err)
		}
		return nil
	}
	// The retention changed: change the TTL of the existing index in place.
	cmd := bson.D{{Key: "collMod", Value: CollEntries}, {Key: "index", Value: bson.D{
		{Key: "name", Value: "occurred_ttl"}, {Key: "expireAfterSeconds", Value: int32(s.retention / time.Second)}}}}
	if err := s.entries.Database().RunCommand(ctx, cmd).Err(); err != nil {
		return fmt.Errorf("change the retention of %s's TTL index: %w", CollEntries, err)
	}
	return nil
}

// isIndexOptionsConflict reports whether an index exists under that name with other options.
func isIndexOptionsConflict(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == 85 || ce.Code == 86) {
		return true
	}
	return strings.Contains(err.Error(), "IndexOptionsConflict") || strings.Contains(err.Error(), "IndexKeySpecsConflict")
}

// cutoff is the oldest occurredAt still within the retention.
func (s *Store) cutoff() time.Time { return s.now().UTC().Add(-s.retention) }

// Record stores e, keyed by its ID (the event id). A second Record of the same id changes nothing and
// reports false. An entry already past the retention is not stored (false).
func (s *Store) Record(ctx context.Context, e Entry) (bool, error) {
	if e.ID == "" || e.AccountID == "" || e.Kind == "" {
		return false, fmt.Errorf("activity entry without id, account or kind")
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = s.now()
	}
	if e.OccurredAt.Before(s.cutoff()) {
		return false, nil
	}
	_, err := s.entries.InsertOne(ctx, toDoc(e))
	switch {
	case err == nil:
		return true, nil
	case mongox.IsDuplicateKey(err):
		return false, nil
	}
	return false, fmt.Errorf("insert activity %s: %w", e.ID, err)
}

// AccountExists reports whether accountID is an account (in any status).
func (s *Store) AccountExists(ctx context.Context, accountID string) (bool, error) {
	err := s.accounts.FindOne(ctx, bson.D{{Key: "_id", Value: accountID}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	}
	return false, fmt.Errorf("find account %s: %w", accountID, err)
}

// Count adds one to the anonymous count of day, kind and outcome (an event of an account that no
// longer exists).
func (s *Store) Count(ctx context.Context, at time.Time, kind, outcome string) error {
	return s.addCount(ctx, countKey(at, kind, outcome), 1)
}

func countKey(at time.Time, kind, outcome string) string {
	if outcome == "" {
		outcome = events.OutcomeSucceeded
	}
	return at.UTC().Format(time.DateOnly) + "|" + kind + "|" + outcome
}

func (s *Store) addCount(ctx context.Context, key string, n int64) error {
	_, err := s.counts.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "count", Value: n}}}}, options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("count activity %s: %w", key, err)
	}
	return nil
}

// Counts returns the anonymous counts, keyed "YYYY-MM-DD|kind|outcome".
func (s *Store) Counts(ctx context.Context) (map[string]int64, error) {
	cur, err := s.counts.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("find activity counts: %w", err)
	}
	var docs []struct {
		ID    string `bson:"_id"`
		Count int64  `bson:"count"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read activity counts: %w", err)
	}
	out := make(map[string]int64, len(docs))
	for _, d := range docs {
		out[d.ID] = d.Count
	}
	return out, nil
}

// filter selects accountID's entries within the retention.
func (s *Store) filter(accountID string) bson.D {
	return bson.D{{Key: "accountId", Value: accountID}, {Key: "occurredAt", Value: bson.D{{Key: "$gte", Value: s.cutoff()}}}}
}

// List returns a page of accountID's log within the retention, newest first. A Size outside 1..MaxSize
// is DefaultSize or MaxSize; a negative Page is 0.
func (s *Store) List(ctx context.Context, accountID string, q Query) (Page, error) {
	size := q.Size
	switch {
	case size < 1:
		size = DefaultSize
	case size > MaxSize:
		size = MaxSize
	}
	page := max(q.Page, 0)
	f := s.filter(accountID)
	if q.Kind != "" {
		f = append(f, bson.E{Key: "kind", Value: q.Kind})
	}
	total, err := s.entries.CountDocuments(ctx, f)
	if err != nil {
		return Page{}, fmt.Errorf("count activity of %s: %w", accountID, err)
	}
	cur, err := s.entries.Find(ctx, f, options.Find().
		SetSort(bson.D{{Key: "occurredAt", Value: -1}, {Key: "_id", Value: -1}}).
		SetSkip(int64(page)*int64(size)).SetLimit(int64(size)))
	if err != nil {
		return Page{}, fmt.Errorf("find activity of %s: %w", accountID, err)
	}
	var docs []entryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return Page{}, fmt.Errorf("read activity of %s: %w", accountID, err)
	}
	out := Page{Entries: make([]Entry, len(docs)), Total: total}
	for i, d := range docs {
		out.Entries[i] = d.entry()
	}
	return out, nil
}

// All returns every entry of accountID's log within the retention, newest first (for the account's
// data export).
func (s *Store) All(ctx context.Context, accountID string) ([]Entry, error) {
	cur, err := s.entries.Find(ctx, s.filter(accountID), options.Find().SetSort(bson.D{{Key: "occurredAt", Value: -1}, {Key: "_id", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("find activity of %s: %w", accountID, err)
	}
	var docs []entryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read activity of %s: %w", accountID, err)
	}
	out := make([]Entry, len(docs))
	for i, d := range docs {
		out[i] = d.entry()
	}
	return out, nil
}

// Get returns one entry of accountID's log within the retention, or ErrNotFound.
func (s *Store) Get(ctx context.Context, accountID, id string) (Entry, error) {
	var d entryDoc
	err := s.entries.FindOne(ctx, append(bson.D{{Key: "_id", Value: id}}, s.filter(accountID)...)).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return Entry{}, ErrNotFound
	case err != nil:
		return Entry{}, fmt.Errorf("find activity %s: %w", id, err)
	}
	return d.entry(), nil
}

// MarkNotMe records that the owner reported entry id of accountID as not theirs, at at, and returns
// the entry. Marking an entry twice keeps the first time. ErrNotFound when it is not that account's
// (or past the retention).
func (s *Store) MarkNotMe(ctx context.Context, accountID, id string, at time.Time) (Entry, error) {
	f := append(bson.D{{Key: "_id", Value: id}}, s.filter(accountID)...)
	f = append(f, bson.E{Key: "notMeAt", Value: bson.D{{Key: "$exists", Value: false}}})
	var d entryDoc
	err := s.entries.FindOneAndUpdate(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "notMeAt", Value: at.UTC()}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	switch {
	case err == nil:
		return d.entry(), nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return s.Get(ctx, accountID, id) // already marked, or not there
	}
	return Entry{}, fmt.Errorf("mark activity %s not mine: %w", id, err)
}

// Cleanup deletes the entries past the retention, cleanupBatch at a time, and returns how many.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	deleted := 0
	for {
		ids, err := s.ids(ctx, bson.D{{Key: "occurredAt", Value: bson.D{{Key: "$lt", Value: s.cutoff()}}}}, cleanupBatch)
		if err != nil || len(ids) == 0 {
			return deleted, err
		}
		res, err := s.entries.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err != nil {
			return deleted, fmt.Errorf("delete expired activity: %w", err)
		}
		deleted += int(res.DeletedCount)
		if len(ids) < cleanupBatch {
			return deleted, nil
		}
	}
}

// RunCleanup runs Cleanup every interval until ctx ends (a lifecycle worker). A failed round is
// logged through report and tried again next time.
func (s *Store) RunCleanup(ctx context.Context, interval time.Duration, report func(deleted int, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.Cleanup(ctx)
		if report != nil && ctx.Err() == nil {
			report(n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ids returns up to limit ids of the entries matching f.
func (s *Store) ids(ctx context.Context, f bson.D, limit int64) ([]string, error) {
	cur, err := s.entries.Find(ctx, f, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("find activity ids: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read activity ids: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// ErasedAccount stands for an erased account's id in the entries of other accounts that named it.
const ErasedAccount = "erased-account"

// EraseAccount folds every entry of accountID into the anonymous counts (day, kind, outcome) and
// deletes it, a batch at a time, so that nothing personal of the account stays in the log. Run it
// when the account is deleted (account.deleted); running it again finds nothing to do. A crash
// between a batch's counts and its delete counts that batch twice when run again (counts are
// statistics, the entries are what must go).
func (s *Store) EraseAccount(ctx context.Context, accountID string) error {
	// Other accounts' entries may name this one: an operator's log names the accounts it acted on
	// (details.targetId), and an account's log names the operator who acted (actorId). Those
	// entries stay, without the id.
	if _, err := s.entries.UpdateMany(ctx, bson.D{{Key: "details.targetId", Value: accountID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "details.targetId", Value: ErasedAccount}}}}); err != nil {
		return fmt.Errorf("forget %s in operators' activity: %w", accountID, err)
	}
	if _, err := s.entries.UpdateMany(ctx, bson.D{{Key: "actorId", Value: accountID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "actorId", Value: ErasedAccount}}}}); err != nil {
		return fmt.Errorf("forget %s as an actor: %w", accountID, err)
	}
	for {
		cur, err := s.entries.Find(ctx, bson.D{{Key: "accountId", Value: accountID}}, options.Find().
			SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "occurredAt", Value: 1}, {Key: "kind", Value: 1}, {Key: "outcome", Value: 1}}).
			SetLimit(cleanupBatch))
		if err != nil {
			return fmt.Errorf("find activity of %s: %w", accountID, err)
		}
		var docs []entryDoc
		if err := cur.All(ctx, &docs); err != nil {
			return fmt.Errorf("read activity of %s: %w", accountID, err)
		}
		if len(docs) == 0 {
			return nil
		}
		counts := map[string]int64{}
		ids := make([]string, len(docs))
		for i, d := range docs {
			counts[countKey(d.OccurredAt, d.Kind, d.Outcome)]++
			ids[i] = d.ID
		}
		for key, n := range counts {
			if err := s.addCount(ctx, key, n); err != nil {
				return err
			}
		}
		if _, err := s.entries.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
			return fmt.Errorf("delete activity of %s: %w", accountID, err)
		}
	}
}
