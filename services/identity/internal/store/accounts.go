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
)

// Accounts is the accounts collection.
type Accounts struct{ coll *mongo.Collection }

// NewAccounts returns the accounts store of db.
func NewAccounts(db *mongo.Database) *Accounts { return &Accounts{coll: db.Collection(CollAccounts)} }

// accountDoc is the stored form. Optional identifiers are omitted when empty, never stored as null
// or "": the sparse unique indexes skip only documents that lack the field.
type accountDoc struct {
	ID                 string    `bson:"_id"`
	Email              string    `bson:"email,omitempty"`
	EmailVerified      bool      `bson:"emailVerified"`
	Phone              string    `bson:"phone,omitempty"`
	PhoneVerified      bool      `bson:"phoneVerified"`
	PendingPhone       string    `bson:"pendingPhone,omitempty"` // not unique: a wish, see account.Account
	Username           string    `bson:"username,omitempty"`
	FirstName          string    `bson:"firstName,omitempty"`
	LastName           string    `bson:"lastName,omitempty"`
	PasswordHash       string    `bson:"passwordHash,omitempty"`
	Status             string    `bson:"status"`
	TwoFactorEnabled   bool      `bson:"twoFactorEnabled"`
	CreatedAt          time.Time `bson:"createdAt"`
	UpdatedAt          time.Time `bson:"updatedAt"`
	PasswordChangedAt  time.Time `bson:"passwordChangedAt,omitempty"`
	Roles              []string  `bson:"roles,omitempty"` // absent on accounts stored before roles existed
	DeactivatedAt      time.Time `bson:"deactivatedAt,omitempty"`
	DeactivationReason string    `bson:"deactivationReason,omitempty"`
	// RevokePending is a sign-out of sessions ordered with a credential change and not yet confirmed
	// by the session service (see account.Revocation).
	RevokePending       *revocationDoc `bson:"revokePending,omitempty"`
	CreatedEventPending bool           `bson:"createdEventPending,omitempty"`
	Version             int64          `bson:"version"`
	// SnapshotPending says that the account.updated event of Version has not reached the outbox yet.
	SnapshotPending bool `bson:"snapshotPending,omitempty"`
	// PasswordResetRequired is set by "this wasn't me" and cleared by every new password.
	PasswordResetRequired bool `bson:"passwordResetRequired,omitempty"`
}

type revocationDoc struct {
	ID              string    `bson:"id"`
	ExceptSessionID string    `bson:"exceptSessionId,omitempty"`
	Reason          string    `bson:"reason"`
	OrderedAt       time.Time `bson:"orderedAt"`
	APIKeys         bool      `bson:"apiKeys,omitempty"`
	SessionsKept    bool      `bson:"sessionsKept,omitempty"`
}

// RevocationField is the account field holding a pending account.Revocation; RevocationValue is
// its stored form, for UpdateProjected's set.
const RevocationField = "revokePending"

// RevocationValue returns the stored form of r.
func RevocationValue(r account.Revocation) any {
	return revocationDoc{ID: r.ID, ExceptSessionID: r.ExceptSessionID, Reason: r.Reason, OrderedAt: r.OrderedAt.UTC(),
		APIKeys: r.APIKeys, SessionsKept: r.SessionsKept}
}

func toAccountDoc(a account.Account) accountDoc {
	return accountDoc{
		ID: a.ID, Email: a.Email, EmailVerified: a.EmailVerified, Phone: a.Phone, PhoneVerified: a.PhoneVerified,
		PendingPhone: a.PendingPhone, Username: a.Username, FirstName: a.FirstName, LastName: a.LastName, PasswordHash: a.PasswordHash,
		Status: string(a.Status), TwoFactorEnabled: a.TwoFactorEnabled, CreatedAt: a.CreatedAt.UTC(),
		UpdatedAt: a.UpdatedAt.UTC(), PasswordChangedAt: a.PasswordChangedAt.UTC(), Version: a.Version,
		Roles: a.Roles, DeactivatedAt: a.DeactivatedAt.UTC(), DeactivationReason: a.DeactivationReason,
	}
}

