package apikey

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// RevokeAllForRecovery ends every live key of the account (each with its api_key.revoked event), for
// account recovery: an undone e-mail change. It returns how many it ended.
func (s *Service) RevokeAllForRecovery(ctx context.Context, accountID, reason string) (int, error) {
	keys, err := s.keys.List(ctx, accountID)
	if err != nil {
		return 0, fmt.Errorf("list api keys of %s: %w", accountID, err)
	}
	n := 0
	for _, k := range keys {
		ev, err := events.New(events.TypeAPIKeyRevoked, accountID, events.APIKeyRevoked{KeyID: k.ID, Reason: reason})
		if err != nil {
			return n, err
		}
		if err := s.outbox.Add(ctx, events.TopicAccountEvents, ev); err != nil {
			return n, fmt.Errorf("queue api_key.revoked: %w", err)
		}
		if err := s.keys.Revoke(ctx, accountID, k.ID, s.now().UTC()); err != nil && !errors.Is(err, ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

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
	ev, err := events.New(events.TypeSecurityAlert, a.ID, events.SecurityAlert{
		Kind: events.AlertAPIKeyCreated, Channel: channel, Destination: dest,
		Details: map[string]string{"name": k.Name, "prefix": k.Prefix, "scopes": strings.Join(k.Scopes.Names(), ",")},
	})
	if err == nil {
		err = s.outbox.Add(ctx, events.TopicAccountEvents, ev)
	}
	if err != nil {
		s.log.WarnContext(ctx, "security alert not queued", "account_id", a.ID, "kind", events.AlertAPIKeyCreated, "err", err)
	}
}
