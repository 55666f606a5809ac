package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/recovery"
)

// Collections of the recovery codes: the sets (one document per generation of an account, _id
// "<accountId>|<generation>", so two regenerations cannot store the same generation) and the uses
// (one document per redeemed code, _id "<setId>|<hash>"). A set document is never changed: a use
// is an insert into a unique _id, atomic on FerretDB and MongoDB alike (a conditional update is not
// on FerretDB), so of concurrent redemptions of one code exactly one is stored.
const (
	CollRecoveryCodeSets = "recovery_code_sets"
	CollRecoveryCodeUses = "recovery_code_uses"
)

func ensureRecoveryCodeIndexes(ctx context.Context, db *mongo.Database) error {
	if err := mongox.EnsureIndexes(ctx, db.Collection(CollRecoveryCodeSets),
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "generation", Value: -1}}, Options: options.Index().SetName("account_generation")}); err != nil {
		return wrap("indexes of "+CollRecoveryCodeSets, err)
	}
	if err := mongox.EnsureIndexes(ctx, db.Collection(CollRecoveryCodeUses),
		mongo.IndexModel{Keys: bson.D{{Key: "setId", Value: 1}}, Options: options.Index().SetName("set")}); err != nil {
		return wrap("indexes of "+CollRecoveryCodeUses, err)
	}
	return nil
}

// RecoveryCodes keeps the recovery code sets and their uses (recovery.Store).
type RecoveryCodes struct {
	sets *mongo.Collection
	uses *mongo.Collection
}

// NewRecoveryCodes returns the recovery code store of db.
func NewRecoveryCodes(db *mongo.Database) *RecoveryCodes {
	return &RecoveryCodes{sets: db.Collection(CollRecoveryCodeSets), uses: db.Collection(CollRecoveryCodeUses)}
}

type recoverySetDoc struct {
	ID          string    `bson:"_id"`
	AccountID   string    `bson:"accountId"`
	SetID       string    `bson:"setId"`
	Generation  int64     `bson:"generation"`
	Hashes      []string  `bson:"hashes"`
	GeneratedAt time.Time `bson:"generatedAt"`
}

type recoveryUseDoc struct {
	ID        string    `bson:"_id"`
	AccountID string    `bson:"accountId"`
	SetID     string    `bson:"setId"`
	UsedAt    time.Time `bson:"usedAt"`
}

// Live returns the account's newest set.
func (s *RecoveryCodes) Live(ctx context.Context, accountID string) (recovery.Set, bool, error) {
	var d recoverySetDoc
	err := s.sets.FindOne(ctx, bson.D{{Key: "accountId", Value: accountID}},
		options.FindOne().SetSort(bson.D{{Key: "generation", Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return recovery.Set{}, false, nil
	}
	if err != nil {
		return recovery.Set{}, false, wrap("find recovery codes", err)
	}
	return recovery.Set{AccountID: d.AccountID, ID: d.SetID, Generation: d.Generation, Hashes: d.Hashes, GeneratedAt: d.GeneratedAt}, true, nil
}

// Insert stores set; recovery.ErrGenerationTaken when the account has one of its generation.
func (s *RecoveryCodes) Insert(ctx context.Context, set recovery.Set) error {
	_, err := s.sets.InsertOne(ctx, recoverySetDoc{
		ID: set.AccountID + "|" + strconv.FormatInt(set.Generation, 10), AccountID: set.AccountID, SetID: set.ID,
		Generation: set.Generation, Hashes: set.Hashes, GeneratedAt: set.GeneratedAt.UTC(),
	})
	if mongox.IsDuplicateKey(err) {
		return recovery.ErrGenerationTaken
	}
	if err != nil {
		return wrap("insert recovery codes", err)
	}
	return nil
}

// DeleteBefore removes the account's sets older than generation and their uses. Only sets older
// than a stored one are removed, never the live one (nor a newer one a concurrent regeneration
// stored), so no used code can come back.
func (s *RecoveryCodes) DeleteBefore(ctx context.Context, accountID string, generation int64) error {
	filter := bson.D{{Key: "accountId", Value: accountID}, {Key: "generation", Value: bson.D{{Key: "$lt", Value: generation}}}}
	old, err := findAll(ctx, s.sets, filter, nil, "old recovery codes", func(d recoverySetDoc) string { return d.SetID })
	if err != nil || len(old) == 0 {
		return err
	}
	if _, err := s.uses.DeleteMany(ctx, bson.D{{Key: "setId", Value: bson.D{{Key: "$in", Value: old}}}}); err != nil {
		return wrap("delete old recovery code uses", err)
	}
	if _, err := s.sets.DeleteMany(ctx, filter); err != nil {
		return wrap("delete old recovery codes", err)
	}
	return nil
}

// Claim records the use of the code with hash in set at `at`; false when it was used already.
func (s *RecoveryCodes) Claim(ctx context.Context, set recovery.Set, hash string, at time.Time) (bool, error) {
	_, err := s.uses.InsertOne(ctx, recoveryUseDoc{ID: set.ID + "|" + hash, AccountID: set.AccountID, SetID: set.ID, UsedAt: at.UTC()})
	if mongox.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("claim recovery code", err)
	}
	return true, nil
}

// Used counts the used codes of set.
func (s *RecoveryCodes) Used(ctx context.Context, set recovery.Set) (int, error) {
	n, err := s.uses.CountDocuments(ctx, bson.D{{Key: "setId", Value: set.ID}})
	if err != nil {
		return 0, wrap("count used recovery codes", err)
	}
	return int(n), nil
}

// LastUse returns when a code of set was last used (zero: none was).
func (s *RecoveryCodes) LastUse(ctx context.Context, set recovery.Set) (time.Time, error) {
	var d recoveryUseDoc
	err := s.uses.FindOne(ctx, bson.D{{Key: "setId", Value: set.ID}},
		options.FindOne().SetSort(bson.D{{Key: "usedAt", Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap("last recovery code use", err)
	}
	return d.UsedAt, nil
}
