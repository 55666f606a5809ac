package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
)

// Store keeps sessions. Implementations return ErrNotFound, ErrConflict and ErrUnavailable (wrapped).
type Store interface {
	Insert(ctx context.Context, s Session) error
	// Get returns the session with the id, whatever its state.
	Get(ctx context.Context, id string) (Session, error)
	// Rotate claims and rotates the refresh token in one conditional write (r applies only while the
	// session holds r.OldHash and is neither revoked nor expired); ErrConflict when the condition did
	// not hold. Of concurrent rotations with one OldHash exactly one succeeds.
	Rotate(ctx context.Context, r Rotation) error
	// Revoke marks the account's session revoked if it is not yet and returns it; ErrNotFound when
	// there is no such unrevoked session. Of concurrent revocations exactly one succeeds.
	Revoke(ctx context.Context, id, accountID, reason string, at time.Time) (Session, error)
	// ListUnrevoked returns the account's unrevoked sessions whose expiresAt is after endedAfter, most
	// recently active first, at most 500.
	ListUnrevoked(ctx context.Context, accountID string, endedAfter time.Time) ([]Session, error)
	// UpdateDevice sets the non-empty device fields of dev (UserAgent, Browser and OS always) on the
	// account's live session and returns it; ErrNotFound when there is none.
	UpdateDevice(ctx context.Context, id, accountID string, dev Session, now time.Time) (Session, error)
	// Touch sets lastActiveAt to now when it is at or before staleBefore (and the session unrevoked); it reports whether it wrote.
	Touch(ctx context.Context, id string, now, staleBefore time.Time) (bool, error)
}

// AccessTokens signs access tokens.
type AccessTokens interface {
	// Issue signs an access token of the account's session carrying the session's Assurance.
	Issue(ctx context.Context, accountID, sessionID string, a Assurance) (token string, expiresAt time.Time, err error)
}

// Outbox records events to publish; the relay delivers them even if Kafka is down right now.
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Revocations is the local deny-list, told at once so this replica refuses a revoked session's tokens
// without waiting for its own event to come back from Kafka.
type Revocations interface {
	Deny(sessionID string, until time.Time)
}

// Options are the session lifetimes and the service's collaborators that are optional.
type Options struct {
	AccessTokenTTL time.Duration // ACCESS_TOKEN_TTL
	IdleTTL        time.Duration // SESSION_IDLE_TTL
	AbsoluteTTL    time.Duration // SESSION_ABSOLUTE_TTL
	TouchInterval  time.Duration // SESSION_TOUCH_INTERVAL (default DefaultTouchInterval)
	RefreshWindow  time.Duration // TOKEN_REFRESH_WINDOW (default DefaultRefreshWindow)
	// RefreshGrace is how long after a rotation the token it replaced still returns the rotation's
	// pair (REFRESH_TOKEN_GRACE); 0 turns the grace off, so any second use revokes the session.
	RefreshGrace time.Duration
	// Reauth is identity's re-authentication gate, needed by SignOutOthers and SignOutAll (without it
	// they answer ErrReauthUnavailable).
	Reauth Reauthenticator
	// APIKeys is identity's API-key revocation, needed by SignOutAll (without it SignOutAll answers
	// ErrReauthUnavailable).
	APIKeys APIKeyRevoker
	Logger  *slog.Logger
}

// Service starts, refreshes and ends sessions.
type Service struct {
	store   Store
	tokens  AccessTokens
	outbox  Outbox
	deny    Revocations
	opts    Options
	log     *slog.Logger
	touched toucher
}

// NewService returns a Service.
func NewService(store Store, tokens AccessTokens, outbox Outbox, deny Revocations, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, tokens: tokens, outbox: outbox, deny: deny, opts: opts, log: log}
}

