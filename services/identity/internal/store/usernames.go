package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

// CollUsernameHistory keeps every username change: who had which name when, and until when an old
// name stays reserved for its previous owner. It is history, so nothing expires it.
const CollUsernameHistory = "username_history"

// Fields of the account document written by this file and profiles.go (accountDoc does not list
// them; every write here is a $set, so other writers of the account keep them).
const (
	fieldUsernameChangedAt = "usernameChangedAt" // last change (not first set) of the username
	fieldProfile           = "profile"           // projection of profile.updated, see profiles.go
	fieldSearchTerms       = "searchTerms"       // lower-cased name words and names, for search
)

// EnsureUsernameIndexes creates the indexes of username search, lookup and history.
//
// Search (Usernames.Search) never scans the collection: its filter is an $or of two anchored,
// case-sensitive prefix regexes on lower-cased values — /^prefix/ on username (served by
// username_unique) and on searchTerms (served by the multikey search_terms index). MongoDB turns an
// anchored regex without flags into index bounds ["prefix", "prefiy"), so each $or branch is one
// bounded IXSCAN and the query plan is an OR of two index scans; status, username and firstName are
// checked on the fetched candidates only. Sorting is by username, unique, so pages are a total order
// and stable between requests; the planner's alternative (walk username_unique in order and filter)
// loses the plan trial whenever matches are rare, which a 2+ character prefix makes them on a large
// user base. Lookup is an equality on username_unique.
func EnsureUsernameIndexes(ctx context.Context, db *mongo.Database) error {
	if err := mongox.EnsureIndexes(ctx, db.Collection(CollAccounts),
		mongo.IndexModel{Keys: bson.D{{Key: fieldSearchTerms, Value: 1}}, Options: options.Index().SetName("search_terms")},
	); err != nil {
		return fmt.Errorf("indexes of %s: %w", CollAccounts, err)
	}
	if err := mongox.EnsureIndexes(ctx, db.Collection(CollUsernameHistory),
		mongo.IndexModel{Keys: bson.D{{Key: "oldUsername", Value: 1}, {Key: "reservedUntil", Value: -1}}, Options: options.Index().SetName("old_username")},
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "changedAt", Value: -1}}, Options: options.Index().SetName("account_changes")},
	); err != nil {
		return fmt.Errorf("indexes of %s: %w", CollUsernameHistory, err)
	}
	return nil
}

// Usernames implements username.Store over the accounts collection and the username history.
type Usernames struct {
	*Accounts
	history *mongo.Collection
}

// NewUsernames returns the username store of db.
func NewUsernames(db *mongo.Database) *Usernames {
	return &Usernames{Accounts: NewAccounts(db), history: db.Collection(CollUsernameHistory)}
}

type changeDoc struct {
	ID            string     `bson:"_id"`
	AccountID     string     `bson:"accountId"`
	OldUsername   string     `bson:"oldUsername,omitempty"`
	NewUsername   string     `bson:"newUsername"`
	ChangedAt     time.Time  `bson:"changedAt"`
	ReservedUntil *time.Time `bson:"reservedUntil,omitempty"`
}

// RecordChange stores a history entry.
func (s *Usernames) RecordChange(ctx context.Context, c username.Change) error {
	d := changeDoc{ID: c.ID, AccountID: c.AccountID, OldUsername: c.OldUsername, NewUsername: c.NewUsername, ChangedAt: c.ChangedAt.UTC()}
	if !c.ReservedUntil.IsZero() {
		t := c.ReservedUntil.UTC()
		d.ReservedUntil = &t
	}
	if _, err := s.history.InsertOne(ctx, d); err != nil {
		return wrap("insert username history", err)
	}
	return nil
}

// DeleteChange removes a history entry.
func (s *Usernames) DeleteChange(ctx context.Context, id string) error {
	if _, err := s.history.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return wrap("delete username history", err)
	}
	return nil
}

// History lists an account's username changes, newest first.
func (s *Usernames) History(ctx context.Context, accountID string) ([]username.Change, error) {
	cur, err := s.history.Find(ctx, bson.D{{Key: "accountId", Value: accountID}}, options.Find().SetSort(bson.D{{Key: "changedAt", Value: -1}}))
	if err != nil {
		return nil, wrap("find username history", err)
	}
	var docs []changeDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap("read username history", err)
	}
	out := make([]username.Change, len(docs))
	for i, d := range docs {
		out[i] = username.Change{ID: d.ID, AccountID: d.AccountID, OldUsername: d.OldUsername, NewUsername: d.NewUsername, ChangedAt: d.ChangedAt}
		if d.ReservedUntil != nil {
			out[i].ReservedUntil = *d.ReservedUntil
		}
	}
	return out, nil
}

