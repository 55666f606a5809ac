// Package apikey manages personal API keys: credentials an account owner creates to call the API from
// scripts and servers, acting as the owner within the key's scopes. Every key expires (90 days by
// default, at most a year), an account holds at most 25, and account recovery (a password reset, a
// deactivation, a sign-out everywhere) revokes all of them (RevokeAll).
//
// A key is lk_live_ (or lk_test_) + 40 random base62 characters + a 6-character CRC32 checksum
// (authn.WellFormedAPIKey). It is shown once, when created; only its SHA-256 is stored. A fast hash is
// right here, unlike for passwords: a key carries about 238 random bits, so no amount of hashing
// speed makes guessing one from its hash feasible, while argon2id would cost tens of milliseconds and
// megabytes on every verification and, being salted, could not be looked up by an index (the key
// would then have to carry its id). Keys are verified by Verify, which every service reaches through
// identity's internal API and caches briefly; revocations are published as api_key.revoked so those
// caches let go within a second.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// Limits of API keys.
const (
	// MaxNameLen is the longest key name (characters).
	MaxNameLen = 100
	// DefaultLifetime is the lifetime of a key created without expires_in_days (API_KEY_DEFAULT_TTL).
	DefaultLifetime = 90 * 24 * time.Hour
	// DefaultMaxLifetime is the longest lifetime a key may be given (API_KEY_MAX_TTL). A key stored
	// without an expiry (created before keys had to have one) expires at its creation plus this.
	DefaultMaxLifetime = 365 * 24 * time.Hour
	// DefaultMaxPerAccount is how many live keys an account may hold.
	DefaultMaxPerAccount = 25
	// DefaultLastUsedEvery is how stale last_used_at may get: it is written at most this often per key.
	DefaultLastUsedEvery = time.Minute
	// prefixShown is how many random characters the displayed prefix reveals (the other 32, about
	// 190 bits, stay secret).
	prefixShown = 8
)

// Errors of the API-key flows.
var (
	// ErrNotFound: no live key with that id belongs to the account (another account's key included).
	ErrNotFound = errors.New("api key not found")
	// ErrTooMany: the account already holds the most live keys it may.
	ErrTooMany = errors.New("too many api keys")
)

// LifetimeError is a requested lifetime longer than the longest allowed (MaxDays).
type LifetimeError struct{ MaxDays int }

func (e *LifetimeError) Error() string {
	return fmt.Sprintf("api key lifetime exceeds %d days", e.MaxDays)
}

// Key is a stored API key (never its secret).
type Key struct {
	ID         string
	AccountID  string
	Name       string
	Prefix     string // the key's first characters, e.g. lk_live_AbCd1234, to recognise it in a list
	Hash       string // hex SHA-256 of the whole key
	Scopes     authn.Scope
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: live
	// CreatedInSession is the sign-in session the key was created in ("" : unknown, a key created
	// before this was recorded), so that "this wasn't me" on that session revokes it.
	CreatedInSession string
}