func (d accountDoc) account() account.Account {
	a := account.Account{
		ID: d.ID, Email: d.Email, EmailVerified: d.EmailVerified, Phone: d.Phone, PhoneVerified: d.PhoneVerified,
		PendingPhone: d.PendingPhone, Username: d.Username, FirstName: d.FirstName, LastName: d.LastName, PasswordHash: d.PasswordHash,
		Status: account.Status(d.Status), TwoFactorEnabled: d.TwoFactorEnabled, CreatedAt: d.CreatedAt,
		UpdatedAt: d.UpdatedAt, PasswordChangedAt: d.PasswordChangedAt, Version: d.Version,
		Roles: d.Roles, DeactivatedAt: d.DeactivatedAt, DeactivationReason: d.DeactivationReason,
	}
	if r := d.RevokePending; r != nil {
		a.PendingRevocation = &account.Revocation{ID: r.ID, ExceptSessionID: r.ExceptSessionID, Reason: r.Reason, OrderedAt: r.OrderedAt,
			APIKeys: r.APIKeys, SessionsKept: r.SessionsKept}
	}
	a.PasswordResetRequired = d.PasswordResetRequired
	return a
}

// Create inserts a with its account.created event and its first account.updated snapshot (version 1)
// marked pending.
func (s *Accounts) Create(ctx context.Context, a account.Account) error {
	doc := toAccountDoc(a)
	doc.CreatedEventPending = true
	doc.Version, doc.SnapshotPending = 1, true
	_, err := s.coll.InsertOne(ctx, doc)
	if err == nil {
		return nil
	}
	if !mongox.IsDuplicateKey(err) {
		return wrap("insert account", err)
	}
	// Which index clashed? FerretDB's message does not name it, so ask.
	if a.Email != "" {
		if _, ferr := s.ByEmail(ctx, a.Email); ferr == nil {
			return account.ErrEmailTaken
		}
	}
	if a.Username != "" {
		if _, ferr := s.ByUsername(ctx, a.Username); ferr == nil {
			return account.ErrUsernameTaken
		}
	}
	return account.ErrEmailTaken
}

func (s *Accounts) findOne(ctx context.Context, filter bson.D) (account.Account, error) {
	var d accountDoc
	err := s.coll.FindOne(ctx, filter).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return account.Account{}, account.ErrNotFound
	}
	if err != nil {
		return account.Account{}, wrap("find account", err)
	}
	return d.account(), nil
}

// ByID returns the account with id, or account.ErrNotFound.
func (s *Accounts) ByID(ctx context.Context, id string) (account.Account, error) {
	return s.findOne(ctx, bson.D{{Key: "_id", Value: id}})
}

// ByEmail returns the account whose (lower-cased) e-mail is email, or account.ErrNotFound.
func (s *Accounts) ByEmail(ctx context.Context, email string) (account.Account, error) {
	if email == "" {
		return account.Account{}, account.ErrNotFound
	}
	return s.findOne(ctx, bson.D{{Key: "email", Value: email}})
}

// ByPhone returns the account whose phone is phone (E.164), or account.ErrNotFound.
func (s *Accounts) ByPhone(ctx context.Context, phone string) (account.Account, error) {
	if phone == "" {
		return account.Account{}, account.ErrNotFound
	}
	return s.findOne(ctx, bson.D{{Key: "phone", Value: phone}})
}

// ByUsername returns the account whose (lower-cased) username is username, or account.ErrNotFound.
func (s *Accounts) ByUsername(ctx context.Context, username string) (account.Account, error) {
	if username == "" {
		return account.Account{}, account.ErrNotFound
	}
	return s.findOne(ctx, bson.D{{Key: "username", Value: username}})
}

// SetPasswordHash replaces the password hash only while it is still oldHash.
func (s *Accounts) SetPasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	_, err := s.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "passwordHash", Value: oldHash}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "passwordHash", Value: newHash}, {Key: "updatedAt", Value: time.Now().UTC()}}}})
	if err != nil {
		return wrap("update password hash", err)
	}
	return nil
}

