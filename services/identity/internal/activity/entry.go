// Package activity is the owner's activity log: every security-relevant thing that happened to an
// account, recorded from the activity events (events.TopicActivity) every service publishes, one entry
// per event id.
package activity

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Entry is one entry of an account's activity log: the event's id, account and time, and what it said.
type Entry struct {
	ID         string    // the activity event's id
	AccountID  string    //
	OccurredAt time.Time // the event's occurredAt
	events.Activity
	// NotMeAt is when the owner reported this entry as not theirs (zero: never).
	NotMeAt time.Time
}

// Query selects a page of one account's log, newest first. Kind "" means every kind.
type Query struct {
	Kind string
	Page int // from 0
	Size int // 1..100
}

// Page is one page of a log.
type Page struct {
	Entries []Entry
	Total   int64 // entries matching the query (within the retention)
}

// ErrNotFound: no such entry of that account (or past the retention).
var ErrNotFound = errors.New("activity entry not found")

// Reader reads the log. Entries older than the retention are never returned.
type Reader interface {
	// List returns a page of accountID's log.
	List(ctx context.Context, accountID string, q Query) (Page, error)
	// Get returns one entry of accountID's log, ErrNotFound when it is not that account's.
	Get(ctx context.Context, accountID, id string) (Entry, error)
}

// Kinds are the kinds an owner may filter the log by (the events.Activity* constants).
var Kinds = []string{
	events.ActivitySignIn, events.ActivityDeviceVerified, events.ActivityPasswordChanged,
	events.ActivityTwoFactorChanged, events.ActivityEmailChanged, events.ActivityPhoneChanged,
	events.ActivityProviderChanged, events.ActivityUsernameChanged, events.ActivityAPIKeyCreated,
	events.ActivityAPIKeyFirstUsed, events.ActivityAPIKeyRevoked, events.ActivitySessionEnded,
	events.ActivityAccountStatus, events.ActivityAdminAction, events.ActivityNotMe,
	events.ActivityExportRequested, events.ActivityDeletionScheduled, events.ActivityDeletionCancelled,
}
