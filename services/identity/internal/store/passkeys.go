package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
)

// Collections of passkeys: the credentials, each account's WebAuthn user handle (_id the account id,
// the handle unique), and the ceremonies begun (_id the ceremony key; every read checks expiry and
// use itself, the TTL index only tidies up where the server has one).
const (
	CollPasskeys          = "passkeys"
	CollPasskeyUsers      = "passkey_users"
	CollPasskeyCeremonies = "passkey_ceremonies"
)

// Passkeys keeps passkeys, user handles and ceremonies (passkey.Store).
type Passkeys struct {
	creds, users, ceremonies *mongo.Collection
}

// NewPasskeys returns the passkey store of db.
func NewPasskeys(db *mongo.Database) *Passkeys {
	return &Passkeys{creds: db.Collection(CollPasskeys), users: db.Collection(CollPasskeyUsers), ceremonies: db.Collection(CollPasskeyCeremonies)}
}

// EnsureIndexes creates the collections' indexes.
func (s *Passkeys) EnsureIndexes(ctx context.Context) error {
	sets := []struct {
		coll   *mongo.Collection
		models []mongo.IndexModel
	}{
		{s.creds, []mongo.IndexModel{
			{Keys: bson.D{{Key: "credentialId", Value: 1}}, Options: options.Index().SetName("credential_id_unique").SetUnique(true)},
			{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "createdAt", Value: 1}}, Options: options.Index().SetName("account")},
		}},
		{s.users, []mongo.IndexModel{
			{Keys: bson.D{{Key: "handle", Value: 1}}, Options: options.Index().SetName("handle_unique").SetUnique(true)},
		}},
		{s.ceremonies, []mongo.IndexModel{
			{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(3600)},
		}},
	}
	for _, set := range sets {
		if err := mongox.EnsureIndexes(ctx, set.coll, set.models...); err != nil {
			return wrap("indexes of "+set.coll.Name(), err)
		}
	}
	return nil
}

type passkeyDoc struct {
	ID                string     `bson:"_id"`
	AccountID         string     `bson:"accountId"`
	CredentialID      []byte     `bson:"credentialId"`
	PublicKey         []byte     `bson:"publicKey"`
	SignCount         int64      `bson:"signCount"`
	AAGUID            []byte     `bson:"aaguid,omitempty"`
	Transports        []string   `bson:"transports,omitempty"`
	Flags             int32      `bson:"flags"`
	BackupEligible    bool       `bson:"backupEligible"`
	BackupState       bool       `bson:"backupState"`
	UserVerified      bool       `bson:"userVerified"`
	AttestationType   string     `bson:"attestationType,omitempty"`
	AttestationFormat string     `bson:"attestationFormat,omitempty"`
	Name              string     `bson:"name"`
	CreatedAt         time.Time  `bson:"createdAt"`
	LastUsedAt        *time.Time `bson:"lastUsedAt,omitempty"`
	CloneDetectedAt   *time.Time `bson:"cloneDetectedAt,omitempty"`
}

func (d passkeyDoc) credential() passkey.Credential {
	c := passkey.Credential{
		ID: d.ID, AccountID: d.AccountID, CredentialID: d.CredentialID, PublicKey: d.PublicKey, SignCount: uint32(d.SignCount),
		AAGUID: d.AAGUID, Transports: d.Transports, Flags: byte(d.Flags), BackupEligible: d.BackupEligible,
		BackupState: d.BackupState, UserVerified: d.UserVerified, AttestationType: d.AttestationType,
		AttestationFormat: d.AttestationFormat, Name: d.Name, CreatedAt: d.CreatedAt,
	}
	if d.LastUsedAt != nil {
		c.LastUsedAt = *d.LastUsedAt
	}
	if d.CloneDetectedAt != nil {
		c.CloneDetectedAt = *d.CloneDetectedAt
	}
	return c
}

func passkeyFilter(accountID, id string) bson.D {
	return bson.D{{Key: "_id", Value: id}, {Key: "accountId", Value: accountID}}
}

type passkeyUserDoc struct {
	AccountID string `bson:"_id"`
	Handle    []byte `bson:"handle"`
}

// UserHandle returns the account's user handle, storing candidate when it has none.
func (s *Passkeys) UserHandle(ctx context.Context, accountID string, candidate []byte) ([]byte, error) {
	var d passkeyUserDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d)
	if err == nil {
		return d.Handle, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, wrap("find passkey user", err)
	}
	_, err = s.users.InsertOne(ctx, passkeyUserDoc{AccountID: accountID, Handle: candidate})
	if err == nil {
		return candidate, nil
	}
	if !mongox.IsDuplicateKey(err) {
		return nil, wrap("insert passkey user", err)
	}
	// A concurrent first use stored its handle: that one is the account's.
	if err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d); err != nil {
		return nil, wrap("find passkey user", err)
	}
	return d.Handle, nil
}

// AccountByHandle returns the account of a user handle, or passkey.ErrNotFound.
func (s *Passkeys) AccountByHandle(ctx context.Context, handle []byte) (string, error) {
	var d passkeyUserDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "handle", Value: handle}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", passkey.ErrNotFound
	}
	if err != nil {
		return "", wrap("find passkey user by handle", err)
	}
	return d.AccountID, nil
}

// List returns the account's passkeys, oldest first.
func (s *Passkeys) List(ctx context.Context, accountID string) ([]passkey.Credential, error) {
	return findAll(ctx, s.creds, bson.D{{Key: "accountId", Value: accountID}},
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}), "passkeys", passkeyDoc.credential)
}

