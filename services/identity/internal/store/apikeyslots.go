package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
)

// CollAPIKeySlots holds one document per live API key, _id "<accountId>|<n>" with n from 1 to the
// per-account limit: a key can only be stored once its slot document was inserted, and an insert into
// a unique _id is atomic on FerretDB and MongoDB alike (see claimSlot), so concurrent creations can
// never hold more keys than there are slots. Revoking a key deletes its slot; a slot whose key has
// expired or was revoked without its slot being freed (a crash in between) is reclaimed when needed.
const CollAPIKeySlots = "api_key_slots"

// orphanSlotAge is how old a slot without its key must be before it is reclaimed: younger, its key
// may still be on the way (the slot is inserted first).
const orphanSlotAge = time.Minute

type apiKeySlotDoc struct {
	ID        string    `bson:"_id"`
	AccountID string    `bson:"accountId"`
	KeyID     string    `bson:"keyId"`
	ExpiresAt time.Time `bson:"expiresAt"`
	ClaimedAt time.Time `bson:"claimedAt"`
}

func (s *APIKeys) slots() *mongo.Collection { return s.coll.Database().Collection(CollAPIKeySlots) }

func apiKeySlotID(accountID string, n int) string { return accountID + "|" + strconv.Itoa(n) }

// InsertCapped stores k in a free slot of its account, or answers apikey.ErrTooMany when all max
// are held by live keys. Keys stored before slots existed (no slot) take slots off the top, so they
// count against max too; there are no new ones, so that number only falls.
func (s *APIKeys) InsertCapped(ctx context.Context, k apikey.Key, max int, now time.Time) error {
	legacy, err := s.coll.CountDocuments(ctx, bson.D{
		{Key: "accountId", Value: k.AccountID},
		{Key: "revokedAt", Value: nil},
		{Key: "slot", Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "expiresAt", Value: nil}},
			bson.D{{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}},
		}},
	})
	if err != nil {
		return wrap("count api keys without slot", err)
	}
	for n := 1; n <= max-int(legacy); n++ {
		got, err := s.claimKeySlot(ctx, k, n, now)
		if err != nil {
			return err
		}
		if !got {
			continue
		}
		if err := s.insert(ctx, k, n); err != nil {
			s.releaseSlot(ctx, k.AccountID, n, k.ID)
			return err
		}
		return nil
	}
	return apikey.ErrTooMany
}

// claimKeySlot inserts slot n for k; when it is taken by a key that no longer needs it, it frees it
// and tries once more.
func (s *APIKeys) claimKeySlot(ctx context.Context, k apikey.Key, n int, now time.Time) (bool, error) {
	doc := apiKeySlotDoc{ID: apiKeySlotID(k.AccountID, n), AccountID: k.AccountID, KeyID: k.ID, ExpiresAt: k.ExpiresAt.UTC(), ClaimedAt: now.UTC()}
	for try := 0; try < 2; try++ {
		_, err := s.slots().InsertOne(ctx, doc)
		if err == nil {
			return true, nil
		}
		if !mongox.IsDuplicateKey(err) {
			return false, wrap("claim api key slot", err)
		}
		if try == 1 {
			break
		}
		freed, err := s.reclaimSlot(ctx, doc.ID, now)
		if err != nil || !freed {
			return false, err
		}
	}
	return false, nil
}

// reclaimSlot deletes the slot when its holder has expired, was revoked, or never got stored.
func (s *APIKeys) reclaimSlot(ctx context.Context, id string, now time.Time) (bool, error) {
	var held apiKeySlotDoc
	err := s.slots().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&held)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return true, nil // freed meanwhile
	}
	if err != nil {
		return false, wrap("read api key slot", err)
	}
	stale := !now.Before(held.ExpiresAt)
	if !stale {
		var key apiKeyDoc
		err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: held.KeyID}}).Decode(&key)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			stale = now.Sub(held.ClaimedAt) > orphanSlotAge
		case err != nil:
			return false, wrap("read api key of slot", err)
		default:
			stale = key.RevokedAt != nil
		}
	}
	if !stale {
		return false, nil
	}
	// Conditional on the holder, so a slot claimed again meanwhile is left alone.
	if _, err := s.slots().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "keyId", Value: held.KeyID}}); err != nil {
		return false, wrap("free api key slot", err)
	}
	return true, nil
}

// releaseSlot frees slot n of the account if key keyID holds it. Best effort: a slot left behind is
// reclaimed by the next creation that needs it.
func (s *APIKeys) releaseSlot(ctx context.Context, accountID string, n int, keyID string) {
	if n <= 0 {
		return
	}
	_, _ = s.slots().DeleteOne(ctx, bson.D{{Key: "_id", Value: apiKeySlotID(accountID, n)}, {Key: "keyId", Value: keyID}})
}

// RevokeAll marks every unrevoked key of the account revoked at at, frees their slots and returns
// how many it marked.
func (s *APIKeys) RevokeAll(ctx context.Context, accountID string, at time.Time) (int, error) {
	at = at.UTC().Truncate(time.Millisecond)
	res, err := s.coll.UpdateMany(ctx,
		bson.D{{Key: "accountId", Value: accountID}, {Key: "revokedAt", Value: nil}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revokedAt", Value: at}}}})
	if err != nil {
		return 0, wrap("revoke api keys", err)
	}
	revoked, err := findAll(ctx, s.coll, bson.D{{Key: "accountId", Value: accountID}, {Key: "revokedAt", Value: at}}, nil,
		"revoked api keys", func(d apiKeyDoc) apiKeyDoc { return d })
	if err != nil {
		return int(res.ModifiedCount), err
	}
	for _, d := range revoked {
		s.releaseSlot(ctx, accountID, d.Slot, d.ID)
	}
	return int(res.ModifiedCount), nil
}