// MarkCreatedPublished clears the pending flag of the account.created event.
func (s *Accounts) MarkCreatedPublished(ctx context.Context, id string) error {
	_, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "createdEventPending", Value: ""}}}})
	if err != nil {
		return wrap("mark account.created queued", err)
	}
	return nil
}

// CreatedUnpublished lists up to limit accounts created before the given time whose account.created
// event is still pending.
func (s *Accounts) CreatedUnpublished(ctx context.Context, before time.Time, limit int) ([]account.Account, error) {
	return findAll(ctx, s.coll, bson.D{{Key: "createdEventPending", Value: true}, {Key: "createdAt", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}},
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}}).SetLimit(int64(limit)), "pending accounts", accountDoc.account)
}

// UpdateProjected applies set (and unset, field names) to the account with id when it also matches
// filter (nil: any state), and — in the same single-document write — increments its version and marks
// its account.updated snapshot pending. Use it for every change of a fact in events.AccountSnapshot
// (email, phone and their verification, username, status, 2FA); the caller then calls
// auth.Service.PublishSnapshot (or leaves it to the republisher). It reports whether a document matched.
func (s *Accounts) UpdateProjected(ctx context.Context, id string, filter, set bson.D, unset ...string) (bool, error) {
	f := append(bson.D{{Key: "_id", Value: id}}, filter...)
	set = append(set, bson.E{Key: "updatedAt", Value: time.Now().UTC()}, bson.E{Key: "snapshotPending", Value: true})
	update := bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}}}
	if len(unset) > 0 {
		u := make(bson.D, len(unset))
		for i, name := range unset {
			u[i] = bson.E{Key: name, Value: ""}
		}
		update = append(update, bson.E{Key: "$unset", Value: u})
	}
	res, err := s.coll.UpdateOne(ctx, f, update)
	if err != nil {
		if mongox.IsDuplicateKey(err) {
			return false, err
		}
		return false, wrap("update account", err)
	}
	return res.MatchedCount > 0, nil
}

// MarkSnapshotPublished clears the pending flag when the account is still at version: a change made
// meanwhile keeps its own snapshot pending.
func (s *Accounts) MarkSnapshotPublished(ctx context.Context, id string, version int64) error {
	_, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "snapshotPending", Value: ""}}}})
	if err != nil {
		return wrap("mark account.updated queued", err)
	}
	return nil
}

// SnapshotUnpublished lists up to limit accounts changed before the given time whose account.updated
// snapshot is still pending.
func (s *Accounts) SnapshotUnpublished(ctx context.Context, before time.Time, limit int) ([]account.Account, error) {
	return findAll(ctx, s.coll, bson.D{{Key: "snapshotPending", Value: true}, {Key: "updatedAt", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}},
		options.Find().SetSort(bson.D{{Key: "updatedAt", Value: 1}}).SetLimit(int64(limit)), "pending snapshots", accountDoc.account)
}

// ChangePassword stores newHash as the account's password, changed at `at`, only while the stored hash
// is still oldHash ("" : the account has no password yet), so of two concurrent changes one wins. A
// non-nil revoke is recorded as the account's pending revocation in the same write. It reports
// whether the change was made.
//
// FerretDB runs a conditional update as a read and a write, so the condition alone would let two
// concurrent changes both win. The transition away from oldHash is therefore first claimed with an
// insert into a unique _id (atomic on FerretDB and MongoDB alike); only the claimant writes.
func (s *Accounts) ChangePassword(ctx context.Context, id, oldHash, newHash string, at time.Time, revoke *account.Revocation) (bool, error) {
	claims := s.coll.Database().Collection(CollCredentialClaims)
	claimID := id + "|password|" + keyHash(oldHash)
	if _, err := claims.InsertOne(ctx, bson.D{{Key: "_id", Value: claimID}, {Key: "at", Value: at.UTC()}}); err != nil {
		if mongox.IsDuplicateKey(err) {
			return false, nil
		}
		return false, wrap("claim password change", err)
	}
	ok, err := s.changePassword(ctx, id, oldHash, newHash, at, revoke)
	if err != nil || !ok {
		// Nothing was changed: give the transition back, so a retry is not refused for ever.
		_, _ = claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: claimID}})
	}
	return ok, err
}

