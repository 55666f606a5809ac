package delivery

import (
	"errors"
	"fmt"
	"time"
)

// SendError is how a driver tells the service what to do about a failed send: retry it (a transient
// provider problem: 5xx, a timeout, 429 with its Retry-After) or give up (a permanent one: an invalid
// number, an unsubscribed recipient). An error of a driver that is not a SendError counts as transient.
type SendError struct {
	Err        error
	Permanent  bool
	RetryAfter time.Duration // the provider's Retry-After, when it sent one
}

func (e *SendError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("%s: %v", kind, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Permanent marks err as a failure that no retry can fix.
func Permanent(err error) error { return &SendError{Err: err, Permanent: true} }

// Transient marks err as a failure worth retrying, after retryAfter at the earliest when it is not zero.
func Transient(err error, retryAfter time.Duration) error {
	return &SendError{Err: err, RetryAfter: retryAfter}
}

// IsPermanent reports whether err says a retry is pointless.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// retryAfterOf returns the Retry-After a provider asked for, or zero.
func retryAfterOf(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