// Expired reports whether the key has expired at now.
func (k Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// Store keeps API keys.
type Store interface {
	// InsertCapped stores k unless its account already holds max live keys at now, which it answers
	// with ErrTooMany. The check and the insert are one atomic step: concurrent creations never
	// exceed max.
	InsertCapped(ctx context.Context, k Key, max int, now time.Time) error
	// List returns the account's unrevoked keys, newest first.
	List(ctx context.Context, accountID string) ([]Key, error)
	// Find returns the account's unrevoked key, or ErrNotFound.
	Find(ctx context.Context, accountID, id string) (Key, error)
	// ByHash returns the key with the hash (revoked or not), or ErrNotFound.
	ByHash(ctx context.Context, hash string) (Key, error)
	// Revoke marks the account's unrevoked key revoked, or answers ErrNotFound.
	Revoke(ctx context.Context, accountID, id string, at time.Time) error
	// RevokeAll marks every unrevoked key of the account revoked and returns how many it marked.
	RevokeAll(ctx context.Context, accountID string, at time.Time) (int, error)
	// TouchLastUsed sets lastUsedAt to at unless it is already after notBefore.
	TouchLastUsed(ctx context.Context, id string, at, notBefore time.Time) error
}

// Accounts reads accounts: a key of an account that may not sign in is refused.
type Accounts interface {
	ByID(ctx context.Context, id string) (account.Account, error)
}

// Outbox queues events next to the state change that causes them.
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// LocalRevocations is this process's deny-list (authn.DenyList): a revocation applies to it at once,
// without waiting for its own event to come back from Kafka, so identity refuses a revoked key that
// its verifier still has cached from the very next request.
type LocalRevocations interface {
	DenyAPIKey(keyID string, until time.Time)
	RevokeAccountAPIKeys(accountID string, at, until time.Time)
}

// Config configures the Service.
type Config struct {
	// Prefix starts every new key: authn.APIKeyPrefixLive (default) or authn.APIKeyPrefixTest.
	Prefix        string
	MaxPerAccount int
	LastUsedEvery time.Duration
	// DefaultLifetime is the lifetime of a key created without one (default DefaultLifetime);
	// MaxLifetime the longest a key may ask for (default DefaultMaxLifetime). Every key expires.
	DefaultLifetime time.Duration
	MaxLifetime     time.Duration
}

// Service creates, lists, revokes and verifies API keys.
type Service struct {
	cfg      Config
	keys     Store
	accounts Accounts
	outbox   Outbox
	log      *slog.Logger
	now      func() time.Time
	deny     LocalRevocations
	activity ActivityLog
	links    AlertLinks
}

// ActivityLog records key changes in the owner's activity log (auth.Service.RecordChange).
type ActivityLog interface {
	RecordChange(ctx context.Context, accountID string, act events.Activity)
}

// FirstUses records a key's first use once (store.APIKeys does): ClaimFirstUse sets lastUsedAt to at
// only while the key has never been used, and reports whether it did.
type FirstUses interface {
	ClaimFirstUse(ctx context.Context, id string, at time.Time) (bool, error)
}

// SetActivity makes s record keys created, used for the first time and revoked in l.
func (s *Service) SetActivity(l ActivityLog) { s.activity = l }

func (s *Service) record(ctx context.Context, accountID, kind string, details map[string]string) {
	if s.activity != nil {
		s.activity.RecordChange(ctx, accountID, events.Activity{Kind: kind, Details: details})
	}
}

// firstUse writes last_used_at of a key never used before and, when this request is the one that
// wrote it (concurrent first requests race for it), records the first use.
func (s *Service) firstUse(ctx context.Context, k Key, now time.Time) {
	fu, ok := s.keys.(FirstUses)
	if !ok {
		if err := s.keys.TouchLastUsed(ctx, k.ID, now, now.Add(-s.cfg.LastUsedEvery)); err != nil {
			s.log.WarnContext(ctx, "could not record api key use", "key_id", k.ID, "err", err)
		}
		return
	}
	first, err := fu.ClaimFirstUse(ctx, k.ID, now)
	if err != nil {
		s.log.WarnContext(ctx, "could not record api key use", "key_id", k.ID, "err", err)
		return
	}
	if first {
		s.record(ctx, k.AccountID, events.ActivityAPIKeyFirstUsed, map[string]string{"keyId": k.ID, "prefix": k.Prefix, "name": k.Name})
	}
}

// DenyLocally makes revocations apply to d at once (d is the deny-list of this process's
// authn.Middleware).
func (s *Service) DenyLocally(d LocalRevocations) { s.deny = d }

// NewService returns the API-key service.
func NewService(cfg Config, keys Store, accounts Accounts, outbox Outbox, log *slog.Logger) *Service {
	if cfg.Prefix == "" {
		cfg.Prefix = authn.APIKeyPrefixLive
	}
	if cfg.MaxPerAccount <= 0 {
		cfg.MaxPerAccount = DefaultMaxPerAccount
	}
	if cfg.LastUsedEvery <= 0 {
		cfg.LastUsedEvery = DefaultLastUsedEvery
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.DefaultLifetime <= 0 || cfg.DefaultLifetime > cfg.MaxLifetime {
		cfg.DefaultLifetime = min(DefaultLifetime, cfg.MaxLifetime)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, keys: keys, accounts: accounts, outbox: outbox, log: log, now: time.Now}
}

// NewKey is what Create asks for. ExpiresInDays 0 means the default lifetime; more days than the
// longest lifetime is a *LifetimeError.
type NewKey struct {
	Name          string
	Scopes        authn.Scope
	ExpiresInDays int
	// CreatedInSession is the caller's session id (authn.Principal.SessionID).
	CreatedInSession string
}

// Created is a new key and its secret, which is never available again.
type Created struct {
	Key    Key
	Secret string
}

// MaxLifetimeDays is the longest lifetime, in whole days, a key may ask for.
func (s *Service) MaxLifetimeDays() int { return int(s.cfg.MaxLifetime / (24 * time.Hour)) }

// Create makes a key for the account, unless it already holds MaxPerAccount live keys (ErrTooMany,
// also under concurrent creations). The caller has validated req's name, scopes and that
// ExpiresInDays is not negative.
func (s *Service) Create(ctx context.Context, accountID string, req NewKey) (Created, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	lifetime := s.cfg.DefaultLifetime
	if req.ExpiresInDays > 0 {
		if req.ExpiresInDays > s.MaxLifetimeDays() {
			return Created{}, &LifetimeError{MaxDays: s.MaxLifetimeDays()}
		}
		lifetime = time.Duration(req.ExpiresInDays) * 24 * time.Hour
	}
	secret, err := generate(s.cfg.Prefix)
	if err != nil {
		return Created{}, err
	}
	k := Key{
		ID:        uuid.NewString(),
		AccountID: accountID,
		Name:      req.Name,
		Prefix:    secret[:len(s.cfg.Prefix)+prefixShown],
		Hash:      Hash(secret),
		Scopes:    req.Scopes,
		CreatedAt: now,
		ExpiresAt: now.Add(lifetime),

		CreatedInSession: req.CreatedInSession,
	}
	if err := s.keys.InsertCapped(ctx, k, s.cfg.MaxPerAccount, now); err != nil {
		if errors.Is(err, ErrTooMany) {
			return Created{}, ErrTooMany
		}
		return Created{}, fmt.Errorf("store api key: %w", err)
	}
	s.log.InfoContext(ctx, "api key created", "account_id", accountID, "key_id", k.ID, "scopes", k.Scopes.Names())
	s.alertCreated(ctx, k)
	s.record(ctx, accountID, events.ActivityAPIKeyCreated, map[string]string{
		"keyId": k.ID, "prefix": k.Prefix, "name": k.Name, "scopes": strings.Join(k.Scopes.Names(), ","),
	})
	return Created{Key: k, Secret: secret}, nil
}

// List returns the account's keys that have not been revoked (expired ones included), newest first.
func (s *Service) List(ctx context.Context, accountID string) ([]Key, error) {
	keys, err := s.keys.List(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", accountID, err)
	}
	for i := range keys {
		keys[i] = s.withExpiry(keys[i])
	}
	return keys, nil
}

// withExpiry gives a key stored without an expiry (created before every key had one) the expiry it
// has now: its creation plus the longest lifetime.
func (s *Service) withExpiry(k Key) Key {
	if k.ExpiresAt.IsZero() {
		k.ExpiresAt = k.CreatedAt.Add(s.cfg.MaxLifetime)
	}
	return k
}

// revokedEventNamespace derives the api_key.revoked event id from the key id, so a revocation queued
// twice (a retried DELETE) is one event.
var revokedEventNamespace = uuid.MustParse("6f1c2a8e-3b7d-4e59-9c0a-1d2e3f4a5b6c")

// Revoke ends the account's key. The api_key.revoked event is queued in the outbox before the key is
// marked revoked, so a revocation is never without its event (a failure in between leaves a key
// refused by the services' caches for a while but still live: the owner's retry revokes it).
func (s *Service) Revoke(ctx context.Context, accountID, id string) error {
	return s.RevokeWithReason(ctx, accountID, id, "revoked_by_owner")
}

// RevokeWithReason is Revoke with the reason its api_key.revoked event carries (an operator's
// revocation: "revoked_by_admin"; a reported session's keys: "not_me").
func (s *Service) RevokeWithReason(ctx context.Context, accountID, id, reason string) error {
	if _, err := s.keys.Find(ctx, accountID, id); err != nil {
		return err
	}
	now := s.now().UTC()
	ev, err := events.New(events.TypeAPIKeyRevoked, accountID, events.APIKeyRevoked{KeyID: id, Reason: reason})
	if err != nil {
		return err
	}
	ev.EventID = uuid.NewSHA1(revokedEventNamespace, []byte(id)).String()
	if err := s.outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return fmt.Errorf("queue api_key.revoked: %w", err)
	}
	if err := s.keys.Revoke(ctx, accountID, id, now); err != nil {
		return err
	}
	if s.deny != nil {
		s.deny.DenyAPIKey(id, now.Add(authn.APIKeyDenyWindow))
	}
	s.log.InfoContext(ctx, "api key revoked", "account_id", accountID, "key_id", id, "reason", reason)
	s.record(ctx, accountID, events.ActivityAPIKeyRevoked, map[string]string{"keyId": id, "reason": reason})
	return nil
}

// Reasons of RevokeAll, carried by its api_key.revoked event.
const (
	ReasonPasswordReset      = "password_reset"
	ReasonPasswordChanged    = "password_changed"
	ReasonAccountDeactivated = "account_deactivated"
	ReasonSignOutAll         = "sign_out_all"
)

// RevokeAll ends every key of the account, for account recovery: a password reset, a deactivation,
// a sign-out of every session, or a password change whose owner asked for it. One api_key.revoked
// event with AllKeys is queued first (every service then refuses the account's keys created before
// it), then the keys are marked revoked. It is idempotent, so a revocation order can be retried. It
// returns how many keys it marked.
func (s *Service) RevokeAll(ctx context.Context, accountID, reason string) (int, error) {
	now := s.now().UTC()
	ev, err := events.New(events.TypeAPIKeyRevoked, accountID, events.APIKeyRevoked{AllKeys: true, Reason: reason})
	if err != nil {
		return 0, err
	}
	ev.OccurredAt = now
	if err := s.outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return 0, fmt.Errorf("queue api_key.revoked for every key: %w", err)
	}
	n, err := s.keys.RevokeAll(ctx, accountID, now)
	if err != nil {
		return 0, err
	}
	if s.deny != nil {
		s.deny.RevokeAccountAPIKeys(accountID, now, now.Add(authn.APIKeyDenyWindow))
	}
	s.log.InfoContext(ctx, "api keys revoked", "account_id", accountID, "reason", reason, "count", n)
	if n > 0 { // a retried order revokes nothing more and records nothing more
		s.record(ctx, accountID, events.ActivityAPIKeyRevoked, map[string]string{"allKeys": "true", "reason": reason, "count": strconv.Itoa(n)})
	}
	return n, nil
}

