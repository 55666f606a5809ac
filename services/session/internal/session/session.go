// Package session is where a signed-in account lives: sessions with their device, address and
// lifetime, the opaque refresh tokens that renew their access tokens, and revocation.
//
// A session lasts until the earlier of its absolute expiry (SESSION_ABSOLUTE_TTL after sign-in) and its
// idle expiry (SESSION_IDLE_TTL after the last refresh). Refresh tokens are rotated on every use; a
// token that has already been used is a sign that it was stolen, so presenting one revokes the whole
// session — except the token the last rotation replaced, within REFRESH_TOKEN_GRACE, which returns
// that rotation's pair (see grace.go). Revocation is published as session.revoked so that every service refuses the session's
// access tokens until they expire.
package session

import (
	"errors"
	"fmt"
	"time"
)

// Errors of the session domain. The store returns ErrNotFound, ErrConflict and ErrUnavailable.
var (
	// ErrInvalidRefreshToken covers every refresh that must fail: unknown, malformed, already used,
	// revoked or expired. Callers get no hint which.
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	// ErrNotFound is a session that does not exist (or not for that account, or no longer active).
	ErrNotFound = errors.New("session not found")
	// ErrConflict is a conditional update that found the session changed under it.
	ErrConflict = errors.New("session changed concurrently")
	// ErrUnavailable is a store that cannot be reached; callers answer 503.
	ErrUnavailable = errors.New("session store unavailable")

	// ErrInvalidCredentials is a re-authentication whose password or code identity refused.
	ErrInvalidCredentials = errors.New("re-authentication refused")
	// ErrAccountUnavailable is a re-authentication for an account identity does not know or has
	// deactivated.
	ErrAccountUnavailable = errors.New("account unknown or deactivated")
	// ErrReauthUnavailable is identity's re-authentication API not answering; callers answer 503.
	ErrReauthUnavailable = errors.New("re-authentication unavailable")
)

// ThrottledError is a re-authentication refused because the account made too many attempts.
type ThrottledError struct {
	RetryAfter time.Duration
	Limit      int           // identity's X-RateLimit-Limit, 0 when unknown
	Reset      time.Duration // identity's X-RateLimit-Reset, 0 when unknown
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many re-authentication attempts; retry after %s", e.RetryAfter)
}

// Reasons a session was revoked (revokeReason, and the reason of session.revoked).
const (
	ReasonLogout             = "logout"
	ReasonRefreshTokenReused = "refresh_token_reuse"
	ReasonSignOut            = "sign_out"         // account API 16, or revoke of "current"
	ReasonRevokedByOwner     = "revoked_by_owner" // one session ended from another (19, revoke)
	ReasonSignOutOthers      = "sign_out_others"  // account API 17, or revoke_all_others
	ReasonSignOutAll         = "sign_out_all"     // account API 18
)

// maxRotatedHashes bounds the used refresh-token hashes a session remembers for reuse detection: a
// replay of one of the session's last 32 tokens revokes it (with the default 15-minute access tokens,
// about eight hours of continuous use, and longer for a client that refreshes less often); an older
// token is refused like any unknown one, without ending the session. They live on the session document,
// written by the same conditional update that rotates the token (about 2 KiB at most).
const maxRotatedHashes = 32

// Session is one signed-in device of an account.
type Session struct {
	ID                string
	AccountID         string
	DeviceID          string
	DeviceName        string
	Platform          string
	Browser           string // parsed from UserAgent, e.g. "Firefox 128.0"
	OS                string // parsed from UserAgent, e.g. "Linux"
	IPAddress         string
	UserAgent         string
	Location          string // approximate, from the ingress's geolocation header; "" when unknown
	CreatedAt         time.Time
	LastActiveAt      time.Time
	ExpiresAt         time.Time // min(AbsoluteExpiresAt, last refresh + idle TTL)
	AbsoluteExpiresAt time.Time
	RevokedAt         time.Time // zero while active
	RevokeReason      string
	// RefreshHash is the SHA-256 of the current refresh token; the token itself is never stored.
	RefreshHash string
	// RotatedRefreshHashes are the hashes of the most recent used tokens, newest last.
	RotatedRefreshHashes []string
	// GraceHash is the hash of the token the last rotation replaced; until GraceUntil, presenting that
	// token again returns GraceSealed: the rotation's pair, sealed under a key only that token yields.
	GraceHash   string
	GraceSealed []byte
	GraceUntil  time.Time
	// Assurance is how the account signed in to start the session; every access token of the session
	// carries it, unchanged by refreshes (a refresh proves possession of the refresh token, not of a
	// factor).
	Assurance Assurance
}

// Active reports whether the session can still be used at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.AbsoluteExpiresAt)
}

// Device describes where a session was started, or, for UpdateDevice, what the client reports now
// (an empty DeviceID, DeviceName, Platform or Location keeps the stored one).
type Device struct {
	DeviceID   string
	DeviceName string
	Platform   string
	IPAddress  string
	UserAgent  string
	Location   string
}

// Proof is the re-authentication a caller offers before ending other sessions: exactly one of
// Password and OTP.
type Proof struct {
	Password string
	OTP      string
	// ReauthToken is a step-up token (X-Reauth-Token, from identity's POST /api/v1/auth/reauth) instead
	// of a password or code; identity accepts it only for the account and the session it was issued to
	// (SessionID, filled in by the flows from the caller's access token).
	ReauthToken string
	SessionID   string
}

// Issued is what a client receives when a session starts or is refreshed.
type Issued struct {
	Session            Session
	AccessToken        string
	AccessTokenExpires time.Time
	RefreshToken       string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int
}

// Rotation is the conditional update of a refresh: it applies only while the session still holds
// OldHash, is not revoked and has not expired at Now.
type Rotation struct {
	SessionID string
	OldHash   string
	NewHash   string
	Rotated   []string // the new RotatedRefreshHashes
	Now       time.Time
	ExpiresAt time.Time
	IPAddress string // "" keeps the stored one
	Location  string // "" keeps the stored one

	// GraceHash, GraceSealed and GraceUntil become the session's (see Session); GraceSealed is nil
	// when the grace is off.
	GraceHash   string
	GraceSealed []byte
	GraceUntil  time.Time
}

// applied is sess as the rotation r leaves it.
func (r Rotation) applied(sess Session) Session {
	sess.RefreshHash, sess.RotatedRefreshHashes = r.NewHash, r.Rotated
	sess.LastActiveAt, sess.ExpiresAt = r.Now, r.ExpiresAt
	sess.GraceHash, sess.GraceSealed, sess.GraceUntil = r.GraceHash, r.GraceSealed, r.GraceUntil
	if len(r.GraceSealed) == 0 {
		sess.GraceHash, sess.GraceUntil = "", time.Time{}
	}
	if r.IPAddress != "" {
		sess.IPAddress = r.IPAddress
	}
	if r.Location != "" {
		sess.Location = r.Location
	}
	return sess
}
