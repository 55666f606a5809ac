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

// CollTwoFactorChallenges keeps the sign-ins waiting for their second factor (auth.TwoFactorChallenge),
// _id the challenge id, found by the SHA-256 of their token. Their tries and single answer are slot
// inserts into otp_uses (challengeId "tfa:<id>"), atomic on FerretDB too.
const CollTwoFactorChallenges = "two_factor_challenges"

func ensureTwoFactorIndexes(ctx context.Context, db *mongo.Database) error {
	err := mongox.EnsureIndexes(ctx, db.Collection(CollTwoFactorChallenges),
		mongo.IndexModel{Keys: bson.D{{Key: "tokenHash", Value: 1}}, Options: options.Index().SetName("token_hash").SetUnique(true)},
		mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(3600)})
	if err != nil {
		return wrap("indexes of "+CollTwoFactorChallenges, err)
	}
	return nil
}

type twoFactorDoc struct {
	ID              string     `bson:"_id"`
	TokenHash       string     `bson:"tokenHash"`
	AccountID       string     `bson:"accountId"`
	DeviceID        string     `bson:"deviceId,omitempty"`
	FirstFactor     string     `bson:"firstFactor"`
	SignInMethod    string     `bson:"signInMethod,omitempty"`
	Methods         []string   `bson:"methods"`
	CodeChannel     string     `bson:"codeChannel,omitempty"`
	CodeDestination string     `bson:"codeDestination,omitempty"`
	IssuedAt        time.Time  `bson:"issuedAt"`
	ExpiresAt       time.Time  `bson:"expiresAt"`
	ConsumedAt      *time.Time `bson:"consumedAt,omitempty"`
}

func (s *StepUps) twoFactors() *mongo.Collection { return s.db.Collection(CollTwoFactorChallenges) }
func (s *StepUps) twoFactorUses() *mongo.Collection {
	return s.db.Collection(CollChallengeUses)
}

// InsertTwoFactor stores c.
func (s *StepUps) InsertTwoFactor(ctx context.Context, c auth.TwoFactorChallenge) error {
	_, err := s.twoFactors().InsertOne(ctx, twoFactorDoc{
		ID: c.ID, TokenHash: c.TokenHash, AccountID: c.AccountID, DeviceID: c.DeviceID, FirstFactor: c.FirstFactor,
		SignInMethod: c.SignInMethod, Methods: c.Methods, CodeChannel: c.CodeChannel, CodeDestination: c.CodeDestination,
		IssuedAt: c.IssuedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC(),
	})
	if err != nil {
		return wrap("insert two-factor challenge", err)
	}
	return nil
}

// TwoFactorByHash returns the live challenge with the token hash, or auth.ErrTwoFactorChallengeNotFound.
func (s *StepUps) TwoFactorByHash(ctx context.Context, hash string, now time.Time) (auth.TwoFactorChallenge, error) {
	var d twoFactorDoc
	err := s.twoFactors().FindOne(ctx, bson.D{{Key: "tokenHash", Value: hash},
		{Key: "consumedAt", Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return auth.TwoFactorChallenge{}, auth.ErrTwoFactorChallengeNotFound
	}
	if err != nil {
		return auth.TwoFactorChallenge{}, wrap("find two-factor challenge", err)
	}
	return auth.TwoFactorChallenge{ID: d.ID, TokenHash: d.TokenHash, AccountID: d.AccountID, DeviceID: d.DeviceID,
		FirstFactor: d.FirstFactor, SignInMethod: d.SignInMethod, Methods: d.Methods, CodeChannel: d.CodeChannel,
		CodeDestination: d.CodeDestination, IssuedAt: d.IssuedAt, ExpiresAt: d.ExpiresAt}, nil
}

// SetTwoFactorCode records where the challenge's last code went.
func (s *StepUps) SetTwoFactorCode(ctx context.Context, id, channel, destination string) error {
	_, err := s.twoFactors().UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "codeChannel", Value: channel}, {Key: "codeDestination", Value: destination}}}})
	if err != nil {
		return wrap("record two-factor code", err)
	}
	return nil
}

// ClaimTwoFactorTry takes one of the challenge's tries (slots tfa:<id>|try|1..max).
func (s *StepUps) ClaimTwoFactorTry(ctx context.Context, c auth.TwoFactorChallenge, max int) (int, error) {
	key := "tfa:" + c.ID
	taken, err := s.twoFactorUses().CountDocuments(ctx, bson.D{{Key: "challengeId", Value: key}, {Key: "kind", Value: "try"}})
	if err != nil {
		return 0, wrap("count two-factor tries", err)
	}
	if int(taken) >= max {
		return 0, nil
	}
	return claimSlot(ctx, s.twoFactorUses(), key+"|try", int(taken), max, func(id string, slot int) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "challengeId", Value: key}, {Key: "kind", Value: "try"},
			{Key: "slot", Value: slot}, {Key: "expiresAt", Value: c.ExpiresAt.UTC()}}
	})
}

// ConsumeTwoFactor records the single answer (an insert only one caller wins), then marks the
// challenge so later lookups skip it.
func (s *StepUps) ConsumeTwoFactor(ctx context.Context, c auth.TwoFactorChallenge, now time.Time) (bool, error) {
	if !c.ExpiresAt.After(now) {
		return false, nil
	}
	key := "tfa:" + c.ID
	_, err := s.twoFactorUses().InsertOne(ctx, bson.D{{Key: "_id", Value: key + "|used"}, {Key: "challengeId", Value: key},
		{Key: "kind", Value: "used"}, {Key: "at", Value: now.UTC()}, {Key: "expiresAt", Value: c.ExpiresAt.UTC()}})
	if mongox.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("consume two-factor challenge", err)
	}
	_, _ = s.twoFactors().UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "consumedAt", Value: now.UTC()}}}})
	return true, nil
}
