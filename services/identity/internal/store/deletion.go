package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// Fields of an account document that a scheduled deletion sets (see Deletions).
const (
	fieldDeletionScheduledAt = "deletionScheduledAt"
	fieldDeleteAt            = "deleteAt"
)

// statusDeleting is the status of an account whose grace period has ended while its data is being
// erased: it is not ACTIVE, so nothing signs in or changes it meanwhile. It never reaches another
// service (no snapshot is published for it) and lasts until the account document is gone.
const statusDeleting = "DELETING"

// ErasedUsernameHolder is the holder of a username reserved after its account was erased: an id no
// account has, so the name stays taken for everybody until the reservation ends.
const ErasedUsernameHolder = "erased-account"

// Deletions keeps scheduled account deletions (two fields of the account document, indexed by
// deleteAt) and erases an account's identity data when its grace period has ended.
type Deletions struct {
	db       *mongo.Database
	accounts *mongo.Collection
}

// NewDeletions returns the deletion store of db.
func NewDeletions(db *mongo.Database) *Deletions {
	return &Deletions{db: db, accounts: db.Collection(CollAccounts)}
}

// EnsureIndexes creates the index the deletion worker's query needs.
func (s *Deletions) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.accounts, mongo.IndexModel{
		Keys: bson.D{{Key: fieldDeleteAt, Value: 1}}, Options: options.Index().SetName("delete_at").SetSparse(true),
	})
}

// Schedule marks the account for deletion at deleteAt, with revoke (every session and API key) as
// its pending revocation, in one conditional write: it reports false when the account is missing,
// already scheduled or being erased.
func (s *Deletions) Schedule(ctx context.Context, id string, at, deleteAt time.Time, revoke account.Revocation) (bool, error) {
	res, err := s.accounts.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: fieldDeleteAt, Value: bson.D{{Key: "$exists", Value: false}}},
			{Key: "status", Value: bson.D{{Key: "$ne", Value: statusDeleting}}}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: fieldDeletionScheduledAt, Value: at.UTC()},
			{Key: fieldDeleteAt, Value: deleteAt.UTC()},
			{Key: RevocationField, Value: RevocationValue(revoke)},
		}}})
	if err != nil {
		return false, wrap("schedule deletion", err)
	}
	return res.MatchedCount > 0, nil
}

// Scheduled returns when the account's deletion was scheduled and when it is due; zero times when
// none is. account.ErrNotFound when there is no such account.
func (s *Deletions) Scheduled(ctx context.Context, id string) (scheduledAt, deleteAt time.Time, err error) {
	var d struct {
		ScheduledAt time.Time `bson:"deletionScheduledAt"`
		DeleteAt    time.Time `bson:"deleteAt"`
	}
	err = s.accounts.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
		options.FindOne().SetProjection(bson.D{{Key: fieldDeletionScheduledAt, Value: 1}, {Key: fieldDeleteAt, Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return time.Time{}, time.Time{}, account.ErrNotFound
	}
	if err != nil {
		return time.Time{}, time.Time{}, wrap("find deletion", err)
	}
	return d.ScheduledAt, d.DeleteAt, nil
}

// Cancel forgets the account's scheduled deletion while it is not yet due (deleteAt after now); it
// reports whether there was one to cancel.
func (s *Deletions) Cancel(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := s.accounts.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: fieldDeleteAt, Value: bson.D{{Key: "$gt", Value: now.UTC()}}},
			{Key: "status", Value: bson.D{{Key: "$ne", Value: statusDeleting}}}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: fieldDeletionScheduledAt, Value: ""}, {Key: fieldDeleteAt, Value: ""}}}})
	if err != nil {
		return false, wrap("cancel deletion", err)
	}
	return res.MatchedCount > 0, nil
}

// Due lists up to limit accounts whose deletion was due at now, oldest first.
func (s *Deletions) Due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	type idDoc struct {
		ID string `bson:"_id"`
	}
	return findAll(ctx, s.accounts, bson.D{{Key: fieldDeleteAt, Value: bson.D{{Key: "$lte", Value: now.UTC()}}}},
		options.Find().SetSort(bson.D{{Key: fieldDeleteAt, Value: 1}}).SetLimit(int64(limit)).SetProjection(bson.D{{Key: "_id", Value: 1}}),
		"due deletions", func(d idDoc) string { return d.ID })
}