// Verify answers whether a key is valid now, for authn (as an authn.APIKeyLookup): an error wrapping
// authn.ErrUnknownAPIKey when the key is malformed, unknown, revoked, expired, or its account may not
// sign in. It records the use in last_used_at, at most once per LastUsedEvery.
func (s *Service) Verify(ctx context.Context, raw string) (authn.APIKeyInfo, error) {
	if !authn.WellFormedAPIKey(raw) {
		return authn.APIKeyInfo{}, fmt.Errorf("%w: malformed", authn.ErrUnknownAPIKey)
	}
	k, err := s.keys.ByHash(ctx, Hash(raw))
	if errors.Is(err, ErrNotFound) {
		return authn.APIKeyInfo{}, authn.ErrUnknownAPIKey
	}
	if err != nil {
		return authn.APIKeyInfo{}, fmt.Errorf("find api key: %w", err)
	}
	now := s.now().UTC()
	k = s.withExpiry(k)
	if !k.RevokedAt.IsZero() || k.Expired(now) {
		return authn.APIKeyInfo{}, authn.ErrUnknownAPIKey
	}
	a, err := s.accounts.ByID(ctx, k.AccountID)
	if errors.Is(err, account.ErrNotFound) {
		return authn.APIKeyInfo{}, authn.ErrUnknownAPIKey
	}
	if err != nil {
		return authn.APIKeyInfo{}, fmt.Errorf("find account of api key: %w", err)
	}
	if !a.CanSignIn() {
		return authn.APIKeyInfo{}, authn.ErrUnknownAPIKey
	}
	if k.LastUsedAt.IsZero() {
		s.firstUse(ctx, k, now)
	} else if now.Sub(k.LastUsedAt) >= s.cfg.LastUsedEvery {
		// Best effort: a failed write must not refuse a valid key.
		if err := s.keys.TouchLastUsed(ctx, k.ID, now, now.Add(-s.cfg.LastUsedEvery)); err != nil {
			s.log.WarnContext(ctx, "could not record api key use", "key_id", k.ID, "err", err)
		}
	}
	return authn.APIKeyInfo{KeyID: k.ID, AccountID: k.AccountID, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt, CreatedAt: k.CreatedAt}, nil
}

// Hash is the stored form of a key: its SHA-256 in hex.
func Hash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// generate returns a new key: prefix, APIKeyRandomLen uniform base62 characters from crypto/rand,
// and the checksum.
func generate(prefix string) (string, error) {
	var b strings.Builder
	b.Grow(authn.APIKeyLen)
	b.WriteString(prefix)
	limit := big.NewInt(int64(len(base62)))
	for range authn.APIKeyRandomLen {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", fmt.Errorf("generate api key: %w", err)
		}
		b.WriteByte(base62[n.Int64()])
	}
	body := b.String()
	return body + authn.APIKeyChecksum(body), nil
}
