package main

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// accountErasers lists identity's stores outside internal/store that keep data keyed by account and
// must go with it when the deletion worker erases an account: the activity log (its EraseAccount
// folds the entries into anonymous counts), exports (account_exports, by accountId) and the "not
// me" links (by accountId). Each implements auth.AccountEraser; main passes them as they are built.
// The worker calls them after identity's own collections and before the account document goes, so
// a failure is retried with the account still due.
func accountErasers(stores ...auth.AccountEraser) []auth.AccountEraser { return stores }

// eraseWith adapts an AccountEraser to the erasure guard of a consumer, which erases again when an
// event of an account raced its deletion.
func eraseWith(e auth.AccountEraser) erasure.Eraser {
	return func(ctx context.Context, accountID string, _ events.AccountDeleted) error {
		return e.EraseAccount(ctx, accountID)
	}
}

// notMeMarker is the activity log as "this wasn't me" marks entries (auth.NotMeMarker).
type notMeMarker struct{ log *activity.Store }

func (m notMeMarker) MarkNotMe(ctx context.Context, accountID, id string, at time.Time) error {
	_, err := m.log.MarkNotMe(ctx, accountID, id, at)
	return err
}
