package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
)

// Reauthenticator checks a password or one-time code of the account: identity's internal
// re-authenticate API. It returns nil when the proof is good, ErrInvalidCredentials, a
// *ThrottledError, ErrAccountUnavailable or ErrReauthUnavailable.
type Reauthenticator interface {
	Reauthenticate(ctx context.Context, accountID string, proof Proof) error
}

// Defaults of the options that tests and small deployments rarely set.
const (
	// DefaultTouchInterval is how stale lastActiveAt may get before a request writes it again.
	DefaultTouchInterval = 5 * time.Minute
	// DefaultRefreshWindow is how close to its expiry an access token is said to need refreshing.
	DefaultRefreshWindow = 5 * time.Minute
	// maxTouched bounds the sessions one replica remembers having touched.
	maxTouched = 50_000
)

// toucher remembers when this replica last wrote, or found fresh, each session's lastActiveAt, so a
// busy session costs one database write per touch interval and replica, and no round trip at all in
// between. Create and Refresh record their own writes of lastActiveAt; a revocation by this replica
// drops the session. It holds at most maxTouched sessions: when full, it first forgets the sessions
// that are due anyway (last write older than the interval), and starts afresh if that frees too little.
// Forgetting is always safe: a forgotten session costs one conditional update the next time.
type toucher struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due reports whether a request at now must write the session's lastActiveAt (it was last written more
// than every ago, or this replica does not know when), and if so marks it written at now, so that
// concurrent requests of the session do not all make the round trip.
func (t *toucher) due(id string, now time.Time, every time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.last[id]; ok && now.Sub(at) < every {
		return false
	}
	t.record(id, now, every)
	return true
}

// wrote records that lastActiveAt of the session was written at at.
func (t *toucher) wrote(id string, at time.Time, every time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.last[id]; !ok || at.After(prev) {
		t.record(id, at, every)
	}
}

// forget drops the session (revoked, or its write failed): its next request writes again.
func (t *toucher) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, id)
}

// record sets the session's entry; t.mu is held.
func (t *toucher) record(id string, at time.Time, every time.Duration) {
	if t.last == nil {
		t.last = make(map[string]time.Time)
	}
	if _, ok := t.last[id]; !ok && len(t.last) >= maxTouched {
		for k, v := range t.last {
			if at.Sub(v) >= every {
				delete(t.last, k)
			}
		}
		if len(t.last) > maxTouched*3/4 {
			t.last = make(map[string]time.Time)
		}
	}
	t.last[id] = at
}

// size is how many sessions the toucher remembers.
func (t *toucher) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.last)
}

// List returns the account's live sessions, most recently active first.
func (s *Service) List(ctx context.Context, accountID string) ([]Session, error) {
	list, err := s.store.ListUnrevoked(ctx, accountID, time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("list sessions of account %s: %w", accountID, err)
	}
	return list, nil
}

// Current returns the caller's own session while it is live; ErrNotFound once it has ended.
func (s *Service) Current(ctx context.Context, p authn.Principal) (Session, error) {
	sess, err := s.store.Get(ctx, p.SessionID)
	if err != nil {
		return Session{}, fmt.Errorf("get session %s: %w", p.SessionID, err)
	}
	if sess.AccountID != p.AccountID || !sess.Active(time.Now()) {
		return Session{}, ErrNotFound
	}
	return sess, nil
}

// TokenHealth is what a client needs to know about its access token.
type TokenHealth struct {
	ExpiresIn     time.Duration // until the token's exp; never negative
	ShouldRefresh bool          // exp is within the refresh window
}

// Health describes the caller's access token.
func (s *Service) Health(p authn.Principal) TokenHealth {
	left := max(time.Until(p.ExpiresAt), 0)
	return TokenHealth{ExpiresIn: left, ShouldRefresh: left <= s.refreshWindow()}
}

func (s *Service) refreshWindow() time.Duration {
	if s.opts.RefreshWindow > 0 {
		return s.opts.RefreshWindow
	}
	return DefaultRefreshWindow
}

// Revoke ends one session of the account. A session that does not exist, is another account's or has
// already ended is ErrNotFound: one account learns nothing of another's sessions.
func (s *Service) Revoke(ctx context.Context, accountID, sessionID, reason string) error {
	return s.revoke(ctx, sessionID, accountID, reason)
}

// SignOutOthers ends every session of the caller's account except the caller's own, once identity
// has accepted the proof. It returns how many sessions it ended.
func (s *Service) SignOutOthers(ctx context.Context, p authn.Principal, proof Proof) (int, error) {
	proof.SessionID = p.SessionID
	if err := s.reauthenticate(ctx, p.AccountID, proof); err != nil {
		return 0, err
	}
	return s.RevokeAll(ctx, p.AccountID, p.SessionID, ReasonSignOutOthers)
}

// APIKeyRevoker ends every API key of an account: identity's internal
// POST /internal/v1/accounts/{accountId}/api-keys/revoke. An error means nothing can be promised.
type APIKeyRevoker interface {
	RevokeAPIKeys(ctx context.Context, accountID, reason string) error
}

