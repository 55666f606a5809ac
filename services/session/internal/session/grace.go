package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Refresh grace: a client that sends two refreshes with one token at once (two tabs, a retry after a
// lost answer) must not be taken for a thief. For RefreshGrace after a rotation, presenting the token
// that was just rotated out returns the very pair the rotation issued, instead of revoking the session.
// The pair is kept on the session document sealed with AES-256-GCM under a key derived from the old
// refresh token, which the database never holds: a copy of the database opens nothing, and only a
// holder of the old token gets the pair back. After the grace, reuse revokes the session as before.

// graceInfo separates the grace key from every other use of a refresh token (its stored hash is a
// plain SHA-256 of the token).
const graceInfo = "latchkey refresh-token grace v1"

// gracePair is the sealed content: what the winning rotation answered.
type gracePair struct {
	AccessToken        string    `json:"a"`
	AccessTokenExpires time.Time `json:"e"`
	RefreshToken       string    `json:"r"`
}

// graceKey derives the AES-256 key that seals the successor pair of oldToken.
func graceKey(oldToken string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(oldToken), nil, graceInfo, 32)
}

// sealGracePair seals p under a key derived from oldToken, bound to the session and the old token's
// hash (the additional data), so a sealed pair cannot be moved to another session or token.
func sealGracePair(oldToken, sessionID, oldHash string, p gracePair) ([]byte, error) {
	aead, err := graceAEAD(oldToken)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, []byte(sessionID+"."+oldHash)), nil
}

// openGracePair opens what sealGracePair sealed; an error for anything else.
func openGracePair(oldToken, sessionID, oldHash string, sealed []byte) (gracePair, error) {
	aead, err := graceAEAD(oldToken)
	if err != nil {
		return gracePair{}, err
	}
	if len(sealed) < aead.NonceSize() {
		return gracePair{}, errors.New("sealed refresh pair too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(sessionID+"."+oldHash))
	if err != nil {
		return gracePair{}, fmt.Errorf("open sealed refresh pair: %w", err)
	}
	var p gracePair
	if err := json.Unmarshal(plain, &p); err != nil {
		return gracePair{}, fmt.Errorf("decode sealed refresh pair: %w", err)
	}
	return p, nil
}

func graceAEAD(oldToken string) (cipher.AEAD, error) {
	key, err := graceKey(oldToken)
	if err != nil {
		return nil, fmt.Errorf("derive refresh grace key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// withinGrace returns the pair the session's last rotation issued when token is the one that rotation
// replaced, the grace has not run out, and the session is still active with that pair's refresh token.
func (s *Service) withinGrace(sess Session, token, hash string, now time.Time) (Issued, bool) {
	if s.opts.RefreshGrace <= 0 || len(sess.GraceSealed) == 0 || !sess.Active(now) || !now.Before(sess.GraceUntil) ||
		subtle.ConstantTimeCompare([]byte(sess.GraceHash), []byte(hash)) != 1 {
		return Issued{}, false
	}
	p, err := openGracePair(token, sess.ID, hash, sess.GraceSealed)
	if err != nil {
		return Issued{}, false
	}
	// The pair's refresh token must still be the session's current one (it is, as both are written by
	// one update; checked so that a stale pair is never handed out).
	if subtle.ConstantTimeCompare([]byte(hashRefreshToken(p.RefreshToken)), []byte(sess.RefreshHash)) != 1 {
		return Issued{}, false
	}
	return Issued{
		Session:            sess,
		AccessToken:        p.AccessToken,
		AccessTokenExpires: p.AccessTokenExpires,
		RefreshToken:       p.RefreshToken,
		ExpiresIn:          int(s.opts.AccessTokenTTL / time.Second),
	}, true
}

// lostRotation answers a refresh whose conditional rotation matched nothing although the session held
// its token when read: a parallel refresh with the same token rotated it first (the claim and the
// rotation being one write, the winner's pair is in place by now), or the session was revoked or has
// expired. One more read tells which. Within the grace the loser gets the winner's pair; with the grace
// off, a second use of one token is a replay and revokes the session, as it always was. A session that
// has ended, or that has moved past the winner's pair already, is refused without revoking anything
// (the token was claimed moments ago by its own parallel refresh, not replayed later).
func (s *Service) lostRotation(ctx context.Context, id, token, hash string) (Issued, error) {
	sess, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Issued{}, ErrInvalidRefreshToken
	}
	if err != nil {
		return Issued{}, fmt.Errorf("get session %s: %w", id, err)
	}
	now := time.Now().UTC()
	if sess.RefreshHash == hash || !sess.Active(now) {
		// Not rotated by anyone: revoked or expired.
		return Issued{}, ErrInvalidRefreshToken
	}
	if s.opts.RefreshGrace <= 0 {
		return Issued{}, s.replayed(ctx, sess)
	}
	if iss, ok := s.withinGrace(sess, token, hash, now); ok {
		return iss, nil
	}
	return Issued{}, ErrInvalidRefreshToken
}
