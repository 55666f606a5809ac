package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// An API key's budget is shared by every replica of a service (VerifierConfig.APIKeyLimitDB): besides
// its own per-key limiter, each replica counts the requests it admits per key and window and adds
// them to a counter document in MongoDB in the background, every APIKeyLimitFlushInterval, and at
// once when a key nears its budget or has not been counted for a while. Each addition reads back the
// window's total of every replica, and a request is admitted while that known total plus this
// replica's requests not yet added stays below the window's budget. No request waits for MongoDB.
//
// A window is a tenth of the minute's budget long (APIKeyWindow: 600 a minute is 60 per 6 s window),
// which is also the burst the per-replica limiter allows. Together the replicas can overshoot a
// window's budget only by what the others admitted for the key and had not added yet: at most the
// requests each other replica admits during one addition's round trip once the key is past half its
// budget (or was idle there), and never more than the per-replica limit (today's behaviour).
//
// When MongoDB does not answer, the counts are kept and added when it does, and each replica holds
// the key to the whole window budget on its own: the limit falls back to one budget per replica.

// APIKeyRateCollection holds the shared counters: {_id: "<key id>:<window ms>:<window number>",
// count, expiresAt}. Key ids and counts only, no account id: nothing in it is personal data, and each
// document is deleted (or expired by MongoDB's TTL monitor) a window or two after its window.
const APIKeyRateCollection = "api_key_rates"

// APIKeyLimitFlushInterval is how often a replica adds its counts to the shared counters.
const APIKeyLimitFlushInterval = 200 * time.Millisecond

// flushTimeout bounds one round of additions; apiKeyLimitRetry is the pause after a failed one.
const (
	flushTimeout     = 2 * time.Second
	apiKeyLimitRetry = time.Second
	maxRetired       = 10000
)

// APIKeyWindow returns the shared counting window of a per-minute rate and the requests allowed in
// each: a tenth of the rate (at least one) per window of a tenth of a minute, so that budget/window is
// exactly the rate.
func APIKeyWindow(perMinute int) (budget int, window time.Duration) {
	if perMinute <= 0 {
		perMinute = DefaultAPIKeyRatePerMinute
	}
	budget = max(perMinute/10, 1)
	return budget, max(time.Minute/time.Duration(perMinute)*time.Duration(budget), time.Millisecond)
}

// sharedLimiter counts one replica's admitted requests per key and window against the shared totals.
type sharedLimiter struct {
	coll   *mongo.Collection
	budget int
	window time.Duration
	log    *slog.Logger

	mu        sync.Mutex
	keys      map[string]*sharedCount
	retired   []retiredDoc // counter documents of past windows this replica wrote, to delete
	swept     int64        // the window the map was last swept in
	failing   bool
	batch     []pendingAdd
	wake      chan struct{} // a key wants its counts added now
	idleAfter time.Duration // a key not counted for this long is counted at its next request
}

// sharedCount is what a replica knows about a key in one window.
type sharedCount struct {
	window    int64     // the window number (Unix time / window)
	known     int       // the window's total across replicas, as of the last addition
	inflight  int       // being added now
	unflushed int       // admitted here and not yet added
	readAt    time.Time // when known was read; zero: never in this window
	wrote     bool      // this replica wrote the window's document
}

type pendingAdd struct {
	key    string
	window int64
	n      int
}

type retiredDoc struct {
	id    string
	after int64 // deleted once the current window is past this one
}

func newSharedLimiter(db *mongo.Database, perMinute int, log *slog.Logger) *sharedLimiter {
	budget, window := APIKeyWindow(perMinute)
	return &sharedLimiter{
		coll: db.Collection(APIKeyRateCollection), budget: budget, window: window, log: log,
		keys: make(map[string]*sharedCount), wake: make(chan struct{}, 1), idleAfter: APIKeyLimitFlushInterval,
	}
}

func (s *sharedLimiter) windowOf(now time.Time) int64 { return now.UnixNano() / int64(s.window) }

func (s *sharedLimiter) docID(key string, window int64) string {
	return key + ":" + strconv.FormatInt(s.window.Milliseconds(), 10) + ":" + strconv.FormatInt(window, 10)
}

// allow admits a request of key at now while the key's known shared total and this replica's
// uncounted requests stay below the budget; otherwise it says how long until the next window.
func (s *sharedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	w := s.windowOf(now)
	s.mu.Lock()
	c := s.keys[key]
	if c == nil {
		c = &sharedCount{window: w}
		s.keys[key] = c
	} else if c.window != w {
		s.retire(key, c)
		*c = sharedCount{window: w}
	}
	if c.known+c.inflight+c.unflushed >= s.budget {
		s.mu.Unlock()
		return false, time.Duration((w+1)*int64(s.window) - now.UnixNano())
	}
	c.unflushed++
	// Count at once a key past half its budget (the other replicas may be spending the rest) or one
	// whose total is stale (another replica may have spent it while this one was idle).
	urgent := 2*(c.known+c.inflight+c.unflushed) >= s.budget ||
		(c.unflushed == 1 && c.inflight == 0 && now.Sub(c.readAt) >= s.idleAfter)
	s.mu.Unlock()
	if urgent {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true, 0
}

// retire remembers the document of c's window for deletion, when this replica wrote it. Locked.
func (s *sharedLimiter) retire(key string, c *sharedCount) {
	if c.wrote && len(s.retired) < maxRetired {
		s.retired = append(s.retired, retiredDoc{id: s.docID(key, c.window), after: c.window + 1})
	}
}

// run adds the counts every APIKeyLimitFlushInterval and whenever a key asks, until ctx ends.
func (s *sharedLimiter) run(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, s.coll, mongo.IndexModel{
		Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0),
	}); err != nil && ctx.Err() == nil {
		// Not fatal: the replicas delete the documents of past windows themselves.
		s.log.Warn("api key limits: cannot create the expiry index", "collection", APIKeyRateCollection, "err", err)
	}
	tick := time.NewTicker(APIKeyLimitFlushInterval)
	defer tick.Stop()
	for {
		// While no key has been used (or all have been forgotten) the worker sleeps until one is: an
		// idle service does not wake five times a second. A key's first request wakes it (allow).
		var ticks <-chan time.Time
		if s.busy() {
			ticks = tick.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		case <-s.wake:
		}
		if err := s.flush(ctx, time.Now()); err != nil && ctx.Err() == nil {
			// MongoDB is away: the counts wait here; retry after a pause, not at every request.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(apiKeyLimitRetry):
			}
		}
	}
}

