// Package store keeps the session service's data in MongoDB: sessions and signing keys.
//
// The code runs on MongoDB and on FerretDB v1 (tests, `make run`), so it relies on neither TTL indexes
// (queries filter on expiresAt themselves; the TTL index only tidies up where supported), nor
// transactions, nor update modifiers FerretDB ignores (such as $push's $slice): every state change is
// one conditional single-document write. Where two writers must not both succeed, the decision is a
// conditional FindOneAndUpdate on the session document (by _id and its current state): atomic on
// MongoDB, and on the embedded FerretDB too, whose write-serialising proxy (libs/devinfra/mongoserver)
// runs one write at a time.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// Legacy collections. Earlier versions made a refresh token single-use by inserting its hash into
// refresh_token_uses and recorded every revocation in session_revocations, because FerretDB's
// findAndModify was not atomic then. Nothing writes or reads them any more: the session document alone
// decides (see Rotate and Revoke). What they still hold expires by their TTL index on MongoDB and is
// erased with the account (EraseAccount).
const (
	legacyTokenUses   = "refresh_token_uses"
	legacyRevocations = "session_revocations"
)

// Sessions is the sessions collection (and, for erasure only, the legacy collections above).
type Sessions struct {
	coll        *mongo.Collection
	uses        *mongo.Collection
	revocations *mongo.Collection
}

// NewSessions returns the session store of db.
func NewSessions(db *mongo.Database) *Sessions {
	return &Sessions{coll: db.Collection("sessions"), uses: db.Collection(legacyTokenUses), revocations: db.Collection(legacyRevocations)}
}

// EnsureIndexes creates the indexes: sessions by account (listing an account's live sessions), and TTL
// indexes removing sessions, and the legacy token uses and revocations, once their session has expired
// (MongoDB only; FerretDB refuses TTL and mongox creates a plain index instead, which changes nothing
// the code relies on).
func (s *Sessions) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "revokedAt", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)},
	); err != nil {
		return err
	}
	for _, coll := range []*mongo.Collection{s.uses, s.revocations} {
		if err := mongox.EnsureIndexes(ctx, coll,
			mongo.IndexModel{Keys: bson.D{{Key: "keepUntil", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)},
		); err != nil {
			return err
		}
	}
	return nil
}

// sessionDoc is a session as stored. revokedAt is null (not absent) while the session is active, so
// the filter {revokedAt: null} reads the same on every server.
type sessionDoc struct {
	ID                   string     `bson:"_id"`
	AccountID            string     `bson:"accountId"`
	DeviceID             string     `bson:"deviceId"`
	DeviceName           string     `bson:"deviceName"`
	Platform             string     `bson:"platform"`
	Browser              string     `bson:"browser,omitempty"`
	OS                   string     `bson:"os,omitempty"`
	IPAddress            string     `bson:"ipAddress"`
	UserAgent            string     `bson:"userAgent"`
	Location             string     `bson:"location,omitempty"`
	CreatedAt            time.Time  `bson:"createdAt"`
	LastActiveAt         time.Time  `bson:"lastActiveAt"`
	ExpiresAt            time.Time  `bson:"expiresAt"`
	AbsoluteExpiresAt    time.Time  `bson:"absoluteExpiresAt"`
	RevokedAt            *time.Time `bson:"revokedAt"`
	RevokeReason         string     `bson:"revokeReason,omitempty"`
	RefreshHash          string     `bson:"refreshHash"`
	RotatedRefreshHashes []string   `bson:"rotatedRefreshHashes"`
	// The refresh grace (see session.Session): the replaced token's hash and the rotation's pair,
	// sealed under a key derived from that token (never the pair in clear).
	GraceHash   string     `bson:"graceHash,omitempty"`
	GraceSealed []byte     `bson:"graceSealed,omitempty"`
	GraceUntil  *time.Time `bson:"graceUntil,omitempty"`
	// How the session was authenticated (session.Assurance). Sessions stored before these were
	// recorded have none of them: they read as no amr, acr aal1 and the session's createdAt (the
	// sign-in that started it), which is true of every such session and claims nothing more.
	AMR      []string   `bson:"amr,omitempty"`
	ACR      string     `bson:"acr,omitempty"`
	AuthTime *time.Time `bson:"authTime,omitempty"`
}

func toDoc(s session.Session) sessionDoc {
	d := sessionDoc{
		ID: s.ID, AccountID: s.AccountID, DeviceID: s.DeviceID, DeviceName: s.DeviceName, Platform: s.Platform,
		Browser: s.Browser, OS: s.OS, Location: s.Location,
		IPAddress: s.IPAddress, UserAgent: s.UserAgent, CreatedAt: s.CreatedAt, LastActiveAt: s.LastActiveAt,
		ExpiresAt: s.ExpiresAt, AbsoluteExpiresAt: s.AbsoluteExpiresAt, RevokeReason: s.RevokeReason,
		RefreshHash: s.RefreshHash, RotatedRefreshHashes: s.RotatedRefreshHashes,
		GraceHash: s.GraceHash, GraceSealed: s.GraceSealed,
		AMR: s.Assurance.AMR, ACR: s.Assurance.ACR,
	}
	if !s.GraceUntil.IsZero() {
		until := s.GraceUntil
		d.GraceUntil = &until
	}
	if !s.Assurance.AuthTime.IsZero() {
		at := s.Assurance.AuthTime
		d.AuthTime = &at
	}
	if d.RotatedRefreshHashes == nil {
		d.RotatedRefreshHashes = []string{}
	}
	if !s.RevokedAt.IsZero() {
		at := s.RevokedAt
		d.RevokedAt = &at
	}
	return d
}