// SignOutAll ends every session of the caller's account, the caller's own included, and every API
// key of the account (a sign-out everywhere is how an owner recovers from a leak), once identity has
// accepted the proof. The keys go first: when identity cannot revoke them the request fails with
// ErrReauthUnavailable and nothing has ended, so the owner's retry does all of it. It returns how
// many sessions it ended.
func (s *Service) SignOutAll(ctx context.Context, p authn.Principal, proof Proof) (int, error) {
	proof.SessionID = p.SessionID
	if err := s.reauthenticate(ctx, p.AccountID, proof); err != nil {
		return 0, err
	}
	if s.opts.APIKeys == nil {
		return 0, fmt.Errorf("%w: no api key revoker", ErrReauthUnavailable)
	}
	if err := s.opts.APIKeys.RevokeAPIKeys(ctx, p.AccountID, ReasonSignOutAll); err != nil {
		return 0, fmt.Errorf("%w: revoke api keys of %s: %w", ErrReauthUnavailable, p.AccountID, err)
	}
	return s.RevokeAll(ctx, p.AccountID, "", ReasonSignOutAll)
}

func (s *Service) reauthenticate(ctx context.Context, accountID string, proof Proof) error {
	if s.opts.Reauth == nil {
		return ErrReauthUnavailable
	}
	if err := s.opts.Reauth.Reauthenticate(ctx, accountID, proof); err != nil {
		return fmt.Errorf("re-authenticate account %s: %w", accountID, err)
	}
	return nil
}

// RevokeAll ends every session of the account except the one with id except ("" ends them all) and
// returns how many it ended. Sessions that ended within the last access-token lifetime are revoked
// too, because access tokens issued just before they ended are still valid. Each is published as
// session.revoked. identity reaches it through the internal API after a password change or reset, a
// 2FA change or a deactivation.
func (s *Service) RevokeAll(ctx context.Context, accountID, except, reason string) (int, error) {
	revoked := 0
	for {
		since := time.Now().UTC().Add(-(s.opts.AccessTokenTTL + authn.Leeway))
		list, err := s.store.ListUnrevoked(ctx, accountID, since)
		if err != nil {
			return revoked, fmt.Errorf("list sessions of account %s: %w", accountID, err)
		}
		pass := 0
		for _, sess := range list {
			if sess.ID == except {
				continue
			}
			err := s.revoke(ctx, sess.ID, accountID, reason)
			if errors.Is(err, ErrNotFound) { // revoked concurrently: someone else published it
				continue
			}
			if err != nil {
				return revoked, err
			}
			pass++
		}
		revoked += pass
		// A full page may hide more sessions; another pass finds them, since revoked ones drop out.
		if pass == 0 || len(list) < MaxListed {
			return revoked, nil
		}
	}
}

// MaxListed is the most sessions one ListUnrevoked call returns; an account with more live sessions
// than this is abnormal, and RevokeAll pages through them.
const MaxListed = 500

// UpdateDevice records what the client reports about the caller's device now: its User-Agent (browser
// and OS parsed again), address and location, and, when given, device id, name and platform.
func (s *Service) UpdateDevice(ctx context.Context, p authn.Principal, dev Device) (Session, error) {
	now := time.Now().UTC()
	d := describeUserAgent(dev.UserAgent)
	upd := Session{
		DeviceID: dev.DeviceID, DeviceName: dev.DeviceName, Platform: strings.ToUpper(dev.Platform),
		IPAddress: dev.IPAddress, UserAgent: dev.UserAgent, Location: dev.Location, Browser: d.Browser, OS: d.OS,
	}
	updated, err := s.store.UpdateDevice(ctx, p.SessionID, p.AccountID, upd, now)
	if err != nil {
		return Session{}, fmt.Errorf("update device of session %s: %w", p.SessionID, err)
	}
	s.touched.wrote(p.SessionID, now, s.touchInterval())
	return updated, nil
}

func (s *Service) touchInterval() time.Duration {
	if s.opts.TouchInterval > 0 {
		return s.opts.TouchInterval
	}
	return DefaultTouchInterval
}

// Touch records that the caller's session is in use. It writes lastActiveAt at most once per
// TouchInterval per session and replica, and never fails the request: activity is informational.
func (s *Service) Touch(ctx context.Context, p authn.Principal) {
	every := s.touchInterval()
	now := time.Now().UTC()
	if !s.touched.due(p.SessionID, now, every) {
		return
	}
	// Conditional on the session being unrevoked, so a touch racing a revocation never writes to (or,
	// the write being one atomic update, undoes) a revoked session.
	if _, err := s.store.Touch(ctx, p.SessionID, now, now.Add(-every)); err != nil {
		s.touched.forget(p.SessionID)
		s.log.WarnContext(ctx, "record session activity", "session_id", p.SessionID, "err", err)
	}
}