// BeginErasure moves a due account to the erasing status (it can no longer sign in or change) and
// reports whether the account is due; a second call, by this or another replica, finds it due again,
// which is what makes a crashed erasure resume.
func (s *Deletions) BeginErasure(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := s.accounts.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: fieldDeleteAt, Value: bson.D{{Key: "$lte", Value: now.UTC()}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: statusDeleting}}}})
	if err != nil {
		return false, wrap("begin erasure", err)
	}
	return res.MatchedCount > 0, nil
}

// Contacts returns every e-mail address and phone number identity can find for the account: the
// current and pending ones, those of e-mail changes that can still be reverted, the destinations of
// its codes and two-factor challenges and the addresses of its linked providers. Lower-cased
// e-mails and E.164 numbers, without duplicates.
func (s *Deletions) Contacts(ctx context.Context, id string) (emails, phones []string, err error) {
	seen := map[string]bool{}
	add := func(v string) {
		v = strings.TrimSpace(v)
		if v == "" || seen[strings.ToLower(v)] {
			return
		}
		seen[strings.ToLower(v)] = true
		if strings.Contains(v, "@") {
			emails = append(emails, strings.ToLower(v))
		} else if strings.HasPrefix(v, "+") {
			phones = append(phones, v)
		}
	}
	var acc struct {
		Email        string `bson:"email"`
		Phone        string `bson:"phone"`
		PendingPhone string `bson:"pendingPhone"`
	}
	switch err := s.accounts.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&acc); {
	case errors.Is(err, mongo.ErrNoDocuments):
	case err != nil:
		return nil, nil, wrap("read account contacts", err)
	}
	add(acc.Email)
	add(acc.Phone)
	add(acc.PendingPhone)
	for _, q := range []struct {
		coll   string
		fields []string
	}{
		{CollEmailReverts, []string{"oldEmail", "newEmail"}},
		{CollChallenges, []string{"destination"}},
		{CollTwoFactorChallenges, []string{"codeDestination"}},
		{CollProviders, []string{"email"}},
	} {
		cur, err := s.db.Collection(q.coll).Find(ctx, bson.D{{Key: "accountId", Value: id}})
		if err != nil {
			return nil, nil, wrap("read contacts in "+q.coll, err)
		}
		var docs []bson.M
		if err := cur.All(ctx, &docs); err != nil {
			return nil, nil, wrap("read contacts in "+q.coll, err)
		}
		for _, d := range docs {
			for _, f := range q.fields {
				if v, ok := d[f].(string); ok {
					add(v)
				}
			}
		}
	}
	// An address or number that is now another account's (a provider's e-mail, a number given up and
	// verified elsewhere) is that account's: its records are not this erasure's to remove.
	mine := func(vs []string, field string) ([]string, error) {
		out := []string{}
		for _, v := range vs {
			n, err := s.accounts.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: id}}}, {Key: field, Value: v}})
			if err != nil {
				return nil, wrap("check contacts of other accounts", err)
			}
			if n == 0 {
				out = append(out, v)
			}
		}
		return out, nil
	}
	if emails, err = mine(emails, "email"); err != nil {
		return nil, nil, err
	}
	if phones, err = mine(phones, "phone"); err != nil {
		return nil, nil, err
	}
	return emails, phones, nil
}

