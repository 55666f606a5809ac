package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/device"
)

// Devices is the trusted_devices collection, unique on (accountId, deviceId), and the
// device_sessions collection, which remembers the device each session was started on.
type Devices struct {
	coll     *mongo.Collection
	sessions *mongo.Collection
}

// NewDevices returns the trusted-device store of db.
func NewDevices(db *mongo.Database) *Devices {
	return &Devices{coll: db.Collection(CollTrustedDevices), sessions: db.Collection(CollDeviceSessions)}
}

type deviceDoc struct {
	ID         string    `bson:"_id"`
	AccountID  string    `bson:"accountId"`
	DeviceID   string    `bson:"deviceId"`
	DeviceName string    `bson:"deviceName,omitempty"`
	Platform   string    `bson:"platform,omitempty"`
	CreatedAt  time.Time `bson:"createdAt"`
	LastUsedAt time.Time `bson:"lastUsedAt"`
	LastIP     string    `bson:"lastIp,omitempty"`
	UserAgent  string    `bson:"userAgent,omitempty"`
	LoginCount int       `bson:"loginCount,omitempty"`
	// Of the latest sign-in.
	LastLocation    string `bson:"lastLocation,omitempty"`
	LastLoginMethod string `bson:"lastLoginMethod,omitempty"`
	Timezone        string `bson:"timezone,omitempty"`
	// Set when the owner revoked the device; a revoked device is kept but no longer trusted.
	RevokedAt *time.Time `bson:"revokedAt,omitempty"`
}

func (d deviceDoc) device() device.TrustedDevice {
	out := device.TrustedDevice{ID: d.ID, AccountID: d.AccountID, DeviceID: d.DeviceID, DeviceName: d.DeviceName,
		Platform: d.Platform, CreatedAt: d.CreatedAt, LastUsedAt: d.LastUsedAt, LastIP: d.LastIP,
		UserAgent: d.UserAgent, LoginCount: d.LoginCount, LastLocation: d.LastLocation,
		LastLoginMethod: d.LastLoginMethod, Timezone: d.Timezone}
	if d.RevokedAt != nil {
		out.RevokedAt = *d.RevokedAt
	}
	return out
}

// deviceFilter matches the account's device whether trusted or revoked (the unique key).
func deviceFilter(accountID, deviceID string) bson.D {
	return bson.D{{Key: "accountId", Value: accountID}, {Key: "deviceId", Value: deviceID}}
}

// notRevoked limits a filter to trusted (not revoked) devices.
var notRevoked = bson.E{Key: "revokedAt", Value: bson.D{{Key: "$exists", Value: false}}}

// trustedFilter matches the account's device while it is trusted.
func trustedFilter(accountID, deviceID string) bson.D {
	return append(deviceFilter(accountID, deviceID), notRevoked)
}

// Find returns the trusted device, or device.ErrNotFound.
func (s *Devices) Find(ctx context.Context, accountID, deviceID string) (device.TrustedDevice, error) {
	if deviceID == "" {
		return device.TrustedDevice{}, device.ErrNotFound
	}
	var d deviceDoc
	err := s.coll.FindOne(ctx, trustedFilter(accountID, deviceID)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return device.TrustedDevice{}, device.ErrNotFound
	}
	if err != nil {
		return device.TrustedDevice{}, wrap("find trusted device", err)
	}
	return d.device(), nil
}

// Trust inserts d, or — when the account already trusts the device — refreshes its lastUsedAt and,
// when given, its name and platform. It returns the stored device.
func (s *Devices) Trust(ctx context.Context, d device.TrustedDevice) (device.TrustedDevice, error) {
	set := bson.D{{Key: "lastUsedAt", Value: d.LastUsedAt.UTC()}}
	if d.DeviceName != "" {
		set = append(set, bson.E{Key: "deviceName", Value: d.DeviceName})
	}
	if d.Platform != "" {
		set = append(set, bson.E{Key: "platform", Value: d.Platform})
	}
	if d.Timezone != "" {
		set = append(set, bson.E{Key: "timezone", Value: d.Timezone})
	}
	// Trusting a revoked device again makes it trusted (same key id).
	update := bson.D{
		{Key: "$set", Value: set},
		{Key: "$unset", Value: bson.D{{Key: "revokedAt", Value: ""}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "_id", Value: d.ID}, {Key: "createdAt", Value: d.CreatedAt.UTC()}}},
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	var out deviceDoc
	err := s.coll.FindOneAndUpdate(ctx, deviceFilter(d.AccountID, d.DeviceID), update, opts).Decode(&out)
	if mongox.IsDuplicateKey(err) { // a concurrent Trust inserted it first: update that one
		err = s.coll.FindOneAndUpdate(ctx, deviceFilter(d.AccountID, d.DeviceID), bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "revokedAt", Value: ""}}}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&out)
	}
	if err != nil {
		return device.TrustedDevice{}, wrap("trust device", err)
	}
	return out.device(), nil
}