// Create starts a session for the account on the device and issues its first tokens. identity calls it
// (through the internal API) once the account has signed in, with how it signed in (a, checked by
// NormalizeAssurance: a bad one is returned as its error, wrapped, and nothing is stored).
func (s *Service) Create(ctx context.Context, accountID string, dev Device, a Assurance) (Issued, error) {
	now := time.Now().UTC()
	assurance, err := NormalizeAssurance(a, now)
	if err != nil {
		return Issued{}, fmt.Errorf("start session: %w", err)
	}
	id := uuid.NewString()
	refresh := newRefreshToken(id)
	sess := Session{
		ID:                id,
		AccountID:         accountID,
		DeviceID:          dev.DeviceID,
		DeviceName:        dev.DeviceName,
		Platform:          dev.Platform,
		IPAddress:         dev.IPAddress,
		UserAgent:         dev.UserAgent,
		Location:          dev.Location,
		CreatedAt:         now,
		LastActiveAt:      now,
		AbsoluteExpiresAt: now.Add(s.opts.AbsoluteTTL),
		RefreshHash:       hashRefreshToken(refresh),
		Assurance:         assurance,
	}
	describe(&sess)
	sess.ExpiresAt = s.expiry(sess, now)
	if err := s.store.Insert(ctx, sess); err != nil {
		return Issued{}, fmt.Errorf("insert session: %w", err)
	}
	s.touched.wrote(id, now, s.touchInterval())
	if err := s.publish(ctx, events.TypeSessionCreated, accountID, events.SessionCreated{SessionID: id, DeviceID: dev.DeviceID}); err != nil {
		return Issued{}, err
	}
	return s.issue(ctx, sess, refresh)
}

// Refresh exchanges a refresh token for a new access token and a new refresh token. The presented
// token stops working: presenting it again within Options.RefreshGrace returns the same new pair
// (parallel refreshes of one client), later it revokes the session. Every failure is
// ErrInvalidRefreshToken (or a store error).
func (s *Service) Refresh(ctx context.Context, refreshToken, ipAddress string) (Issued, error) {
	return s.RefreshFrom(ctx, refreshToken, ipAddress, "")
}

// RefreshFrom is Refresh that also records the client's approximate location ("" keeps the stored one).
//
// Two round trips: the session is read by its id (the refresh token carries it), then one conditional
// FindOneAndUpdate claims the token and rotates it at once (Store.Rotate). A refresh that loses that
// update to a parallel refresh with the same token reads the session once more and answers with the
// winner's pair within the grace.
func (s *Service) RefreshFrom(ctx context.Context, refreshToken, ipAddress, location string) (_ Issued, err error) {
	defer func() { observeRefresh(err) }()
	id, ok := parseRefreshToken(refreshToken)
	if !ok {
		return Issued{}, ErrInvalidRefreshToken
	}
	hash := hashRefreshToken(refreshToken)
	sess, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Issued{}, ErrInvalidRefreshToken
	}
	if err != nil {
		return Issued{}, fmt.Errorf("get session %s: %w", id, err)
	}
	now := time.Now().UTC()
	if subtle.ConstantTimeCompare([]byte(sess.RefreshHash), []byte(hash)) != 1 {
		if iss, ok := s.withinGrace(sess, refreshToken, hash, now); ok {
			return iss, nil
		}
		return Issued{}, s.rejectStale(ctx, sess, hash)
	}
	if !sess.Active(now) {
		return Issued{}, ErrInvalidRefreshToken
	}

	next := newRefreshToken(id)
	// The access token is signed before the rotation so that the pair can be sealed into the same
	// write, for the refreshes that present this token again within the grace.
	// A refresh re-proves nothing: the new token keeps the session's amr, acr and auth_time.
	access, accessExp, err := s.tokens.Issue(ctx, sess.AccountID, id, sess.Assurance)
	if err != nil {
		return Issued{}, fmt.Errorf("issue access token: %w", err)
	}
	var sealed []byte
	var graceUntil time.Time
	if s.opts.RefreshGrace > 0 {
		if sealed, err = sealGracePair(refreshToken, id, hash, gracePair{AccessToken: access, AccessTokenExpires: accessExp, RefreshToken: next}); err != nil {
			return Issued{}, fmt.Errorf("seal refresh pair: %w", err)
		}
		graceUntil = now.Add(s.opts.RefreshGrace)
	}
	r := Rotation{
		SessionID: id,
		OldHash:   hash,
		NewHash:   hashRefreshToken(next),
		Rotated:   rotatedAfter(sess.RotatedRefreshHashes, hash),
		Now:       now,
		ExpiresAt: s.expiry(sess, now),
		IPAddress: ipAddress,
		Location:  location,

		GraceHash:   hash,
		GraceSealed: sealed,
		GraceUntil:  graceUntil,
	}
	err = s.store.Rotate(ctx, r)
	if errors.Is(err, ErrConflict) {
		// Since we read it, the session was rotated by a parallel refresh with this token, revoked or
		// has expired. Nothing was written.
		return s.lostRotation(ctx, sess.ID, refreshToken, hash)
	}
	if err != nil {
		// Nothing was rotated, or the rotation landed unseen: then the client's retry with the old
		// token is within the grace (with the grace off, it is taken for a replay, as any second use).
		return Issued{}, fmt.Errorf("rotate refresh token of session %s: %w", id, err)
	}
	// The rotation wrote lastActiveAt: no Touch needs to for a while.
	s.touched.wrote(id, now, s.touchInterval())
	return Issued{
		Session:            r.applied(sess),
		AccessToken:        access,
		AccessTokenExpires: accessExp,
		RefreshToken:       next,
		ExpiresIn:          int(s.opts.AccessTokenTTL / time.Second),
	}, nil
}