// ReservedFor returns the previous owner for whom name is reserved at now, or "".
func (s *Usernames) ReservedFor(ctx context.Context, name string, now time.Time) (string, error) {
	var d changeDoc
	err := s.history.FindOne(ctx,
		bson.D{{Key: "oldUsername", Value: name}, {Key: "reservedUntil", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}},
		options.FindOne().SetSort(bson.D{{Key: "reservedUntil", Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", wrap("find username reservation", err)
	}
	return d.AccountID, nil
}

// LastUsernameChange returns the time of the account's last username change, zero when none.
func (s *Usernames) LastUsernameChange(ctx context.Context, accountID string) (time.Time, error) {
	var d struct {
		ChangedAt time.Time `bson:"usernameChangedAt"`
	}
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: accountID}},
		options.FindOne().SetProjection(bson.D{{Key: fieldUsernameChangedAt, Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return time.Time{}, account.ErrNotFound
	}
	if err != nil {
		return time.Time{}, wrap("find username change time", err)
	}
	return d.ChangedAt, nil
}

// SetUsername replaces old with new in one conditional write (see username.Store). The frequency
// limit is part of the filter, so two concurrent changes cannot both pass it.
func (s *Usernames) SetUsername(ctx context.Context, id, old, new string, now, notBefore time.Time) (bool, error) {
	filter := bson.D{{Key: "username", Value: bson.D{{Key: "$exists", Value: false}}}}
	set := bson.D{{Key: "username", Value: new}}
	if old != "" {
		filter = bson.D{
			{Key: "username", Value: old},
			{Key: "$or", Value: bson.A{
				bson.D{{Key: fieldUsernameChangedAt, Value: bson.D{{Key: "$exists", Value: false}}}},
				bson.D{{Key: fieldUsernameChangedAt, Value: bson.D{{Key: "$lte", Value: notBefore.UTC()}}}},
			}},
		}
		set = append(set, bson.E{Key: fieldUsernameChangedAt, Value: now.UTC()})
	}
	matched, err := s.UpdateProjected(ctx, id, filter, set)
	if mongox.IsDuplicateKey(err) {
		return false, account.ErrUsernameTaken
	}
	return matched, err
}

// publicDoc is the part of an account document the public endpoints read.
type publicDoc struct {
	ID        string `bson:"_id"`
	Username  string `bson:"username"`
	Status    string `bson:"status"`
	FirstName string `bson:"firstName"`
	Profile   struct {
		DisplayName string `bson:"displayName"`
		AvatarURL   string `bson:"avatarUrl"`
	} `bson:"profile"`
}

var publicProjection = bson.D{
	{Key: "username", Value: 1}, {Key: "status", Value: 1}, {Key: "firstName", Value: 1},
	{Key: "profile.displayName", Value: 1}, {Key: "profile.avatarUrl", Value: 1},
}

func (d publicDoc) card() username.Card {
	return username.Card{ID: d.ID, Username: d.Username, DisplayName: d.Profile.DisplayName, AvatarURL: d.Profile.AvatarURL}
}

// PublicByUsername returns the public view of the account with the username.
func (s *Usernames) PublicByUsername(ctx context.Context, name string) (username.Public, error) {
	var d publicDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "username", Value: name}}, options.FindOne().SetProjection(publicProjection)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return username.Public{}, username.ErrNotFound
	}
	if err != nil {
		return username.Public{}, wrap("find public account", err)
	}
	return username.Public{Card: d.card(), Status: account.Status(d.Status), FirstName: d.FirstName}, nil
}

// Search returns visible accounts whose username or one of whose search terms starts with prefix.
// See EnsureUsernameIndexes for how the indexes serve it.
func (s *Usernames) Search(ctx context.Context, prefix string, skip, limit int) ([]username.Card, int, error) {
	anchored := primitive.Regex{Pattern: "^" + regexp.QuoteMeta(prefix)}
	filter := bson.D{
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "username", Value: anchored}},
			bson.D{{Key: fieldSearchTerms, Value: anchored}},
		}},
		// Only what lookup would show: active accounts done with primary onboarding.
		{Key: "status", Value: string(account.StatusActive)},
		{Key: "username", Value: bson.D{{Key: "$exists", Value: true}}},
		{Key: "firstName", Value: bson.D{{Key: "$exists", Value: true}}},
	}
	total, err := s.coll.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, wrap("count search results", err)
	}
	if total == 0 || int64(skip) >= total {
		return []username.Card{}, int(total), nil
	}
	out, err := findAll(ctx, s.coll, filter, options.Find().
		SetSort(bson.D{{Key: "username", Value: 1}}).SetSkip(int64(skip)).SetLimit(int64(limit)).SetProjection(publicProjection),
		"search results", publicDoc.card)
	if err != nil {
		return nil, 0, err
	}
	return out, int(total), nil
}
