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
	"github.com/latchkey/latchkey/services/identity/internal/totp"
)

// Collections of the authenticator apps: one document per account (_id the account id), and the
// accepted steps (_id enrolment|step), whose unique insert is what lets exactly one of concurrent
// answers with one code through (a conditional update alone is not atomic on FerretDB).
const (
	CollAuthenticators     = "totp_authenticators"
	CollAuthenticatorSteps = "totp_steps"
)

// Authenticators keeps the accounts' authenticator apps (totp.Store).
type Authenticators struct {
	coll  *mongo.Collection
	steps *mongo.Collection
}

// NewAuthenticators returns the authenticator store of db.
func NewAuthenticators(db *mongo.Database) *Authenticators {
	return &Authenticators{coll: db.Collection(CollAuthenticators), steps: db.Collection(CollAuthenticatorSteps)}
}

// EnsureIndexes creates the tidying index of the accepted steps (TTL where the server has one).
func (s *Authenticators) EnsureIndexes(ctx context.Context) error {
	err := mongox.EnsureIndexes(ctx, s.steps,
		mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(0)})
	if err != nil {
		return wrap("indexes of "+CollAuthenticatorSteps, err)
	}
	return nil
}

type authenticatorDoc struct {
	AccountID   string     `bson:"_id"`
	ID          string     `bson:"enrolmentId"`
	KeyID       string     `bson:"keyId"`
	Ciphertext  []byte     `bson:"ciphertext"`
	Confirmed   bool       `bson:"confirmed"`
	LastStep    int64      `bson:"lastStep"`
	CreatedAt   time.Time  `bson:"createdAt"`
	ConfirmedAt *time.Time `bson:"confirmedAt,omitempty"`
}

func (d authenticatorDoc) record() totp.Record {
	return totp.Record{ID: d.ID, AccountID: d.AccountID, Secret: totp.Sealed{KeyID: d.KeyID, Ciphertext: d.Ciphertext},
		Confirmed: d.Confirmed, LastStep: d.LastStep, CreatedAt: d.CreatedAt, ConfirmedAt: fromOpt(d.ConfirmedAt)}
}

// PutPending stores r unconfirmed, replacing a pending one. The filter only matches an unconfirmed
// document: with a confirmed one the upsert's insert clashes on _id, which is totp.ErrAlreadyEnrolled.
func (s *Authenticators) PutPending(ctx context.Context, r totp.Record) error {
	d := authenticatorDoc{AccountID: r.AccountID, ID: r.ID, KeyID: r.Secret.KeyID, Ciphertext: r.Secret.Ciphertext, CreatedAt: r.CreatedAt.UTC()}
	filter := bson.D{{Key: "_id", Value: r.AccountID}, {Key: "confirmed", Value: false}}
	_, err := s.coll.ReplaceOne(ctx, filter, d, options.Replace().SetUpsert(true))
	if mongox.IsDuplicateKey(err) {
		return totp.ErrAlreadyEnrolled
	}
	if err != nil {
		return wrap("store authenticator", err)
	}
	return nil
}

// Get returns the account's authenticator, or totp.ErrNotFound.
func (s *Authenticators) Get(ctx context.Context, accountID string) (totp.Record, error) {
	var d authenticatorDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return totp.Record{}, totp.ErrNotFound
	}
	if err != nil {
		return totp.Record{}, wrap("find authenticator", err)
	}
	return d.record(), nil
}

// Confirm confirms the pending authenticator with this ciphertext (the one whose code was checked).
func (s *Authenticators) Confirm(ctx context.Context, accountID string, ciphertext []byte, step int64, at time.Time) (bool, error) {
	res, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: accountID}, {Key: "confirmed", Value: false}, {Key: "ciphertext", Value: ciphertext}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "confirmed", Value: true}, {Key: "lastStep", Value: step}, {Key: "confirmedAt", Value: at.UTC()}}}})
	if err != nil {
		return false, wrap("confirm authenticator", err)
	}
	return res.MatchedCount == 1, nil
}

// Advance claims step for the enrolment r with an insert of enrolment|step, which only one caller
// can win, then raises lastStep (only ever upwards) so that earlier steps are refused too.
func (s *Authenticators) Advance(ctx context.Context, r totp.Record, step int64, at time.Time) (bool, error) {
	_, err := s.steps.InsertOne(ctx, bson.D{{Key: "_id", Value: r.ID + "|" + strconv.FormatInt(step, 10)},
		{Key: "accountId", Value: r.AccountID}, {Key: "at", Value: at.UTC()},
		{Key: "expiresAt", Value: at.UTC().Add(10 * time.Minute)}})
	if mongox.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("claim authenticator step", err)
	}
	res, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: r.AccountID}, {Key: "enrolmentId", Value: r.ID}, {Key: "confirmed", Value: true},
			{Key: "lastStep", Value: bson.D{{Key: "$lt", Value: step}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "lastStep", Value: step}}}})
	if err != nil {
		return false, wrap("advance authenticator step", err)
	}
	// No match: removed or replaced meanwhile, or a later step was accepted in between.
	return res.MatchedCount == 1, nil
}

// Delete removes the account's authenticator and reports whether it was a confirmed one.
func (s *Authenticators) Delete(ctx context.Context, accountID string) (bool, error) {
	var d authenticatorDoc
	err := s.coll.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, wrap("delete authenticator", err)
	}
	return d.Confirmed, nil
}
