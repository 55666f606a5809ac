package otp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Limit is a throttle limit.
type Limit = throttle.Limit

// Limit scopes used for sends.
const (
	ScopeDestination = "otp_destination"
	ScopeAccount     = "otp_account"
)

// ErrInvalidCode covers every way an answer can fail — wrong code, expired, already used, too many
// tries, unknown token, other device — so the client learns nothing about which.
var ErrInvalidCode = errors.New("invalid or expired code")

// Config are the code rules.
type Config struct {
	TTL                      time.Duration // how long a code is valid
	MaxAttempts              int           // tries per code
	ResendCooldown           time.Duration // minimum time between two sends to one destination
	MaxPerDestinationPerHour int
	MaxPerAccountPerHour     int
}

// DefaultConfig follows the design rules: 10-minute codes, 5 tries, 60 s cooldown, 5 sends per
// destination and 10 per account per hour.
var DefaultConfig = Config{TTL: 10 * time.Minute, MaxAttempts: 5, ResendCooldown: time.Minute, MaxPerDestinationPerHour: 5, MaxPerAccountPerHour: 10}

// Service sends and checks codes.
type Service struct {
	cfg     Config
	pepper  Pepper
	store   Store
	limiter Limiter
	outbox  Outbox
	now     func() time.Time
}

// NewService returns a Service.
func NewService(cfg Config, pepper Pepper, store Store, limiter Limiter, outbox Outbox) *Service {
	return &Service{cfg: cfg, pepper: pepper, store: store, limiter: limiter, outbox: outbox, now: time.Now}
}

// WithClock returns a copy of s that reads the time from now.
func (s *Service) WithClock(now func() time.Time) *Service {
	c := *s
	c.now = now
	return &c
}

// TTL is how long a code stays valid.
func (s *Service) TTL() time.Duration { return s.cfg.TTL }

// Request describes what to send.
type Request struct {
	Purpose     string // events.Purpose*
	Channel     string // events.Channel*
	Destination string // normalized e-mail or E.164 phone
	AccountID   string // the account the code is for; empty for registration
	DeviceID    string // bound to the challenge (device verification)
	Notice      bool   // send a code-less notice instead of a code
	// Silent does the work of a send — challenge, cooldown, limits — but dispatches nothing: the
	// answer for an address that must not get a message (an unknown account asking for a password
	// reset) then looks and costs like a real send.
	Silent    bool
	WithToken string // when not empty, bind a temp token with this prefix
	Locale    string
}

// Sent is the outcome of Send.
type Sent struct {
	ChallengeID string
	Token       string // the temp token, when requested; shown to the client once
	ExpiresAt   time.Time
	MaskedValue string
}

