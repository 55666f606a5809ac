package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/sendlimit"
	"github.com/latchkey/latchkey/services/notification/internal/store"
	"github.com/latchkey/latchkey/services/notification/internal/subscriber"
)

// accountEraser erases what the notification service holds about an account on account.deleted:
// delivery records (by account and by each of its addresses and numbers, so also those from before
// it had an id), their messages and waiting status reports, the send-limit counters named after its
// destinations and the dev outbox's messages to them.
func accountEraser(deliveries *store.Deliveries, limits *sendlimit.Limiter, outbox *devoutbox.Outbox) erasure.Eraser {
	return func(ctx context.Context, accountID string, deleted events.AccountDeleted) error {
		var destinations []string
		for _, e := range deleted.Emails {
			// Both spellings: identity sends lower-cased addresses; a record may hold one as it was typed.
			destinations = append(destinations, e, strings.ToLower(e))
		}
		destinations = append(destinations, deleted.PhoneNumbers...)
		messageIDs, err := deliveries.EraseAccount(ctx, accountID, destinations)
		if err != nil {
			return err
		}
		if err := limits.EraseDestinations(ctx, destinations); err != nil {
			return err
		}
		if err := outbox.EraseDestinations(ctx, destinations, messageIDs); err != nil {
			return fmt.Errorf("erase dev outbox: %w", err)
		}
		return nil
	}
}

// erasingDeliverer drops deliveries of erased accounts (late or retried events) and, when an account
// was erased while one of its deliveries was being made, erases again what that delivery wrote.
type erasingDeliverer struct {
	next       subscriber.Deliverer
	tombstones *erasure.Tombstones
	erase      erasure.Eraser
}

func (e erasingDeliverer) Deliver(ctx context.Context, d delivery.Dispatch) error {
	if d.AccountID == "" { // e.g. a registration code: no account yet
		return e.next.Deliver(ctx, d)
	}
	if erased, err := e.tombstones.Erased(ctx, d.AccountID); err != nil || erased {
		return err
	}
	if err := e.next.Deliver(ctx, d); err != nil {
		return err
	}
	erased, err := e.tombstones.Erased(ctx, d.AccountID)
	if err != nil || !erased {
		return err
	}
	return e.erase(ctx, d.AccountID, events.AccountDeleted{Emails: []string{d.Destination}})
}