// Count returns how many usable passkeys the account has (not flagged as cloned).
func (s *Passkeys) Count(ctx context.Context, accountID string) (int, error) {
	n, err := s.creds.CountDocuments(ctx, bson.D{{Key: "accountId", Value: accountID}, {Key: "cloneDetectedAt", Value: bson.D{{Key: "$exists", Value: false}}}})
	if err != nil {
		return 0, wrap("count passkeys", err)
	}
	return int(n), nil
}

// Insert stores c; passkey.ErrAlreadyRegistered when its credential id is stored.
func (s *Passkeys) Insert(ctx context.Context, c passkey.Credential) error {
	d := passkeyDoc{
		ID: c.ID, AccountID: c.AccountID, CredentialID: c.CredentialID, PublicKey: c.PublicKey, SignCount: int64(c.SignCount),
		AAGUID: c.AAGUID, Transports: c.Transports, Flags: int32(c.Flags), BackupEligible: c.BackupEligible,
		BackupState: c.BackupState, UserVerified: c.UserVerified, AttestationType: c.AttestationType,
		AttestationFormat: c.AttestationFormat, Name: c.Name, CreatedAt: c.CreatedAt.UTC(),
	}
	_, err := s.creds.InsertOne(ctx, d)
	if mongox.IsDuplicateKey(err) {
		return passkey.ErrAlreadyRegistered
	}
	if err != nil {
		return wrap("insert passkey", err)
	}
	return nil
}

// Rename sets the name of the account's passkey id.
func (s *Passkeys) Rename(ctx context.Context, accountID, id, name string) (passkey.Credential, error) {
	var d passkeyDoc
	err := s.creds.FindOneAndUpdate(ctx, passkeyFilter(accountID, id), bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: name}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return passkey.Credential{}, passkey.ErrNotFound
	}
	if err != nil {
		return passkey.Credential{}, wrap("rename passkey", err)
	}
	return d.credential(), nil
}

// Delete removes the account's passkey id and returns it.
func (s *Passkeys) Delete(ctx context.Context, accountID, id string) (passkey.Credential, error) {
	var d passkeyDoc
	err := s.creds.FindOneAndDelete(ctx, passkeyFilter(accountID, id)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return passkey.Credential{}, passkey.ErrNotFound
	}
	if err != nil {
		return passkey.Credential{}, wrap("delete passkey", err)
	}
	return d.credential(), nil
}

// RecordUse stores an assertion's counter, flags and time while the counter is still prevCount and no
// clone was detected.
func (s *Passkeys) RecordUse(ctx context.Context, accountID, id string, prevCount, count uint32, flags byte, at time.Time) (bool, error) {
	filter := append(passkeyFilter(accountID, id),
		bson.E{Key: "signCount", Value: int64(prevCount)},
		bson.E{Key: "cloneDetectedAt", Value: bson.D{{Key: "$exists", Value: false}}})
	backupState := flags&0x10 != 0 // BS
	res, err := s.creds.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "signCount", Value: int64(count)}, {Key: "flags", Value: int32(flags)},
		{Key: "backupState", Value: backupState}, {Key: "lastUsedAt", Value: at.UTC()},
	}}})
	if err != nil {
		return false, wrap("record passkey use", err)
	}
	return res.MatchedCount == 1, nil
}

// FlagClone marks the account's passkey id as cloned.
func (s *Passkeys) FlagClone(ctx context.Context, accountID, id string, at time.Time) error {
	_, err := s.creds.UpdateOne(ctx, passkeyFilter(accountID, id), bson.D{{Key: "$set", Value: bson.D{{Key: "cloneDetectedAt", Value: at.UTC()}}}})
	if err != nil {
		return wrap("flag cloned passkey", err)
	}
	return nil
}

type passkeyCeremonyDoc struct {
	Key       string     `bson:"_id"`
	Kind      string     `bson:"kind"`
	AccountID string     `bson:"accountId,omitempty"`
	Session   []byte     `bson:"session"`
	ExpiresAt time.Time  `bson:"expiresAt"`
	UsedAt    *time.Time `bson:"usedAt,omitempty"`
}

// PutCeremony stores c, replacing the ceremony of the same key (a newer begin wins).
func (s *Passkeys) PutCeremony(ctx context.Context, c passkey.Ceremony) error {
	_, err := s.ceremonies.ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.Key}},
		passkeyCeremonyDoc{Key: c.Key, Kind: c.Kind, AccountID: c.AccountID, Session: c.Session, ExpiresAt: c.ExpiresAt.UTC()},
		options.Replace().SetUpsert(true))
	if err != nil {
		return wrap("store passkey ceremony", err)
	}
	return nil
}

// TakeCeremony consumes the unexpired, unused ceremony of key and kind (one conditional write).
func (s *Passkeys) TakeCeremony(ctx context.Context, key, kind string, now time.Time) (passkey.Ceremony, error) {
	var d passkeyCeremonyDoc
	err := s.ceremonies.FindOneAndUpdate(ctx, bson.D{
		{Key: "_id", Value: key}, {Key: "kind", Value: kind},
		{Key: "usedAt", Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now.UTC()}}},
	}, bson.D{{Key: "$set", Value: bson.D{{Key: "usedAt", Value: now.UTC()}}}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return passkey.Ceremony{}, passkey.ErrInvalid
	}
	if err != nil {
		return passkey.Ceremony{}, wrap("take passkey ceremony", err)
	}
	return passkey.Ceremony{Key: d.Key, Kind: d.Kind, AccountID: d.AccountID, Session: d.Session, ExpiresAt: d.ExpiresAt}, nil
}