// Erase removes everything identity keeps about the account, but the account document itself (see
// DeleteAccount, the last step): every collection holding its id, or one of its e-mail addresses or
// phone numbers (contacts, from Contacts). Its usernames — the current one and those still reserved
// for it — stay reserved for reservation (from now) with no link to the account
// (ErasedUsernameHolder), then they are free. Idempotent.
func (s *Deletions) Erase(ctx context.Context, id string, contacts []string, reservation time.Duration, now time.Time) error {
	if id == "" {
		return errors.New("erase: no account id")
	}
	byAccount := bson.D{{Key: "accountId", Value: id}}

	// Usernames first: reservations must be in place before the account releases its name.
	if err := s.reserveUsernames(ctx, id, reservation, now); err != nil {
		return err
	}

	// Ids that link documents without an account id to the account's documents.
	challengeIDs, err := s.distinct(ctx, CollChallenges, "challengeId", bson.D{{Key: "$or", Value: bson.A{
		byAccount, bson.D{{Key: "destination", Value: bson.D{{Key: "$in", Value: nonNil(contacts)}}}},
	}}})
	if err != nil {
		return err
	}
	twoFactorIDs, err := s.distinct(ctx, CollTwoFactorChallenges, "_id", byAccount)
	if err != nil {
		return err
	}
	revertHashes, err := s.distinct(ctx, CollEmailReverts, "_id", byAccount)
	if err != nil {
		return err
	}

	deletes := []struct {
		coll   string
		filter bson.D
	}{
		{CollChallengeUses, bson.D{{Key: "challengeId", Value: bson.D{{Key: "$in", Value: append(challengeIDs, twoFactorIDs...)}}}}},
		{CollChallenges, bson.D{{Key: "$or", Value: bson.A{byAccount, bson.D{{Key: "destination", Value: bson.D{{Key: "$in", Value: nonNil(contacts)}}}}}}}},
		{CollTwoFactorChallenges, byAccount},
		{CollEmailRevertUsage, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: revertHashes}}}}},
		{CollEmailReverts, byAccount},
		{CollStepUpTokens, byAccount},
		{CollTrustedDevices, byAccount},
		{CollDeviceSessions, byAccount},
		{CollProviders, byAccount},
		{CollAPIKeySlots, byAccount},
		{CollAPIKeys, byAccount},
		{CollUsernameHistory, byAccount},
		{CollRecoveryCodeUses, byAccount},
		{CollRecoveryCodeSets, byAccount},
		{CollAuthenticatorSteps, byAccount},
		{CollAuthenticators, bson.D{{Key: "_id", Value: id}}},
		{CollPasskeys, byAccount},
		{CollPasskeyUsers, bson.D{{Key: "_id", Value: id}}},
		{CollPasskeyCeremonies, byAccount},
		// Keyed by "<account id>|…" (credential claims) and "signin-methods:<account id>" (leases).
		{CollCredentialClaims, bson.D{{Key: "_id", Value: primitiveRegex("^" + regexp.QuoteMeta(id) + `\|`)}}},
		{CollAccountLocks, bson.D{{Key: "_id", Value: primitiveRegex(":" + regexp.QuoteMeta(id) + "$")}}},
	}
	for _, d := range deletes {
		if _, err := s.db.Collection(d.coll).DeleteMany(ctx, d.filter); err != nil {
			return wrap("erase "+d.coll, err)
		}
	}
	return nil
}

// DeleteAccount removes the account document: the last step of an erasure.
func (s *Deletions) DeleteAccount(ctx context.Context, id string) error {
	if _, err := s.accounts.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return wrap("delete account", err)
	}
	return nil
}

// reserveUsernames keeps the account's current username and the old ones still reserved for it
// reserved for nobody: one history entry each, with no account, no other name and an id that is not
// derived from the account. Entries of an earlier, interrupted run are found by name and kept.
func (s *Deletions) reserveUsernames(ctx context.Context, id string, reservation time.Duration, now time.Time) error {
	if reservation <= 0 {
		return nil
	}
	var names []string
	var acc struct {
		Username string `bson:"username"`
	}
	switch err := s.accounts.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&acc); {
	case errors.Is(err, mongo.ErrNoDocuments):
	case err != nil:
		return wrap("read username", err)
	}
	if acc.Username != "" {
		names = append(names, acc.Username)
	}
	reserved, err := s.distinct(ctx, CollUsernameHistory, "oldUsername", bson.D{{Key: "accountId", Value: id},
		{Key: "reservedUntil", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}})
	if err != nil {
		return err
	}
	names = append(names, reserved...)
	history := s.db.Collection(CollUsernameHistory)
	until := now.UTC().Add(reservation)
	for _, name := range names {
		n, err := history.CountDocuments(ctx, bson.D{{Key: "accountId", Value: ErasedUsernameHolder}, {Key: "oldUsername", Value: name},
			{Key: "reservedUntil", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}})
		if err != nil {
			return wrap("find username reservation", err)
		}
		if n > 0 {
			continue
		}
		if _, err := history.InsertOne(ctx, changeDoc{ID: events.NewID(), AccountID: ErasedUsernameHolder, OldUsername: name,
			ChangedAt: now.UTC(), ReservedUntil: &until}); err != nil {
			return wrap("reserve username", err)
		}
	}
	return nil
}

// distinct returns the string values of field in the documents of coll matching filter.
func (s *Deletions) distinct(ctx context.Context, coll, field string, filter bson.D) ([]string, error) {
	cur, err := s.db.Collection(coll).Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: field, Value: 1}}))
	if err != nil {
		return nil, wrap(fmt.Sprintf("read %s of %s", field, coll), err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap(fmt.Sprintf("read %s of %s", field, coll), err)
	}
	out := []string{}
	for _, d := range docs {
		if v, ok := d[field].(string); ok && v != "" {
			out = append(out, v)
		}
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func primitiveRegex(pattern string) primitive.Regex { return primitive.Regex{Pattern: pattern} }
