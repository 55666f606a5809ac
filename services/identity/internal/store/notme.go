package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// Collections of "this wasn't me" (auth/notme.go): the links of security alerts (by the SHA-256 of
// the token as _id, with accountId), their single-use claims (by the same _id), and the results of
// reports (by accountId + "|" + report key, with accountId). All three are erased with the account.
const (
	CollNotMeLinks    = "not_me_links"
	CollNotMeLinkUses = "not_me_link_uses"
	CollNotMeReports  = "not_me_reports"
	notMeByAccount    = "account"
)

// FieldPasswordResetRequired is the account field "this wasn't me" sets and every new password clears.
const FieldPasswordResetRequired = "passwordResetRequired"

// NotMe keeps the links and reports of "this wasn't me" and sets the password-reset demand
// (auth.NotMeStore).
type NotMe struct {
	accounts, links, uses, reports, deviceSessions *mongo.Collection
}

// NewNotMe returns the "this wasn't me" store of db.
func NewNotMe(db *mongo.Database) *NotMe {
	return &NotMe{accounts: db.Collection(CollAccounts), links: db.Collection(CollNotMeLinks),
		uses: db.Collection(CollNotMeLinkUses), reports: db.Collection(CollNotMeReports),
		deviceSessions: db.Collection(CollDeviceSessions)}
}

// EnsureIndexes creates the collections' indexes: expiry tidying of links (TTL where the server has
// it; every read checks expiry itself) and the account index the erasure of an account uses.
func (s *NotMe) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, s.links,
		mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(3600)},
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}}, Options: options.Index().SetName(notMeByAccount)}); err != nil {
		return wrap("indexes of "+CollNotMeLinks, err)
	}
	if err := mongox.EnsureIndexes(ctx, s.reports,
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}}, Options: options.Index().SetName(notMeByAccount)}); err != nil {
		return wrap("indexes of "+CollNotMeReports, err)
	}
	return nil
}

// RequirePasswordReset sets the account's passwordResetRequired (one write); false: no such account.
func (s *NotMe) RequirePasswordReset(ctx context.Context, accountID string, at time.Time) (bool, error) {
	res, err := s.accounts.UpdateOne(ctx, bson.D{{Key: "_id", Value: accountID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: FieldPasswordResetRequired, Value: true}, {Key: "updatedAt", Value: at.UTC()}}}})
	if err != nil {
		return false, wrap("require password reset", err)
	}
	return res.MatchedCount > 0, nil
}

type notMeReportDoc struct {
	ID                    string    `bson:"_id"`
	AccountID             string    `bson:"accountId"`
	SessionEnded          bool      `bson:"sessionEnded"`
	DeviceForgotten       bool      `bson:"deviceForgotten"`
	APIKeysRevoked        int       `bson:"apiKeysRevoked"`
	PasswordResetRequired bool      `bson:"passwordResetRequired"`
	At                    time.Time `bson:"at"`
}

func reportID(accountID, key string) string { return accountID + "|" + key }

