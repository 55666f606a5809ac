// Package erasure is the plumbing every service shares for the account.deleted event: a tombstone per
// erased account, kept under a hash of the account id so it links to nobody, and a guard around a
// service's event handlers that keeps late events from bringing an erased account's data back.
//
// Why tombstones rather than version checks: the projections that upsert (the session service's
// account facts, the profile service's profile) would recreate a document from any late event, and a
// version kept per account would have to outlive the account under its id. A tombstone holds only
// SHA-256("latchkey erased account v1:" + id): account ids are random UUIDs, so the hash cannot be
// turned back into an id, while a late event carrying the id finds it.
package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// Collection holds the tombstones, in each service's own database.
const Collection = "erased_accounts"

// Key is the tombstone key of an account id: no raw id is ever stored.
func Key(accountID string) string {
	sum := sha256.Sum256([]byte("latchkey erased account v1:" + accountID))
	return hex.EncodeToString(sum[:])
}

// Tombstones records which accounts a service has erased.
type Tombstones struct{ coll *mongo.Collection }

// NewTombstones returns the tombstones of db.
func NewTombstones(db *mongo.Database) *Tombstones {
	return &Tombstones{coll: db.Collection(Collection)}
}

// Mark records that accountID is erased (idempotent).
func (t *Tombstones) Mark(ctx context.Context, accountID string, at time.Time) error {
	_, err := t.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: Key(accountID)}, {Key: "erasedAt", Value: at.UTC()}})
	if err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("record erased account: %w", err)
	}
	return nil
}

// Erased reports whether accountID has been erased.
func (t *Tombstones) Erased(ctx context.Context, accountID string) (bool, error) {
	if accountID == "" {
		return false, nil
	}
	err := t.coll.FindOne(ctx, bson.D{{Key: "_id", Value: Key(accountID)}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up erased account: %w", err)
	}
	return true, nil
}

// Eraser removes everything a service holds about an account. ev is the account.deleted event (its
// payload lists the account's e-mail addresses and phone numbers), or, when the guard re-erases after
// a late event raced the deletion, an event of that account with no such payload. It must be
// idempotent: erasing an erased account changes nothing.
type Eraser func(ctx context.Context, accountID string, deleted events.AccountDeleted) error

// Guard wraps a service's handler of account.events.v1 (or of any topic whose events carry account
// ids) with deletion:
//   - account.deleted: the tombstone is written first, then erase runs (a retry after a failure
//     erases again, which is harmless);
//   - any other event of an erased account is skipped, before next sees it;
//   - after next, the tombstone is read again, and a deletion that raced the event (the tombstone
//     appeared meanwhile) is followed by erase, so whatever next wrote is removed.
//
// Because the tombstone is written before erasing and read again after every write, every
// interleaving of a late event with the deletion ends with nothing left.
func Guard(t *Tombstones, erase Eraser, next func(context.Context, events.Envelope) error) func(context.Context, events.Envelope) error {
	return func(ctx context.Context, ev events.Envelope) error {
		if ev.AccountID == "" {
			return next(ctx, ev)
		}
		if ev.Type == events.TypeAccountDeleted {
			var p events.AccountDeleted
			if err := ev.Decode(&p); err != nil {
				// Still erase by account id: the destinations are what the payload adds.
				p = events.AccountDeleted{}
			}
			if err := t.Mark(ctx, ev.AccountID, time.Now()); err != nil {
				return err
			}
			if err := erase(ctx, ev.AccountID, p); err != nil {
				return fmt.Errorf("erase account: %w", err)
			}
			// The other handlers may still want to see it (they skip unknown types).
			return next(ctx, ev)
		}
		erased, err := t.Erased(ctx, ev.AccountID)
		if err != nil {
			return err
		}
		if erased {
			return nil
		}
		if err := next(ctx, ev); err != nil {
			return err
		}
		if erased, err = t.Erased(ctx, ev.AccountID); err != nil || !erased {
			return err
		}
		if err := erase(ctx, ev.AccountID, events.AccountDeleted{}); err != nil {
			return fmt.Errorf("erase account after a late event: %w", err)
		}
		return nil
	}
}
