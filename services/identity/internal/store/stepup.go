package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// Collections of the step-up rules: step-up tokens and e-mail change reverts (by the SHA-256 of the
// token as _id), and the single-use claims of the reverts.
const (
	CollStepUpTokens     = "stepup_tokens"
	CollEmailReverts     = "email_change_reverts"
	CollEmailRevertUsage = "email_change_revert_uses"
)

// stepUpIndexes create the tidying indexes (TTL where the server has them; every read checks expiry
// itself).
func ensureStepUpIndexes(ctx context.Context, db *mongo.Database) error {
	for _, coll := range []string{CollStepUpTokens, CollEmailReverts} {
		err := mongox.EnsureIndexes(ctx, db.Collection(coll),
			mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(3600)})
		if err != nil {
			return wrap("indexes of "+coll, err)
		}
	}
	return nil
}

// StepUps keeps step-up tokens and e-mail change reverts (auth.StepUps).
type StepUps struct {
	db       *mongo.Database
	tokens   *mongo.Collection
	reverts  *mongo.Collection
	uses     *mongo.Collection
	accounts *Accounts
}

// NewStepUps returns the step-up store of db.
func NewStepUps(db *mongo.Database) *StepUps {
	return &StepUps{db: db, tokens: db.Collection(CollStepUpTokens), reverts: db.Collection(CollEmailReverts),
		uses: db.Collection(CollEmailRevertUsage), accounts: NewAccounts(db)}
}

// EnsureIndexes creates the collections' indexes.
func (s *StepUps) EnsureIndexes(ctx context.Context) error { return ensureStepUpIndexes(ctx, s.db) }

type stepUpDoc struct {
	Hash      string    `bson:"_id"`
	AccountID string    `bson:"accountId"`
	SessionID string    `bson:"sessionId,omitempty"`
	Method    string    `bson:"method"`
	IssuedAt  time.Time `bson:"issuedAt"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

// InsertStepUp stores t.
func (s *StepUps) InsertStepUp(ctx context.Context, t auth.StepUpToken) error {
	_, err := s.tokens.InsertOne(ctx, stepUpDoc{Hash: t.Hash, AccountID: t.AccountID, SessionID: t.SessionID,
		Method: t.Method, IssuedAt: t.IssuedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC()})
	if err != nil {
		return wrap("insert step-up token", err)
	}
	return nil
}

// StepUpByHash returns the token with the hash, or auth.ErrStepUpNotFound.
func (s *StepUps) StepUpByHash(ctx context.Context, hash string) (auth.StepUpToken, error) {
	var d stepUpDoc
	err := s.tokens.FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return auth.StepUpToken{}, auth.ErrStepUpNotFound
	}
	if err != nil {
		return auth.StepUpToken{}, wrap("find step-up token", err)
	}
	return auth.StepUpToken{Hash: d.Hash, AccountID: d.AccountID, SessionID: d.SessionID, Method: d.Method,
		IssuedAt: d.IssuedAt, ExpiresAt: d.ExpiresAt}, nil
}

type emailRevertDoc struct {
	Hash      string     `bson:"_id"`
	AccountID string     `bson:"accountId"`
	OldEmail  string     `bson:"oldEmail"`
	NewEmail  string     `bson:"newEmail"`
	ChangedAt time.Time  `bson:"changedAt"`
	ExpiresAt time.Time  `bson:"expiresAt"`
	UsedAt    *time.Time `bson:"usedAt,omitempty"`
}

// InsertEmailRevert stores r.
func (s *StepUps) InsertEmailRevert(ctx context.Context, r auth.EmailRevert) error {
	_, err := s.reverts.InsertOne(ctx, emailRevertDoc{Hash: r.Hash, AccountID: r.AccountID, OldEmail: r.OldEmail,
		NewEmail: r.NewEmail, ChangedAt: r.ChangedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()})
	if err != nil {
		return wrap("insert email revert", err)
	}
	return nil
}

// EmailRevertByHash returns the revert with the hash, or auth.ErrEmailRevertInvalid. A claimed one
// comes with UsedAt set.
func (s *StepUps) EmailRevertByHash(ctx context.Context, hash string) (auth.EmailRevert, error) {
	var d emailRevertDoc
	err := s.reverts.FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return auth.EmailRevert{}, auth.ErrEmailRevertInvalid
	}
	if err != nil {
		return auth.EmailRevert{}, wrap("find email revert", err)
	}
	r := auth.EmailRevert{Hash: d.Hash, AccountID: d.AccountID, OldEmail: d.OldEmail, NewEmail: d.NewEmail,
		ChangedAt: d.ChangedAt, ExpiresAt: d.ExpiresAt, UsedAt: fromOpt(d.UsedAt)}
	if r.UsedAt.IsZero() {
		if r.UsedAt, err = usedAt(ctx, s.uses, hash, "email revert"); err != nil {
			return auth.EmailRevert{}, err
		}
	}
	return r, nil
}

// ClaimEmailRevert records the single use of the revert. The claim is an insert into a unique _id
// (atomic on FerretDB and MongoDB alike, unlike a conditional update on FerretDB): of concurrent
// claims exactly one wins.
func (s *StepUps) ClaimEmailRevert(ctx context.Context, hash string, at time.Time) (bool, error) {
	return claimOnce(ctx, s.uses, s.reverts, hash, at, "email revert")
}

// RestoreEmail makes email the account's verified e-mail (a projected fact, through
// Accounts.UpdateProjected), replaces the password hash with lockedHash when set, and records revoke
// as the pending revocation, in one write. An address another account holds is account.ErrEmailTaken.
func (s *StepUps) RestoreEmail(ctx context.Context, accountID, email, lockedHash string, at time.Time, revoke *account.Revocation) (bool, error) {
	set := bson.D{{Key: "email", Value: email}, {Key: "emailVerified", Value: true}}
	if lockedHash != "" {
		set = append(set, bson.E{Key: "passwordHash", Value: lockedHash}, bson.E{Key: "passwordChangedAt", Value: at.UTC()})
	}
	if revoke != nil {
		set = append(set, bson.E{Key: RevocationField, Value: RevocationValue(*revoke)})
	}
	ok, err := s.accounts.UpdateProjected(ctx, accountID, nil, set)
	if mongox.IsDuplicateKey(err) {
		return false, account.ErrEmailTaken
	}
	return ok, err
}
