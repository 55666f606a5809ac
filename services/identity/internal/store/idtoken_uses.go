package store

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// CollIDTokenUses remembers every provider ID token that was accepted, keyed by the token
// (oauth.Identity.TokenKey), until it expires: a captured ID token cannot be played again.
const CollIDTokenUses = "id_token_uses"

type idTokenUseDoc struct {
	Key       string    `bson:"_id"`
	Provider  string    `bson:"provider"`
	UsedAt    time.Time `bson:"usedAt"`
	ExpiresAt time.Time `bson:"expiresAt"` // the TTL index removes it then (MongoDB only)
}

// ClaimIDToken records that the verified ID token id came from was used; oauth.ErrTokenReplayed when
// it was used before. The insert keyed by the token decides, once, on every server.
func (s *Providers) ClaimIDToken(ctx context.Context, id oauth.Identity, at time.Time) error {
	uses := s.coll.Database().Collection(CollIDTokenUses)
	_, err := uses.InsertOne(ctx, idTokenUseDoc{Key: id.TokenKey, Provider: id.Provider, UsedAt: at.UTC(), ExpiresAt: id.ExpiresAt.UTC()})
	if mongox.IsDuplicateKey(err) {
		return oauth.ErrTokenReplayed
	}
	if err != nil {
		return wrap("record ID token use", err)
	}
	return nil
}
