package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

// activeKeyID is the _id of the signing key in use. Creating it with a fixed _id makes the first start
// race-free: of several replicas inserting at once, exactly one insert wins and the others read it.
const activeKeyID = "active"

// SigningKeys is the signing_keys collection: the Ed25519 keys that sign access tokens when no
// JWT_SIGNING_KEY_FILE is configured. The private seed is stored as is, so the database must be
// protected like the key itself; deployments that can mount a secret should prefer the key file.
type SigningKeys struct {
	coll *mongo.Collection
}

// NewSigningKeys returns the store of db's signing_keys collection.
func NewSigningKeys(db *mongo.Database) *SigningKeys {
	return &SigningKeys{coll: db.Collection("signing_keys")}
}

// keyDoc is a stored key. Other documents than "active" (a pre-published next key, a retired one kept
// until its tokens expire) are listed in the JWKS too; rotating is swapping which one is "active".
type keyDoc struct {
	ID        string    `bson:"_id"`
	KeyID     string    `bson:"kid"`
	Seed      []byte    `bson:"seed"`
	CreatedAt time.Time `bson:"createdAt"`
}

// EnsureActive stores candidate as the active key unless another replica got there first, and returns
// the active key.
func (k *SigningKeys) EnsureActive(ctx context.Context, candidate token.Key) (token.Key, error) {
	_, err := k.coll.InsertOne(ctx, keyDoc{ID: activeKeyID, KeyID: candidate.ID, Seed: candidate.Private.Seed(), CreatedAt: candidate.CreatedAt})
	if err == nil {
		return candidate, nil
	}
	if !mongox.IsDuplicateKey(err) {
		return token.Key{}, fmt.Errorf("insert signing key: %w", err)
	}
	var d keyDoc
	if err := k.coll.FindOne(ctx, bson.D{{Key: "_id", Value: activeKeyID}}).Decode(&d); err != nil {
		return token.Key{}, fmt.Errorf("read active signing key: %w", err)
	}
	return d.key()
}

// List returns every stored key.
func (k *SigningKeys) List(ctx context.Context) ([]token.Key, error) {
	cur, err := k.coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("find signing keys: %w", err)
	}
	var docs []keyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	keys := make([]token.Key, 0, len(docs))
	for _, d := range docs {
		key, err := d.key()
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func (d keyDoc) key() (token.Key, error) {
	key, err := token.KeyFromSeed(d.Seed, d.CreatedAt)
	if err != nil {
		return token.Key{}, fmt.Errorf("signing key %s: %w", d.ID, err)
	}
	if d.KeyID != "" && d.KeyID != key.ID {
		return token.Key{}, errors.New("signing key " + d.ID + ": stored kid does not match the key")
	}
	return key, nil
}
