package apikey

import (
	"context"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// alertCreated tells the owner about a new key, at the verified e-mail, else the verified phone (as
// auth.AlertDestination picks). A failure is logged: the key exists already.
func (s *Service) alertCreated(ctx context.Context, k Key) {
	a, err := s.accounts.ByID(ctx, k.AccountID)
	if err != nil {
		s.log.WarnContext(ctx, "api key alert: load account", "account_id", k.AccountID, "err", err)
		return
	}
	channel, dest := "", ""
	switch {
	case a.IsEmailVerified():
		channel, dest = events.ChannelEmail, a.Email
	case a.IsPhoneVerified():
		channel, dest = events.ChannelSMS, a.Phone
	default:
		return
	}
	details := map[string]string{"name": k.Name, "prefix": k.Prefix, "scopes": strings.Join(k.Scopes.Names(), ",")}
	if s.links != nil {
		s.links.AddNotMeLink(ctx, a.ID, events.AlertAPIKeyCreated, details)
	}
	ev, err := events.New(events.TypeSecurityAlert, a.ID, events.SecurityAlert{
		Kind: events.AlertAPIKeyCreated, Channel: channel, Destination: dest, Details: details,
	})
	if err == nil {
		err = s.outbox.Add(ctx, events.TopicAccountEvents, ev)
	}
	if err != nil {
		s.log.WarnContext(ctx, "security alert not queued", "account_id", a.ID, "kind", events.AlertAPIKeyCreated, "err", err)
	}
}
