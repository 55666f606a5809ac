package auth

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// AlertDestination picks where a security alert about a reaches its owner: the verified e-mail, else
// the verified phone by SMS. ok is false when the account has neither.
func AlertDestination(a account.Account) (channel, destination string, ok bool) {
	switch {
	case a.Email != "" && a.EmailVerified:
		return events.ChannelEmail, a.Email, true
	case a.Phone != "" && a.PhoneVerified:
		return events.ChannelSMS, a.Phone, true
	}
	return "", "", false
}

// Alert queues a security.alert event (kind is one of events.Alert*) telling a's owner about a
// security-relevant change; details must hold no secret. An account without a verified destination
// gets none. The change it reports has already happened, so callers log a failure and go on (see
// alertOrLog) rather than fail the request.
func (s *Service) Alert(ctx context.Context, a account.Account, kind string, details map[string]string) error {
	channel, dest, ok := AlertDestination(a)
	if !ok {
		return nil
	}
	if notMeLinkKinds[kind] {
		if details == nil {
			details = map[string]string{}
		}
		s.AddNotMeLink(ctx, a.ID, kind, details)
	}
	ev, err := events.New(events.TypeSecurityAlert, a.ID, events.SecurityAlert{
		Kind: kind, Channel: channel, Destination: dest, Details: details,
	})
	if err != nil {
		return err
	}
	if err := s.Outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
		return fmt.Errorf("queue security alert %s: %w", kind, err)
	}
	return nil
}

// alertOrLog is Alert for request paths.
func (s *Service) alertOrLog(ctx context.Context, a account.Account, kind string, details map[string]string) {
	if err := s.Alert(ctx, a, kind, details); err != nil {
		s.Logger.WarnContext(ctx, "security alert not queued", "account_id", a.ID, "kind", kind, "err", err)
	}
	// Every change the owner is alerted about is in the activity log too.
	if act, ok := activityOfAlert(kind, details); ok {
		s.RecordChange(ctx, a.ID, act)
	}
}