// busy reports whether a key is remembered or a past window's document waits for deletion.
func (s *sharedLimiter) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys) > 0 || len(s.retired) > 0
}

// flush adds every key's uncounted requests of the current window to the shared counters, reading
// back the totals, and deletes the documents of past windows. It returns the first error; the counts
// it could not add are kept for the next flush. One goroutine flushes (the worker, or a test).
func (s *sharedLimiter) flush(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	w := s.windowOf(now)
	s.mu.Lock()
	batch := s.batch[:0]
	sweep := s.swept != w
	s.swept = w
	for key, c := range s.keys {
		if c.window == w && c.unflushed > 0 {
			batch = append(batch, pendingAdd{key: key, window: w, n: c.unflushed})
			c.inflight += c.unflushed
			c.unflushed = 0
		} else if sweep && c.window < w && c.inflight == 0 {
			s.retire(key, c) // an idle key: forget it
			delete(s.keys, key)
		}
	}
	var stale []string
	keep := s.retired[:0]
	for _, r := range s.retired {
		if r.after < w {
			stale = append(stale, r.id)
		} else {
			keep = append(keep, r)
		}
	}
	s.retired = keep
	s.mu.Unlock()

	var firstErr error
	for i, p := range batch {
		total := 0
		err := firstErr
		if err == nil {
			total, err = s.add(ctx, p, now)
		}
		s.mu.Lock()
		if c := s.keys[p.key]; c != nil && c.window == p.window {
			c.inflight -= p.n
			if err != nil {
				c.unflushed += p.n
			} else {
				c.known, c.readAt, c.wrote = max(c.known, total), time.Now(), true
			}
		} else if err == nil && len(s.retired) < maxRetired {
			s.retired = append(s.retired, retiredDoc{id: s.docID(p.key, p.window), after: p.window + 1})
		}
		s.mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		batch[i] = pendingAdd{}
	}
	s.mu.Lock()
	s.batch = batch[:0]
	s.mu.Unlock()

	if len(stale) > 0 && firstErr == nil {
		if _, err := s.coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: stale}}}}); err != nil {
			firstErr = fmt.Errorf("delete past api key counters: %w", err)
			s.mu.Lock()
			for _, id := range stale {
				if len(s.retired) < maxRetired {
					s.retired = append(s.retired, retiredDoc{id: id, after: w - 1})
				}
			}
			s.mu.Unlock()
		}
	}
	s.noteHealth(firstErr)
	return firstErr
}

// add adds p.n to the key's counter of its window and returns the window's total.
func (s *sharedLimiter) add(ctx context.Context, p pendingAdd, now time.Time) (int, error) {
	// The document outlives its window by one more, so a replica whose clock lags still finds it.
	expires := time.Unix(0, (p.window+2)*int64(s.window)).UTC()
	var doc struct {
		Count int `bson:"count"`
	}
	var err error
	for range 3 {
		err = s.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: s.docID(p.key, p.window)}},
			bson.D{
				{Key: "$inc", Value: bson.D{{Key: "count", Value: p.n}}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "expiresAt", Value: expires}}},
			},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
		// Two replicas raced to insert the window's counter and the other won: adding again finds it.
		if !mongox.IsDuplicateKey(err) {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("count api key requests: %w", err)
	}
	return doc.Count, nil
}

// noteHealth logs when sharing stops and starts working again (once each, not per flush).
func (s *sharedLimiter) noteHealth(err error) {
	s.mu.Lock()
	was := s.failing
	s.failing = err != nil
	s.mu.Unlock()
	switch {
	case err != nil && !was && !errors.Is(err, context.Canceled):
		s.log.Warn("api key limits cannot be shared: each replica holds keys to the whole budget on its own until MongoDB answers", "err", err)
	case err == nil && was:
		s.log.Info("api key limits are shared again")
	}
}

// allowAPIKey applies the per-replica limiter and then, when configured, the shared one.
func (v *Verifier) allowAPIKey(key string, now time.Time) (bool, time.Duration) {
	ok, wait := v.limiter.allow(key, now)
	if !ok || v.shared == nil {
		return ok, wait
	}
	if ok, wait = v.shared.allow(key, now); !ok {
		v.limiter.undo(key) // the request is not served: give its token back
	}
	return ok, wait
}

// ShareAPIKeyLimits is the background worker that shares the API-key budgets between the replicas
// (VerifierConfig.APIKeyLimitDB): it adds this replica's counts to MongoDB every
// APIKeyLimitFlushInterval and when a key nears its budget, until ctx ends. Without APIKeyLimitDB it
// just waits for ctx. It returns nil.
func (v *Verifier) ShareAPIKeyLimits(ctx context.Context) error {
	if v.shared == nil {
		<-ctx.Done()
		return nil
	}
	return v.shared.run(ctx)
}