func (d sessionDoc) session() session.Session {
	s := session.Session{
		ID: d.ID, AccountID: d.AccountID, DeviceID: d.DeviceID, DeviceName: d.DeviceName, Platform: d.Platform,
		Browser: d.Browser, OS: d.OS, Location: d.Location,
		IPAddress: d.IPAddress, UserAgent: d.UserAgent, CreatedAt: d.CreatedAt.UTC(), LastActiveAt: d.LastActiveAt.UTC(),
		ExpiresAt: d.ExpiresAt.UTC(), AbsoluteExpiresAt: d.AbsoluteExpiresAt.UTC(), RevokeReason: d.RevokeReason,
		RefreshHash: d.RefreshHash, RotatedRefreshHashes: d.RotatedRefreshHashes,
		GraceHash: d.GraceHash, GraceSealed: d.GraceSealed,
	}
	if d.GraceUntil != nil {
		s.GraceUntil = d.GraceUntil.UTC()
	}
	s.Assurance = session.Assurance{AMR: d.AMR, ACR: d.ACR, AuthTime: s.CreatedAt}
	if s.Assurance.ACR == "" {
		s.Assurance.ACR = session.ACRSingleFactor
	}
	if d.AuthTime != nil {
		s.Assurance.AuthTime = d.AuthTime.UTC()
	}
	if d.RevokedAt != nil {
		s.RevokedAt = d.RevokedAt.UTC()
	}
	return s
}

// Insert stores a new session.
func (s *Sessions) Insert(ctx context.Context, sess session.Session) error {
	if _, err := s.coll.InsertOne(ctx, toDoc(sess)); err != nil {
		return classify(err)
	}
	return nil
}

// Get returns the session with the id, whatever its state.
func (s *Sessions) Get(ctx context.Context, id string) (session.Session, error) {
	raw, err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return session.Session{}, session.ErrNotFound
	}
	if err != nil {
		return session.Session{}, classify(err)
	}
	var d sessionDoc
	if err := decodeSessionDoc(raw, &d); err != nil {
		return session.Session{}, err
	}
	return d.session(), nil
}

// ListUnrevoked returns the account's sessions that are not revoked and whose expiresAt is after
// endedAfter, most recently active first, at most session.MaxListed of them.
func (s *Sessions) ListUnrevoked(ctx context.Context, accountID string, endedAfter time.Time) ([]session.Session, error) {
	filter := bson.D{
		{Key: "accountId", Value: accountID},
		{Key: "revokedAt", Value: nil},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: endedAfter}}},
	}
	opts := options.Find().SetSort(bson.D{{Key: "lastActiveAt", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(session.MaxListed).
		SetProjection(listedFields)
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, classify(err)
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	out := make([]session.Session, 0, cur.RemainingBatchLength())
	for cur.Next(ctx) {
		var d sessionDoc
		if err := decodeSessionDoc(cur.Current, &d); err != nil {
			return nil, err
		}
		out = append(out, d.session())
	}
	if err := cur.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// listedFields are the fields ListUnrevoked reads: what the session lists show (account API, AudioPod
// and internal lists) and the session's state. Refresh-token hashes and the grace pair stay in the
// database.
var listedFields = bson.D{
	{Key: "_id", Value: 1}, {Key: "accountId", Value: 1}, {Key: "deviceId", Value: 1}, {Key: "deviceName", Value: 1},
	{Key: "platform", Value: 1}, {Key: "browser", Value: 1}, {Key: "os", Value: 1}, {Key: "ipAddress", Value: 1},
	{Key: "userAgent", Value: 1}, {Key: "location", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "lastActiveAt", Value: 1},
	{Key: "expiresAt", Value: 1}, {Key: "absoluteExpiresAt", Value: 1}, {Key: "revokedAt", Value: 1},
	{Key: "amr", Value: 1}, {Key: "acr", Value: 1}, {Key: "authTime", Value: 1},
}

// UpdateDevice sets the device fields of the account's session while it is unrevoked and unexpired
// at now, and returns the updated session; session.ErrNotFound otherwise. Empty values in dev keep
// the stored ones, except UserAgent, Browser and OS, which always describe the latest client.
func (s *Sessions) UpdateDevice(ctx context.Context, id, accountID string, dev session.Session, now time.Time) (session.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id},
		{Key: "accountId", Value: accountID},
		{Key: "revokedAt", Value: nil},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now}}},
	}
	set := bson.D{
		{Key: "userAgent", Value: dev.UserAgent},
		{Key: "browser", Value: dev.Browser},
		{Key: "os", Value: dev.OS},
		{Key: "lastActiveAt", Value: now},
	}
	for _, f := range []struct{ key, value string }{
		{"deviceId", dev.DeviceID}, {"deviceName", dev.DeviceName}, {"platform", dev.Platform},
		{"ipAddress", dev.IPAddress}, {"location", dev.Location},
	} {
		if f.value != "" {
			set = append(set, bson.E{Key: f.key, Value: f.value})
		}
	}
	return s.findOneAndUpdate(ctx, filter, bson.D{{Key: "$set", Value: set}}, session.ErrNotFound)
}

