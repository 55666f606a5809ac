// Package store keeps the identity service's data in MongoDB: accounts, OTP challenges, trusted
// devices (and which device each session started on), linked sign-in providers, throttle counters
// and API keys. It implements the store interfaces declared by the domain packages.
//
// Everything here also runs on FerretDB v1 (tests and `make run`), which has no TTL or partial
// indexes, collation, transactions or change streams. Hence: e-mail and username are stored
// lower-cased and made unique with sparse unique indexes; every query filters on expiry itself (a
// TTL index, where the server has one, only tidies up); every state change is one conditional
// single-document write.
package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// Collection names.
const (
	CollAccounts       = "accounts"
	CollChallenges     = "otp_challenges"
	CollTrustedDevices = "trusted_devices"
	CollThrottle       = "throttle"
	CollChallengeUses  = "otp_uses"
	CollProviders      = "linked_providers"
	CollDeviceSessions = "device_sessions"
	// CollCredentialClaims records credential transitions (one password hash to the next) so that of
	// concurrent changes exactly one wins.
	CollCredentialClaims = "credential_claims"
)

// ErrUnavailable marks errors caused by MongoDB being unreachable; handlers answer 503 for them.
var ErrUnavailable = errors.New("database unavailable")

// IsUnavailable reports whether err means MongoDB could not be reached (as opposed to a bug or a
// rejected write).
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || mongo.IsNetworkError(err) || mongo.IsTimeout(err) ||
		errors.Is(err, mongo.ErrClientDisconnected)
}

// wrap adds context to a driver error and tags outages with ErrUnavailable.
func wrap(op string, err error) error {
	if IsUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// findAll runs a find on coll and converts every document it returns with conv; what names the
// documents in errors ("trusted devices").
func findAll[D, T any](ctx context.Context, coll *mongo.Collection, filter bson.D, opts *options.FindOptions, what string, conv func(D) T) ([]T, error) {
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, wrap("find "+what, err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap("read "+what, err)
	}
	out := make([]T, len(docs))
	for i, d := range docs {
		out[i] = conv(d)
	}
	return out, nil
}

// EnsureIndexes creates the indexes of every collection of this package.
func EnsureIndexes(ctx context.Context, db *mongo.Database) error {
	sets := []struct {
		coll   string
		models []mongo.IndexModel
	}{
		{CollAccounts, []mongo.IndexModel{
			{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetName("email_unique").SetUnique(true).SetSparse(true)},
			{Keys: bson.D{{Key: "username", Value: 1}}, Options: options.Index().SetName("username_unique").SetUnique(true).SetSparse(true)},
			{Keys: bson.D{{Key: "phone", Value: 1}}, Options: options.Index().SetName("phone_unique").SetUnique(true).SetSparse(true)},
			{Keys: bson.D{{Key: "createdEventPending", Value: 1}, {Key: "createdAt", Value: 1}}, Options: options.Index().SetName("created_event_pending").SetSparse(true)},
			{Keys: bson.D{{Key: "snapshotPending", Value: 1}, {Key: "updatedAt", Value: 1}}, Options: options.Index().SetName("snapshot_pending").SetSparse(true)},
			{Keys: bson.D{{Key: "revokePending.orderedAt", Value: 1}}, Options: options.Index().SetName("revoke_pending").SetSparse(true)},
		}},
		{CollChallenges, []mongo.IndexModel{
			{Keys: bson.D{{Key: "tokenHash", Value: 1}}, Options: options.Index().SetName("token_hash").SetSparse(true)},
			// Tidying only: kept an hour past expiry so the resend cooldown outlives the code.
			{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(3600)},
		}},
		{CollChallengeUses, []mongo.IndexModel{
			{Keys: bson.D{{Key: "challengeId", Value: 1}, {Key: "kind", Value: 1}}, Options: options.Index().SetName("challenge_kind")},
			{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(3600)},
		}},
		{CollTrustedDevices, []mongo.IndexModel{
			{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "deviceId", Value: 1}}, Options: options.Index().SetName("account_device_unique").SetUnique(true)},
		}},
		{CollProviders, []mongo.IndexModel{
			{Keys: bson.D{{Key: "provider", Value: 1}, {Key: "subject", Value: 1}}, Options: options.Index().SetName("provider_subject_unique").SetUnique(true)},
			{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "provider", Value: 1}}, Options: options.Index().SetName("account_provider_unique").SetUnique(true)},
		}},
		{CollIDTokenUses, []mongo.IndexModel{
			{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(0)},
		}},
		{CollDeviceSessions, []mongo.IndexModel{
			{Keys: bson.D{{Key: "accountId", Value: 1}}, Options: options.Index().SetName("account")},
		}},
		{CollThrottle, []mongo.IndexModel{
			{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(0)},
		}},
		{CollAPIKeys, apiKeyIndexes},
	}
	for _, s := range sets {
		if err := mongox.EnsureIndexes(ctx, db.Collection(s.coll), s.models...); err != nil {
			return fmt.Errorf("indexes of %s: %w", s.coll, err)
		}
	}
	if err := NewAuthenticators(db).EnsureIndexes(ctx); err != nil {
		return err
	}
	if err := ensureTwoFactorIndexes(ctx, db); err != nil {
		return err
	}
	if err := ensureStepUpIndexes(ctx, db); err != nil {
		return err
	}
	return ensureRecoveryCodeIndexes(ctx, db)
}