func (s *Accounts) changePassword(ctx context.Context, id, oldHash, newHash string, at time.Time, revoke *account.Revocation) (bool, error) {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "status", Value: string(account.StatusActive)}}
	if oldHash == "" {
		filter = append(filter, bson.E{Key: "passwordHash", Value: bson.D{{Key: "$exists", Value: false}}})
	} else {
		filter = append(filter, bson.E{Key: "passwordHash", Value: oldHash})
	}
	set := bson.D{{Key: "passwordHash", Value: newHash}, {Key: "passwordChangedAt", Value: at.UTC()}, {Key: "updatedAt", Value: at.UTC()}}
	if revoke != nil {
		set = append(set, bson.E{Key: RevocationField, Value: RevocationValue(*revoke)})
	}
	// A new password ends a "this wasn't me" demand for one (PasswordResetRequired), in the same write.
	res, err := s.coll.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: set},
		{Key: "$unset", Value: bson.D{{Key: FieldPasswordResetRequired, Value: ""}}}})
	if err != nil {
		return false, wrap("change password", err)
	}
	return res.MatchedCount > 0, nil
}

// ClearRevocation forgets the pending revocation revocationID once the session service confirmed
// it; a newer one stored meanwhile stays.
func (s *Accounts) ClearRevocation(ctx context.Context, id, revocationID string) error {
	_, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: RevocationField + ".id", Value: revocationID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: RevocationField, Value: ""}}}})
	if err != nil {
		return wrap("clear pending revocation", err)
	}
	return nil
}

// RevocationsPending lists up to limit accounts with a revocation ordered before the given time and
// still unconfirmed.
func (s *Accounts) RevocationsPending(ctx context.Context, before time.Time, limit int) ([]account.Account, error) {
	return findAll(ctx, s.coll, bson.D{{Key: RevocationField + ".orderedAt", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}},
		options.Find().SetSort(bson.D{{Key: RevocationField + ".orderedAt", Value: 1}}).SetLimit(int64(limit)), "pending revocations", accountDoc.account)
}

// SetTwoFactor turns 2FA on or off (a projected fact: through UpdateProjected) while the account is
// active and 2FA is in the other state, recording revoke (when not nil) in the same write. It
// reports whether the change was made.
func (s *Accounts) SetTwoFactor(ctx context.Context, id string, enabled bool, revoke *account.Revocation) (bool, error) {
	filter := bson.D{{Key: "status", Value: string(account.StatusActive)}, {Key: "twoFactorEnabled", Value: !enabled}}
	set := bson.D{{Key: "twoFactorEnabled", Value: enabled}}
	if revoke != nil {
		set = append(set, bson.E{Key: RevocationField, Value: RevocationValue(*revoke)})
	}
	return s.UpdateProjected(ctx, id, filter, set)
}

// Deactivate marks an active account deactivated by its owner (a projected fact: through
// UpdateProjected), with the reason and revoke in the same write. It reports whether the change was
// made. Nothing else of the account is touched: support can reactivate it.
func (s *Accounts) Deactivate(ctx context.Context, id, reason string, at time.Time, revoke account.Revocation) (bool, error) {
	filter := bson.D{{Key: "status", Value: string(account.StatusActive)}}
	set := bson.D{
		{Key: "status", Value: string(account.StatusDeactivated)},
		{Key: "deactivatedAt", Value: at.UTC()},
		{Key: RevocationField, Value: RevocationValue(revoke)},
	}
	var unset []string
	if reason != "" {
		set = append(set, bson.E{Key: "deactivationReason", Value: reason})
	} else {
		unset = append(unset, "deactivationReason")
	}
	return s.UpdateProjected(ctx, id, filter, set, unset...)
}