// rotatedAfter is the session's used refresh-token hashes once hash is used too: the newest
// maxRotatedHashes, newest last.
func rotatedAfter(used []string, hash string) []string {
	keep := used[max(len(used)-(maxRotatedHashes-1), 0):]
	out := make([]string, 0, len(keep)+1)
	return append(append(out, keep...), hash)
}

// rejectStale handles a refresh token that is not the session's current one: when the session used it
// recently (one of its last maxRotatedHashes tokens), the token has been replayed (stolen, or the
// client is broken) and the session is revoked. An older token, or one the session never had, is
// refused without more. The answer is ErrInvalidRefreshToken in every case.
func (s *Service) rejectStale(ctx context.Context, sess Session, hash string) error {
	if !slices.Contains(sess.RotatedRefreshHashes, hash) {
		return ErrInvalidRefreshToken
	}
	return s.replayed(ctx, sess)
}

// replayed revokes a session one of whose refresh tokens was presented a second time, and answers
// ErrInvalidRefreshToken.
func (s *Service) replayed(ctx context.Context, sess Session) error {
	if !sess.RevokedAt.IsZero() {
		return ErrInvalidRefreshToken
	}
	s.log.WarnContext(ctx, "refresh token reused; revoking session", "session_id", sess.ID, "account_id", sess.AccountID)
	refreshTokenReuses.Inc()
	if err := s.revoke(ctx, sess.ID, sess.AccountID, ReasonRefreshTokenReused); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("revoke session %s after refresh token reuse: %w", sess.ID, err)
	}
	return ErrInvalidRefreshToken
}

// Logout ends the caller's session. Ending a session that has already ended succeeds.
func (s *Service) Logout(ctx context.Context, p authn.Principal) error {
	err := s.revoke(ctx, p.SessionID, p.AccountID, ReasonLogout)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// revoke marks the session revoked, denies its tokens on this replica at once and records
// session.revoked for every other service.
func (s *Service) revoke(ctx context.Context, id, accountID, reason string) error {
	now := time.Now().UTC()
	sess, err := s.store.Revoke(ctx, id, accountID, reason, now)
	if err != nil {
		return fmt.Errorf("revoke session %s: %w", id, err)
	}
	s.touched.forget(id)
	// A token issued just before now is valid until now+TTL, and verifiers allow authn.Leeway of
	// clock skew past that.
	until := now.Add(s.opts.AccessTokenTTL + authn.Leeway)
	s.deny.Deny(id, until)
	if err := s.publish(ctx, events.TypeSessionRevoked, sess.AccountID, events.SessionRevoked{SessionID: id, Reason: reason, DenyUntil: until}); err != nil {
		return err
	}
	s.recordEnded(ctx, sess, reason)
	return nil
}

func (s *Service) publish(ctx context.Context, eventType, accountID string, payload any) error {
	ev, err := events.New(eventType, accountID, payload)
	if err != nil {
		return err
	}
	if err := s.outbox.Add(ctx, events.TopicSessionEvents, ev); err != nil {
		return fmt.Errorf("record %s event: %w", eventType, err)
	}
	return nil
}

// expiry is when the session ends if it is not refreshed after now.
func (s *Service) expiry(sess Session, now time.Time) time.Time {
	idle := now.Add(s.opts.IdleTTL)
	if idle.Before(sess.AbsoluteExpiresAt) {
		return idle
	}
	return sess.AbsoluteExpiresAt
}

func (s *Service) issue(ctx context.Context, sess Session, refresh string) (Issued, error) {
	access, exp, err := s.tokens.Issue(ctx, sess.AccountID, sess.ID, sess.Assurance)
	if err != nil {
		return Issued{}, fmt.Errorf("issue access token: %w", err)
	}
	return Issued{
		Session:            sess,
		AccessToken:        access,
		AccessTokenExpires: exp,
		RefreshToken:       refresh,
		ExpiresIn:          int(s.opts.AccessTokenTTL / time.Second),
	}, nil
}
