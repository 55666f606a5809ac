package session

import (
	"context"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// ownerReasons are the revocation reasons the owner caused: signing out, ending sessions from the
// session list, and the credential changes and deactivation identity ends sessions for on the owner's
// request. Every other reason (refresh-token reuse, a password reset by e-mail link, an operator's
// lock, a reverted e-mail change, ...) is the system's.
var ownerReasons = map[string]bool{
	ReasonLogout: true, ReasonSignOut: true, ReasonRevokedByOwner: true, ReasonSignOutOthers: true,
	ReasonSignOutAll: true, "password_changed": true, "two_factor_changed": true, "account_deactivated": true,
}

// recordEnded queues the session_ended entry of the owner's activity log (events.TopicActivity,
// through the outbox) for sess, ended for reason. The session has ended already, so a failure is
// logged, not returned.
func (s *Service) recordEnded(ctx context.Context, sess Session, reason string) {
	actor := events.ActorSystem
	if ownerReasons[reason] {
		actor = events.ActorOwner
	}
	act := events.Activity{
		Kind: events.ActivitySessionEnded, Outcome: events.OutcomeSucceeded, Reason: reason, SessionID: sess.ID,
		DeviceID: sess.DeviceID, DeviceName: sess.DeviceName, Platform: sess.Platform, IPAddress: sess.IPAddress,
		UserAgent: sess.UserAgent, Location: sess.Location, Actor: events.Actor{Type: actor},
	}
	ev, err := events.New(events.TypeActivity, sess.AccountID, act)
	if err == nil {
		err = s.outbox.Add(ctx, events.TopicActivity, ev)
	}
	if err != nil {
		s.log.WarnContext(ctx, "session_ended activity not queued", "session_id", sess.ID, "account_id", sess.AccountID, "err", err)
	}
}
