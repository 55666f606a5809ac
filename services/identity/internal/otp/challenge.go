package otp

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Challenge is one issued code (or code-less notice) awaiting its answer.
//
// There is at most one live challenge per Key (a purpose group and a destination): sending again
// replaces the previous code, which is what makes the resend cooldown per destination enforceable
// with a single-document conditional write.
type Challenge struct {
	Key         string // purpose group + ":" + destination
	ID          string // fresh for every code sent; part of the code's HMAC input
	Purpose     string // events.Purpose*
	Channel     string // events.Channel*
	Destination string // lower-cased e-mail or E.164 phone
	AccountID   string // empty for registration
	DeviceID    string // set for device verification
	CodeHash    string // empty for notices, which can never be answered
	TokenHash   string // set when a temp token is bound to the challenge
	Attempts    int    // tries so far, counting the current one (set by ClaimTry)
	SentAt      time.Time
	ExpiresAt   time.Time
	ConsumedAt  time.Time // zero until answered
}

// Filter selects a live challenge by key or by temp token, for one purpose.
type Filter struct {
	Key       string
	TokenHash string
	Purpose   string
	AccountID string // when set, only a challenge issued to this account matches
}

// Store errors.
var (
	// ErrNotFound: no live challenge matches.
	ErrNotFound = errors.New("challenge not found")
	// ErrCooldown: Put found a challenge under the key sent too recently.
	ErrCooldown = errors.New("challenge sent too recently")
)

// Store keeps challenges.
type Store interface {
	// Get returns the challenge stored under key (live or not), or ErrNotFound.
	Get(ctx context.Context, key string) (Challenge, error)
	// Put stores c under c.Key, replacing the stored challenge only when that one was sent at or
	// before sentBefore; otherwise it returns ErrCooldown.
	Put(ctx context.Context, c Challenge, sentBefore time.Time) error
	// Find returns the challenge that matches f, has not been answered and has not expired at now;
	// ErrNotFound when none does.
	Find(ctx context.Context, f Filter, now time.Time) (Challenge, error)
	// ClaimTry takes one of the maxAttempts tries of c and returns its number, or 0 when all are
	// used. Of any number of concurrent calls at most maxAttempts get a try.
	ClaimTry(ctx context.Context, c Challenge, maxAttempts int) (int, error)
	// Consume records that c was answered at now. Exactly one of any number of concurrent calls
	// reports true.
	Consume(ctx context.Context, c Challenge, now time.Time) (bool, error)
}

// Outbox takes the dispatch events; a relay publishes them to Kafka, so a code accepted while Kafka
// is down is still delivered.
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Limiter applies the hourly send limits (see the throttle package).
type Limiter interface {
	Hit(ctx context.Context, scope, key string, lim Limit) error
}

// group is the cooldown and limit scope of a purpose. The registration code and the notice sent
// instead when the address is taken share one, so both answers are throttled identically and a
// 429 says nothing about whether the address has an account.
func group(purpose string) string {
	if purpose == events.PurposeRegistrationExisting {
		return events.PurposeRegistration
	}
	return purpose
}

// Key returns the challenge key of a purpose and destination.
func Key(purpose, destination string) string { return group(purpose) + ":" + destination }