// NotMeReport returns the stored result of the account's report key.
func (s *NotMe) NotMeReport(ctx context.Context, accountID, key string) (auth.NotMeResult, bool, error) {
	var d notMeReportDoc
	err := s.reports.FindOne(ctx, bson.D{{Key: "_id", Value: reportID(accountID, key)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return auth.NotMeResult{}, false, nil
	}
	if err != nil {
		return auth.NotMeResult{}, false, wrap("find not-me report", err)
	}
	return auth.NotMeResult{SessionEnded: d.SessionEnded, DeviceForgotten: d.DeviceForgotten,
		APIKeysRevoked: d.APIKeysRevoked, PasswordResetRequired: d.PasswordResetRequired}, true, nil
}

// SaveNotMeReport stores a report's result; the unique _id makes the first of concurrent reports
// win (false for the others).
func (s *NotMe) SaveNotMeReport(ctx context.Context, accountID, key string, r auth.NotMeResult, at time.Time) (bool, error) {
	_, err := s.reports.InsertOne(ctx, notMeReportDoc{ID: reportID(accountID, key), AccountID: accountID,
		SessionEnded: r.SessionEnded, DeviceForgotten: r.DeviceForgotten, APIKeysRevoked: r.APIKeysRevoked,
		PasswordResetRequired: r.PasswordResetRequired, At: at.UTC()})
	if mongox.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("save not-me report", err)
	}
	return true, nil
}

type notMeLinkDoc struct {
	Hash      string     `bson:"_id"`
	AccountID string     `bson:"accountId"`
	Kind      string     `bson:"kind"`
	SessionID string     `bson:"sessionId,omitempty"`
	DeviceID  string     `bson:"deviceId,omitempty"`
	IssuedAt  time.Time  `bson:"issuedAt"`
	ExpiresAt time.Time  `bson:"expiresAt"`
	UsedAt    *time.Time `bson:"usedAt,omitempty"`
}

// InsertNotMeLink stores l.
func (s *NotMe) InsertNotMeLink(ctx context.Context, l auth.NotMeLink) error {
	_, err := s.links.InsertOne(ctx, notMeLinkDoc{Hash: l.Hash, AccountID: l.AccountID, Kind: l.Kind, SessionID: l.SessionID,
		DeviceID: l.DeviceID, IssuedAt: l.IssuedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC()})
	if err != nil {
		return wrap("insert not-me link", err)
	}
	return nil
}

// NotMeLinkByHash returns the link with the hash, or auth.ErrNotMeLinkInvalid; a claimed one comes
// with UsedAt set.
func (s *NotMe) NotMeLinkByHash(ctx context.Context, hash string) (auth.NotMeLink, error) {
	var d notMeLinkDoc
	err := s.links.FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return auth.NotMeLink{}, auth.ErrNotMeLinkInvalid
	}
	if err != nil {
		return auth.NotMeLink{}, wrap("find not-me link", err)
	}
	l := auth.NotMeLink{Hash: d.Hash, AccountID: d.AccountID, Kind: d.Kind, SessionID: d.SessionID, DeviceID: d.DeviceID,
		IssuedAt: d.IssuedAt, ExpiresAt: d.ExpiresAt, UsedAt: fromOpt(d.UsedAt)}
	if l.UsedAt.IsZero() {
		if l.UsedAt, err = usedAt(ctx, s.uses, hash, "not-me link"); err != nil {
			return auth.NotMeLink{}, err
		}
	}
	return l, nil
}

// ClaimNotMeLink records the single use of the link. The claim is an insert into a unique _id
// (atomic on FerretDB and MongoDB alike): of concurrent claims exactly one wins.
func (s *NotMe) ClaimNotMeLink(ctx context.Context, hash string, at time.Time) (bool, error) {
	return claimOnce(ctx, s.uses, s.links, hash, at, "not-me link")
}

// ReleaseNotMeLink gives a claim back.
func (s *NotMe) ReleaseNotMeLink(ctx context.Context, hash string) error {
	if _, err := s.links.UpdateOne(ctx, bson.D{{Key: "_id", Value: hash}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "usedAt", Value: ""}}}}); err != nil {
		return wrap("release not-me link", err)
	}
	if _, err := s.uses.DeleteOne(ctx, bson.D{{Key: "_id", Value: hash}}); err != nil {
		return wrap("release not-me link", err)
	}
	return nil
}

// SessionsOnDevice lists the account's sessions recorded (device_sessions) on deviceID at or after since.
func (s *NotMe) SessionsOnDevice(ctx context.Context, accountID, deviceID string, since time.Time) ([]string, error) {
	cur, err := s.deviceSessions.Find(ctx, bson.D{{Key: "accountId", Value: accountID}, {Key: "deviceId", Value: deviceID},
		{Key: "at", Value: bson.D{{Key: "$gte", Value: since.UTC()}}}})
	if err != nil {
		return nil, wrap("find sessions of device", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap("read sessions of device", err)
	}
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out, nil
}

// EraseAccount deletes accountID's "this wasn't me" links (with their uses) and reports (account
// deletion; auth.AccountEraser). A use is keyed by its link's hash, found through the link.
func (s *NotMe) EraseAccount(ctx context.Context, accountID string) error {
	cur, err := s.links.Find(ctx, bson.D{{Key: "accountId", Value: accountID}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return wrap("find not-me links", err)
	}
	var links []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &links); err != nil {
		return wrap("read not-me links", err)
	}
	if len(links) > 0 {
		hashes := make(bson.A, len(links))
		for i, l := range links {
			hashes[i] = l.ID
		}
		if _, err := s.uses.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: hashes}}}}); err != nil {
			return wrap("erase not-me link uses", err)
		}
	}
	if _, err := s.links.DeleteMany(ctx, bson.D{{Key: "accountId", Value: accountID}}); err != nil {
		return wrap("erase not-me links", err)
	}
	if _, err := s.reports.DeleteMany(ctx, bson.D{{Key: "accountId", Value: accountID}}); err != nil {
		return wrap("erase not-me reports", err)
	}
	return nil
}