// Send issues a challenge and queues its delivery. It returns a *throttle.ExceededError (with
// Retry-After) when the destination is in its resend cooldown or a send limit is reached.
//
// A notice does the same work as a code — same cooldown, same limits, one challenge write, one
// outbox write — so that registration answers alike, in content and in timing, whether or not the
// address already has an account. For the same reason a notice is not counted against the account's
// limit: an over-limit account would otherwise answer differently from a new address.
func (s *Service) Send(ctx context.Context, req Request) (Sent, error) {
	now := s.now().UTC()
	key := Key(req.Purpose, req.Destination)
	prev, err := s.store.Get(ctx, key)
	switch {
	case err == nil:
		if until := prev.SentAt.Add(s.cfg.ResendCooldown); until.After(now) {
			return Sent{}, &throttle.ExceededError{Scope: "otp_cooldown", RetryAfter: until.Sub(now)}
		}
	case !errors.Is(err, ErrNotFound):
		return Sent{}, fmt.Errorf("read challenge: %w", err)
	}
	hour := Limit{Max: s.cfg.MaxPerDestinationPerHour, Window: time.Hour}
	if err := s.limiter.Hit(ctx, ScopeDestination, key, hour); err != nil {
		return Sent{}, err
	}
	if req.AccountID != "" && !req.Notice {
		if err := s.limiter.Hit(ctx, ScopeAccount, req.AccountID, Limit{Max: s.cfg.MaxPerAccountPerHour, Window: time.Hour}); err != nil {
			return Sent{}, err
		}
	} else if req.Silent {
		// The same write a real send makes for its account, so both cost alike.
		if err := s.limiter.Hit(ctx, ScopeAccount, "silent:"+key, Limit{Max: s.cfg.MaxPerAccountPerHour, Window: time.Hour}); err != nil {
			return Sent{}, err
		}
	}

	code, err := GenerateCode()
	if err != nil {
		return Sent{}, err
	}
	c := Challenge{
		Key: key, ID: events.NewID(), Purpose: req.Purpose, Channel: req.Channel, Destination: req.Destination,
		AccountID: req.AccountID, DeviceID: req.DeviceID, SentAt: now, ExpiresAt: now.Add(s.cfg.TTL),
	}
	c.CodeHash = s.pepper.CodeHash(c.ID, code)
	if req.Notice {
		c.CodeHash, code = "", "" // computed anyway, so both branches cost the same
	}
	var token string
	if req.WithToken != "" {
		if token, err = NewToken(req.WithToken); err != nil {
			return Sent{}, err
		}
		c.TokenHash = s.pepper.TokenHash(token)
	}
	if err := s.store.Put(ctx, c, now.Add(-s.cfg.ResendCooldown)); err != nil {
		if errors.Is(err, ErrCooldown) { // a concurrent send won the race
			return Sent{}, &throttle.ExceededError{Scope: "otp_cooldown", RetryAfter: s.cfg.ResendCooldown}
		}
		return Sent{}, fmt.Errorf("store challenge: %w", err)
	}

	masked := Mask(req.Channel, req.Destination)
	payload := events.OTPDispatch{Purpose: req.Purpose, Channel: req.Channel, Destination: req.Destination, Code: code, Locale: req.Locale}
	if !req.Notice {
		payload.ExpiresAt = c.ExpiresAt
	}
	if req.Silent {
		payload.Code = "" // nobody receives it: no code leaves the service, not even into the outbox
	}
	ev, err := events.New(events.TypeOTPDispatch, req.AccountID, payload)
	if err != nil {
		return Sent{}, err
	}
	if req.Silent {
		// The outbox write a real send makes, marked never to be published, so a silent send costs
		// the same round trips as a real one.
		if d, ok := s.outbox.(discardingOutbox); ok {
			if err := d.AddDiscarded(ctx, events.TopicOTPDispatch, ev); err != nil {
				return Sent{}, fmt.Errorf("queue discarded otp dispatch: %w", err)
			}
		}
		return Sent{ChallengeID: c.ID, Token: token, ExpiresAt: c.ExpiresAt, MaskedValue: masked}, nil
	}
	if err := s.outbox.Add(ctx, events.TopicOTPDispatch, ev); err != nil {
		return Sent{}, fmt.Errorf("queue otp dispatch: %w", err)
	}
	return Sent{ChallengeID: c.ID, Token: token, ExpiresAt: c.ExpiresAt, MaskedValue: masked}, nil
}

// discardingOutbox is an Outbox that can also store an event that is never published
// (kafkax.Outbox.AddDiscarded): silent sends use it to cost what real ones do.
type discardingOutbox interface {
	AddDiscarded(ctx context.Context, topic string, ev events.Envelope) error
}

// Verify checks code against the live challenge of purpose for destination and consumes it. Every
// failure is ErrInvalidCode.
func (s *Service) Verify(ctx context.Context, purpose, destination, code string) (Challenge, error) {
	return s.answer(ctx, Filter{Key: Key(purpose, destination), Purpose: purpose}, false, "", code)
}

// VerifyToken checks code against the challenge bound to the temp token, for purpose and deviceID,
// and consumes it (which also spends the token). A device other than the one the token was issued
// to counts as a wrong try. Every failure is ErrInvalidCode.
func (s *Service) VerifyToken(ctx context.Context, purpose, token, deviceID, code string) (Challenge, error) {
	if token == "" {
		return Challenge{}, ErrInvalidCode
	}
	return s.answer(ctx, Filter{TokenHash: s.pepper.TokenHash(token), Purpose: purpose}, true, deviceID, code)
}

// VerifyForAccount is Verify restricted to a challenge issued to accountID: an answer from another
// account finds no challenge, so it neither uses a try nor consumes the code.
func (s *Service) VerifyForAccount(ctx context.Context, purpose, destination, accountID, code string) (Challenge, error) {
	if accountID == "" {
		return Challenge{}, ErrInvalidCode
	}
	return s.answer(ctx, Filter{Key: Key(purpose, destination), Purpose: purpose, AccountID: accountID}, false, "", code)
}