// Touch sets the session's lastActiveAt to now if it is at or before staleBefore and the session is not
// revoked. It reports whether it wrote. One conditional update: replicas touching at once write once
// or twice, not once per request.
func (s *Sessions) Touch(ctx context.Context, id string, now, staleBefore time.Time) (bool, error) {
	res, err := s.coll.UpdateOne(ctx, bson.D{
		{Key: "_id", Value: id},
		{Key: "revokedAt", Value: nil},
		{Key: "lastActiveAt", Value: bson.D{{Key: "$lte", Value: staleBefore}}},
	}, bson.D{{Key: "$set", Value: bson.D{{Key: "lastActiveAt", Value: now}}}})
	if err != nil {
		return false, classify(err)
	}
	return res.ModifiedCount > 0, nil
}

// Rotate claims the refresh token and rotates it in one conditional single-document update: it
// replaces the refresh-token hash, the used hashes and the refresh grace only while the session still
// holds the old hash, is not revoked and has not expired. Of refreshes racing with one token exactly
// one succeeds; the others, and a refresh racing a revocation that landed first, get
// session.ErrConflict. An update rather than a findAndModify: the caller read the session and knows
// what it wrote, so the document (with its used hashes and sealed pair) need not come back.
func (s *Sessions) Rotate(ctx context.Context, r session.Rotation) error {
	filter := bson.D{
		{Key: "_id", Value: r.SessionID},
		{Key: "refreshHash", Value: r.OldHash},
		{Key: "revokedAt", Value: nil},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: r.Now}}},
		{Key: "absoluteExpiresAt", Value: bson.D{{Key: "$gt", Value: r.Now}}},
	}
	set := bson.D{
		{Key: "refreshHash", Value: r.NewHash},
		{Key: "rotatedRefreshHashes", Value: r.Rotated},
		{Key: "lastActiveAt", Value: r.Now},
		{Key: "expiresAt", Value: r.ExpiresAt},
	}
	if len(r.GraceSealed) > 0 {
		set = append(set, bson.E{Key: "graceHash", Value: r.GraceHash}, bson.E{Key: "graceSealed", Value: r.GraceSealed},
			bson.E{Key: "graceUntil", Value: r.GraceUntil})
	} else {
		// No grace for this rotation: an older sealed pair must not outlive the token it belongs to.
		set = append(set, bson.E{Key: "graceHash", Value: ""}, bson.E{Key: "graceSealed", Value: []byte{}})
	}
	if r.IPAddress != "" {
		set = append(set, bson.E{Key: "ipAddress", Value: r.IPAddress})
	}
	if r.Location != "" {
		set = append(set, bson.E{Key: "location", Value: r.Location})
	}
	res, err := s.coll.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return classify(err)
	}
	if res.MatchedCount == 0 {
		return session.ErrConflict
	}
	return nil
}

// Revoke revokes the account's session unless it already is (then session.ErrNotFound, as for a
// session that does not exist or is another account's: one account cannot touch another's sessions).
// One conditional FindOneAndUpdate ({_id, accountId, revokedAt: null}) is the decision: of concurrent
// revocations exactly one succeeds, and a refresh racing it either rotated before (its new token is
// then refused: the session is revoked) or finds the session revoked and rotates nothing.
func (s *Sessions) Revoke(ctx context.Context, id, accountID, reason string, at time.Time) (session.Session, error) {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "accountId", Value: accountID}, {Key: "revokedAt", Value: nil}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "revokedAt", Value: at}, {Key: "revokeReason", Value: reason}}}}
	return s.findOneAndUpdate(ctx, filter, update, session.ErrNotFound)
}

func (s *Sessions) findOneAndUpdate(ctx context.Context, filter, update bson.D, notMatched error) (session.Session, error) {
	var d sessionDoc
	err := s.coll.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return session.Session{}, notMatched
	}
	if err != nil {
		return session.Session{}, classify(err)
	}
	return d.session(), nil
}

// classify marks errors of an unreachable database as session.ErrUnavailable, so the API answers 503
// rather than 500.
func classify(err error) error {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return fmt.Errorf("%w: %w", session.ErrUnavailable, err)
	}
	return err
}
