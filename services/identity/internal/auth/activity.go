package auth

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/device"
)

// RecordActivity queues one entry of accountID's activity log (events.TypeActivity on
// events.TopicActivity, through the outbox, so an entry is never lost to a Kafka outage). act.Actor
// empty means the owner. The activity consumer stores it, idempotent by the event id. The thing it
// records has already happened, so a failure is logged and the request goes on.
func (s *Service) RecordActivity(ctx context.Context, accountID string, act events.Activity) {
	if err := s.recordActivity(ctx, accountID, act); err != nil {
		s.Logger.WarnContext(ctx, "activity not recorded", "account_id", accountID, "kind", act.Kind, "err", err)
	}
}

func (s *Service) recordActivity(ctx context.Context, accountID string, act events.Activity) error {
	if accountID == "" || act.Kind == "" {
		return fmt.Errorf("activity without account or kind")
	}
	if act.Actor.Type == "" {
		act.Actor.Type = events.ActorOwner
	}
	ev, err := events.New(events.TypeActivity, accountID, act)
	if err != nil {
		return err
	}
	if err := s.Outbox.Add(ctx, events.TopicActivity, ev); err != nil {
		return fmt.Errorf("queue activity %s: %w", act.Kind, err)
	}
	return nil
}

// ActivityFrom fills an activity's where-from fields from a sign-in's device and client.
func ActivityFrom(kind string, d device.Info, cl Client) events.Activity {
	return events.Activity{
		Kind: kind, DeviceID: d.DeviceID, DeviceName: d.DeviceName, Platform: d.Platform,
		IPAddress: cl.IP, UserAgent: cl.UserAgent, Location: cl.Location,
	}
}