// VerifyTokenForAccount is VerifyToken (without a device) restricted to a challenge issued to
// accountID, like VerifyForAccount.
func (s *Service) VerifyTokenForAccount(ctx context.Context, purpose, token, accountID, code string) (Challenge, error) {
	if token == "" || accountID == "" {
		return Challenge{}, ErrInvalidCode
	}
	return s.answer(ctx, Filter{TokenHash: s.pepper.TokenHash(token), Purpose: purpose, AccountID: accountID}, true, "", code)
}

// VerifyTokenAnyDevice is VerifyToken for flows where the client may omit the device: the returned
// challenge's DeviceID is the device the token was issued to.
func (s *Service) VerifyTokenAnyDevice(ctx context.Context, purpose, token, code string) (Challenge, error) {
	if token == "" {
		return Challenge{}, ErrInvalidCode
	}
	return s.answer(ctx, Filter{TokenHash: s.pepper.TokenHash(token), Purpose: purpose}, false, "", code)
}

// Pending reports whether a code of purpose sent to destination is still waiting for its answer
// (live, not answered, not expired). Silent sends count: the answer is the same for every address.
func (s *Service) Pending(ctx context.Context, purpose, destination string) (bool, error) {
	_, err := s.store.Find(ctx, Filter{Key: Key(purpose, destination), Purpose: purpose}, s.now().UTC())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("find challenge: %w", err)
}

// Holder returns the account a live temp token of purpose was issued for, without taking a try:
// flows that learn the account only from the token use it to apply per-account limits before the
// answer is checked. ErrInvalidCode when no live challenge has the token.
func (s *Service) Holder(ctx context.Context, purpose, token string) (string, error) {
	if token == "" {
		return "", ErrInvalidCode
	}
	c, err := s.store.Find(ctx, Filter{TokenHash: s.pepper.TokenHash(token), Purpose: purpose}, s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return "", ErrInvalidCode
	}
	if err != nil {
		return "", fmt.Errorf("find challenge: %w", err)
	}
	return c.AccountID, nil
}

// VerifyThen is Verify that runs before once the code has matched and before the code is consumed:
// when before returns an error, VerifyThen returns it and the code stays live (the try it took stays
// taken). Registration uses it to check the code before revealing anything about the rest of the
// form, without spending the code on a username the user must change.
func (s *Service) VerifyThen(ctx context.Context, purpose, destination, code string, before func(Challenge) error) (Challenge, error) {
	return s.answerThen(ctx, Filter{Key: Key(purpose, destination), Purpose: purpose}, false, "", code, before)
}

func (s *Service) answer(ctx context.Context, f Filter, checkDevice bool, deviceID, code string) (Challenge, error) {
	return s.answerThen(ctx, f, checkDevice, deviceID, code, nil)
}

func (s *Service) answerThen(ctx context.Context, f Filter, checkDevice bool, deviceID, code string, before func(Challenge) error) (Challenge, error) {
	if !ValidCodeFormat(code) {
		return Challenge{}, ErrInvalidCode
	}
	now := s.now().UTC()
	c, err := s.store.Find(ctx, f, now)
	if errors.Is(err, ErrNotFound) {
		return Challenge{}, ErrInvalidCode
	}
	if err != nil {
		return Challenge{}, fmt.Errorf("find challenge: %w", err)
	}
	// The try is taken before the comparison: parallel guesses each need one of the MaxAttempts
	// tries, so no burst can compare more codes than the limit allows.
	try, err := s.store.ClaimTry(ctx, c, s.cfg.MaxAttempts)
	if err != nil {
		return Challenge{}, fmt.Errorf("claim challenge try: %w", err)
	}
	if try == 0 {
		return Challenge{}, ErrInvalidCode
	}
	c.Attempts = try
	match := c.CodeHash != "" && equalHash(s.pepper.CodeHash(c.ID, code), c.CodeHash)
	if !match || (checkDevice && c.DeviceID != deviceID) {
		return Challenge{}, ErrInvalidCode
	}
	if before != nil {
		if err := before(c); err != nil {
			return Challenge{}, err
		}
	}
	ok, err := s.store.Consume(ctx, c, now)
	if err != nil {
		return Challenge{}, fmt.Errorf("consume challenge: %w", err)
	}
	if !ok { // answered concurrently
		return Challenge{}, ErrInvalidCode
	}
	c.ConsumedAt = now
	return c, nil
}
