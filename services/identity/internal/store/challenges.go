package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// Challenges is the otp_challenges collection — one document per challenge key (its _id), replaced
// on every send — and the otp_uses collection, which records tries and answers as inserts (see
// claimSlot for why not as counters in the challenge document).
type Challenges struct {
	coll *mongo.Collection
	uses *mongo.Collection
}

// NewChallenges returns the challenge store of db.
func NewChallenges(db *mongo.Database) *Challenges {
	return &Challenges{coll: db.Collection(CollChallenges), uses: db.Collection(CollChallengeUses)}
}

type challengeDoc struct {
	Key         string     `bson:"_id"`
	ChallengeID string     `bson:"challengeId"`
	Purpose     string     `bson:"purpose"`
	Channel     string     `bson:"channel"`
	Destination string     `bson:"destination"`
	AccountID   string     `bson:"accountId,omitempty"`
	DeviceID    string     `bson:"deviceId,omitempty"`
	CodeHash    string     `bson:"codeHash,omitempty"`
	TokenHash   string     `bson:"tokenHash,omitempty"`
	SentAt      time.Time  `bson:"sentAt"`
	ExpiresAt   time.Time  `bson:"expiresAt"`
	ConsumedAt  *time.Time `bson:"consumedAt,omitempty"`
}

func (d challengeDoc) challenge() otp.Challenge {
	c := otp.Challenge{
		Key: d.Key, ID: d.ChallengeID, Purpose: d.Purpose, Channel: d.Channel, Destination: d.Destination,
		AccountID: d.AccountID, DeviceID: d.DeviceID, CodeHash: d.CodeHash, TokenHash: d.TokenHash,
		SentAt: d.SentAt, ExpiresAt: d.ExpiresAt,
	}
	if d.ConsumedAt != nil {
		c.ConsumedAt = *d.ConsumedAt
	}
	return c
}

// Get returns the challenge stored under key, or otp.ErrNotFound.
func (s *Challenges) Get(ctx context.Context, key string) (otp.Challenge, error) {
	var d challengeDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return otp.Challenge{}, otp.ErrNotFound
	}
	if err != nil {
		return otp.Challenge{}, wrap("find challenge", err)
	}
	return d.challenge(), nil
}

// Put replaces the challenge under c.Key if it was sent at or before sentBefore, or inserts it. The
// cooldown is the filter: when the stored challenge is too recent the filter misses, the upsert tries
// to insert a second document with the same _id, and the duplicate key becomes otp.ErrCooldown. (On
// FerretDB two sends racing past an expired cooldown may both replace; the hourly send limits, which
// are slot inserts, still hold.)
func (s *Challenges) Put(ctx context.Context, c otp.Challenge, sentBefore time.Time) error {
	d := challengeDoc{
		Key: c.Key, ChallengeID: c.ID, Purpose: c.Purpose, Channel: c.Channel, Destination: c.Destination,
		AccountID: c.AccountID, DeviceID: c.DeviceID, CodeHash: c.CodeHash, TokenHash: c.TokenHash,
		SentAt: c.SentAt.UTC(), ExpiresAt: c.ExpiresAt.UTC(),
	}
	filter := bson.D{{Key: "_id", Value: c.Key}, {Key: "sentAt", Value: bson.D{{Key: "$lte", Value: sentBefore.UTC()}}}}
	_, err := s.coll.ReplaceOne(ctx, filter, d, options.Replace().SetUpsert(true))
	if mongox.IsDuplicateKey(err) {
		return otp.ErrCooldown
	}
	if err != nil {
		return wrap("store challenge", err)
	}
	return nil
}

func liveFilter(f otp.Filter, now time.Time) bson.D {
	filter := bson.D{}
	if f.Key != "" {
		filter = append(filter, bson.E{Key: "_id", Value: f.Key})
	}
	if f.TokenHash != "" {
		filter = append(filter, bson.E{Key: "tokenHash", Value: f.TokenHash})
	}
	if f.AccountID != "" {
		filter = append(filter, bson.E{Key: "accountId", Value: f.AccountID})
	}
	return append(filter,
		bson.E{Key: "purpose", Value: f.Purpose},
		bson.E{Key: "consumedAt", Value: bson.D{{Key: "$exists", Value: false}}},
		bson.E{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: now.UTC()}}},
	)
}

// Find returns the unanswered, unexpired challenge matching f, or otp.ErrNotFound.
func (s *Challenges) Find(ctx context.Context, f otp.Filter, now time.Time) (otp.Challenge, error) {
	if f.Key == "" && f.TokenHash == "" {
		return otp.Challenge{}, otp.ErrNotFound
	}
	var d challengeDoc
	err := s.coll.FindOne(ctx, liveFilter(f, now)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return otp.Challenge{}, otp.ErrNotFound
	}
	if err != nil {
		return otp.Challenge{}, wrap("find challenge", err)
	}
	return d.challenge(), nil
}

// ClaimTry takes one of c's tries: documents challengeId|try|1..max in otp_uses (see claimSlot).
func (s *Challenges) ClaimTry(ctx context.Context, c otp.Challenge, maxAttempts int) (int, error) {
	taken, err := s.uses.CountDocuments(ctx, bson.D{{Key: "challengeId", Value: c.ID}, {Key: "kind", Value: "try"}})
	if err != nil {
		return 0, wrap("count challenge tries", err)
	}
	if int(taken) >= maxAttempts {
		return 0, nil
	}
	return claimSlot(ctx, s.uses, c.ID+"|try", int(taken), maxAttempts, func(id string, slot int) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "challengeId", Value: c.ID}, {Key: "kind", Value: "try"},
			{Key: "slot", Value: slot}, {Key: "expiresAt", Value: c.ExpiresAt.UTC()}}
	})
}

// Consume records the answer with an insert of challengeId|used, which only one caller can win, then
// marks the challenge document so later lookups skip it.
func (s *Challenges) Consume(ctx context.Context, c otp.Challenge, now time.Time) (bool, error) {
	if !c.ExpiresAt.After(now) {
		return false, nil
	}
	_, err := s.uses.InsertOne(ctx, bson.D{{Key: "_id", Value: c.ID + "|used"}, {Key: "challengeId", Value: c.ID},
		{Key: "kind", Value: "used"}, {Key: "at", Value: now.UTC()}, {Key: "expiresAt", Value: c.ExpiresAt.UTC()}})
	if mongox.IsDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, wrap("consume challenge", err)
	}
	// Only a marker: if this write fails, the insert above still refuses every later answer.
	_, _ = s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.Key}, {Key: "challengeId", Value: c.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "consumedAt", Value: now.UTC()}}}})
	return true, nil
}