// Touch sets the device's lastUsedAt.
func (s *Devices) Touch(ctx context.Context, accountID, deviceID string, at time.Time) error {
	_, err := s.coll.UpdateOne(ctx, trustedFilter(accountID, deviceID),
		bson.D{{Key: "$set", Value: bson.D{{Key: "lastUsedAt", Value: at.UTC()}}}})
	if err != nil {
		return wrap("touch trusted device", err)
	}
	return nil
}

// List returns the account's trusted devices, most recently used first.
func (s *Devices) List(ctx context.Context, accountID string) ([]device.TrustedDevice, error) {
	return s.ListAll(ctx, accountID, false)
}

// ListAll returns the account's trusted devices, and the revoked ones too when withRevoked, most
// recently used first.
func (s *Devices) ListAll(ctx context.Context, accountID string, withRevoked bool) ([]device.TrustedDevice, error) {
	filter := bson.D{{Key: "accountId", Value: accountID}}
	if !withRevoked {
		filter = append(filter, notRevoked)
	}
	return findAll(ctx, s.coll, filter,
		options.Find().SetSort(bson.D{{Key: "lastUsedAt", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(500), "trusted devices", deviceDoc.device)
}

// Revoke ends the trust in the account's device whose key id is id (the device is kept, marked
// revoked); device.ErrNotFound when the account has no trusted device with that id (including
// another account's device, and one already revoked).
func (s *Devices) Revoke(ctx context.Context, accountID, id string) error {
	res, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "accountId", Value: accountID}, notRevoked},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revokedAt", Value: time.Now().UTC()}}}})
	if err != nil {
		return wrap("revoke trusted device", err)
	}
	if res.MatchedCount == 0 {
		return device.ErrNotFound
	}
	return nil
}

// RecordSignIn remembers that session in.SessionID of the account started on in.DeviceID, and —
// when the device is trusted — counts the sign-in and keeps its address, user agent, location,
// method and the client's time zone.
func (s *Devices) RecordSignIn(ctx context.Context, in device.SignIn) error {
	accountID, deviceID, at := in.AccountID, in.DeviceID, in.At
	_, err := s.sessions.ReplaceOne(ctx, bson.D{{Key: "_id", Value: in.SessionID}},
		bson.D{{Key: "_id", Value: in.SessionID}, {Key: "accountId", Value: accountID}, {Key: "deviceId", Value: deviceID}, {Key: "at", Value: at.UTC()}},
		options.Replace().SetUpsert(true))
	if err != nil {
		return wrap("record session device", err)
	}
	set := bson.D{{Key: "lastUsedAt", Value: at.UTC()}}
	for _, f := range []struct{ key, value string }{
		{"lastIp", in.IP}, {"userAgent", in.UserAgent}, {"lastLocation", in.Location},
		{"lastLoginMethod", in.Method}, {"timezone", in.Timezone},
	} {
		if f.value != "" {
			set = append(set, bson.E{Key: f.key, Value: f.value})
		}
	}
	_, err = s.coll.UpdateOne(ctx, trustedFilter(accountID, deviceID),
		bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "loginCount", Value: 1}}}})
	if err != nil {
		return wrap("count device sign-in", err)
	}
	return nil
}

// SessionDevice returns the device id the account's session started on, or device.ErrNotFound.
func (s *Devices) SessionDevice(ctx context.Context, accountID, sessionID string) (string, error) {
	var d struct {
		DeviceID string `bson:"deviceId"`
	}
	err := s.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: sessionID}, {Key: "accountId", Value: accountID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", device.ErrNotFound
	}
	if err != nil {
		return "", wrap("find session device", err)
	}
	return d.DeviceID, nil
}

// Count returns how many devices the account trusts.
func (s *Devices) Count(ctx context.Context, accountID string) (int, error) {
	n, err := s.coll.CountDocuments(ctx, bson.D{{Key: "accountId", Value: accountID}, notRevoked})
	if err != nil {
		return 0, wrap("count trusted devices", err)
	}
	return int(n), nil
}
