package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Where the activity log's entries come from: the request's client (WithClient, set by the HTTP
// layer for every request), the session of its access token (authn.FromContext) and the device that
// session started on.

type clientKey struct{}

// WithClient returns ctx carrying the request's client, for the activity entries recorded while it
// is served.
func WithClient(ctx context.Context, cl Client) context.Context {
	return context.WithValue(ctx, clientKey{}, cl)
}

// ClientFrom returns the client WithClient put in ctx.
func ClientFrom(ctx context.Context) (Client, bool) {
	cl, ok := ctx.Value(clientKey{}).(Client)
	return cl, ok
}

type actorKey struct{}

// WithActor returns ctx in which the changes RecordChange records are by actor (an operator acting
// on someone else's account through the admin API), unless a change names its own.
func WithActor(ctx context.Context, actor events.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// RecordChange records act (a change the owner — or act.Actor — made) in accountID's activity log,
// completed from the request in ctx: the access token's session when it is accountID's, the device
// that session started on, and the client's IP, user agent and location. The actor is act.Actor, else
// the one of WithActor, else — when the request's token is another account's (only operator paths
// act on other accounts) — an admin with that account's id, else the owner. Like RecordActivity, a
// failure is logged.
func (s *Service) RecordChange(ctx context.Context, accountID string, act events.Activity) {
	p, signedIn := authn.FromContext(ctx)
	if act.Actor.Type == "" {
		if a, ok := ctx.Value(actorKey{}).(events.Actor); ok {
			act.Actor = a
		} else if signedIn && p.AccountID != "" && p.AccountID != accountID {
			act.Actor = events.Actor{Type: events.ActorAdmin, ID: p.AccountID}
		}
	}
	if signedIn && p.AccountID == accountID {
		if p.APIKeyID != "" {
			if act.Details == nil {
				act.Details = map[string]string{}
			}
			act.Details["apiKeyId"] = p.APIKeyID
		} else if act.SessionID == "" {
			act.SessionID = p.SessionID
		}
	}
	if cl, ok := ClientFrom(ctx); ok && act.IPAddress == "" {
		act.IPAddress, act.UserAgent, act.Location = cl.IP, cl.UserAgent, cl.Location
	}
	if act.SessionID != "" && act.DeviceID == "" {
		s.fillSessionDevice(ctx, accountID, &act)
	}
	s.RecordActivity(ctx, accountID, act)
}

// fillSessionDevice puts the device a session started on (as identity recorded it) into act.
func (s *Service) fillSessionDevice(ctx context.Context, accountID string, act *events.Activity) {
	id, err := s.Devices.SessionDevice(ctx, accountID, act.SessionID)
	if err != nil || id == "" {
		return
	}
	act.DeviceID = id
	if d, err := s.Devices.Find(ctx, accountID, id); err == nil {
		act.DeviceName, act.Platform = d.DeviceName, d.Platform
	}
}

type secondFactorKey struct{}

// withSecondFactor marks ctx as a sign-in completed by the second factor factor (a Factor* method):
// its activity entry says method two_factor.
func withSecondFactor(ctx context.Context, factor string) context.Context {
	return context.WithValue(ctx, secondFactorKey{}, factor)
}

// signInDetails are a sign-in's details in the activity log: method password, otp, provider:<name>,
// passkey, or two_factor (with secondFactor) when a second factor completed it.
func signInDetails(ctx context.Context, method string) map[string]string {
	if f, ok := ctx.Value(secondFactorKey{}).(string); ok {
		return map[string]string{"method": "two_factor", "secondFactor": f}
	}
	if p, ok := strings.CutPrefix(method, device.MethodOAuthPrefix); ok {
		return map[string]string{"method": "provider:" + p}
	}
	return map[string]string{"method": method}
}

// recordSignIn records a successful sign-in that started sessionID.
func (s *Service) recordSignIn(ctx context.Context, a account.Account, d device.Info, cl Client, method, sessionID string) {
	act := ActivityFrom(events.ActivitySignIn, d, cl)
	act.Outcome, act.SessionID = events.OutcomeSucceeded, sessionID
	act.Details = signInDetails(ctx, method)
	s.RecordActivity(ctx, a.ID, act)
}

// Reasons of failed sign-ins in the activity log.
const (
	SignInWrongPassword    = "wrong_password"
	SignInTwoFactorFailed  = "two_factor_failed"
	SignInNewDevice        = "new_device"
	SignInDeviceCodeFailed = "device_verification_failed"
	SignInLocked           = "locked"
	SignInThrottled        = "throttled"
	SignInDeactivated      = "deactivated"
	SignInNotAllowed       = "not_allowed"
)

// discardingOutbox is the outbox's write of an event that is never published
// (kafkax.Outbox.AddDiscarded).
type discardingOutbox interface {
	AddDiscarded(ctx context.Context, topic string, ev events.Envelope) error
}

// recordLoginFailure records a failed password sign-in of a (found) with reason. For an identifier
// that is no account, nothing is recorded, but the same outbox write is made, discarded: the failure
// path costs the same round trips either way, so its timing does not tell whether an account exists.
func (s *Service) recordLoginFailure(ctx context.Context, a account.Account, found bool, reason string, in Login) {
	act := ActivityFrom(events.ActivitySignIn, in.Device, in.Client)
	act.Outcome, act.Reason = events.OutcomeFailed, reason
	act.Details = map[string]string{"method": device.MethodPassword}
	if found {
		s.RecordActivity(ctx, a.ID, act)
		return
	}
	d, ok := s.Outbox.(discardingOutbox)
	if !ok {
		return
	}
	// Nothing of the request is kept for a person who is no account: same kind of write, no data.
	act = events.Activity{Kind: act.Kind, Outcome: act.Outcome, Reason: act.Reason, Actor: events.Actor{Type: events.ActorOwner}, Details: act.Details}
	ev, err := events.New(events.TypeActivity, "unknown", act)
	if err == nil {
		err = d.AddDiscarded(ctx, events.TopicActivity, ev)
	}
	if err != nil {
		s.Logger.WarnContext(ctx, "discarded activity not written", "err", err)
	}
}

// loginFailureReason is the activity reason of a refused password sign-in of a.
func loginFailureReason(a account.Account, passwordOK bool, err error) string {
	var limited *throttle.ExceededError
	switch {
	case errors.As(err, &limited):
		return SignInThrottled
	case !passwordOK:
		return SignInWrongPassword
	}
	switch a.Status {
	case account.StatusLocked:
		return SignInLocked
	case account.StatusDeactivated:
		return SignInDeactivated
	}
	return SignInNotAllowed
}

// recordCodeFailure records a wrong second-factor or device code of accountID's sign-in.
func (s *Service) recordCodeFailure(ctx context.Context, accountID, reason string, d device.Info, cl Client) {
	if accountID == "" {
		return
	}
	act := ActivityFrom(events.ActivitySignIn, d, cl)
	act.Outcome, act.Reason = events.OutcomeFailed, reason
	s.RecordActivity(ctx, accountID, act)
}

// activityOfAlert is the activity entry of a change the owner is alerted about (alertOrLog), false
// for alerts that are not changes or are recorded elsewhere.
func activityOfAlert(kind string, details map[string]string) (events.Activity, bool) {
	factor := func(f, change string) (events.Activity, bool) {
		return events.Activity{Kind: events.ActivityTwoFactorChanged, Details: map[string]string{"factor": f, "change": change}}, true
	}
	with := func(k string, d map[string]string) (events.Activity, bool) {
		return events.Activity{Kind: k, Details: d}, true
	}
	switch kind {
	case events.AlertPasswordChanged:
		how := "change"
		if details["method"] == "set" {
			how = "set"
		}
		return with(events.ActivityPasswordChanged, map[string]string{"how": how})
	case events.AlertPasswordReset:
		return with(events.ActivityPasswordChanged, map[string]string{"how": "reset"})
	case events.AlertTwoFactorEnabled:
		return factor("codes", "added")
	case events.AlertTwoFactorDisabled:
		return factor("codes", "removed")
	case events.AlertAuthenticatorAdded:
		return factor("totp", "added")
	case events.AlertAuthenticatorRemoved:
		return factor("totp", "removed")
	case events.AlertRecoveryCodesGenerated:
		return factor("recovery_codes", "generated")
	case events.AlertRecoveryCodeUsed:
		return factor("recovery_codes", "used")
	case events.AlertEmailLinked:
		return with(events.ActivityEmailChanged, map[string]string{"change": "linked", "email": details["email"]})
	case events.AlertEmailChanged:
		return with(events.ActivityEmailChanged, map[string]string{"change": "changed", "email": details["email"]})
	case events.AlertEmailUnlinked:
		return with(events.ActivityEmailChanged, map[string]string{"change": "removed", "email": details["email"]})
	case events.AlertEmailChangeReverted:
		return with(events.ActivityEmailChanged, map[string]string{"change": "reverted", "email": details["email"]})
	case events.AlertPhoneChanged:
		return with(events.ActivityPhoneChanged, map[string]string{"change": "changed", "phone": details["phone"]})
	case events.AlertProviderLinked:
		return with(events.ActivityProviderChanged, map[string]string{"provider": details["provider"], "change": "linked"})
	case events.AlertProviderUnlinked:
		return with(events.ActivityProviderChanged, map[string]string{"provider": details["provider"], "change": "unlinked"})
	case events.AlertAccountDeactivated:
		return with(events.ActivityAccountStatus, map[string]string{"status": string(account.StatusDeactivated)})
	}
	return events.Activity{}, false
}

// RecordPasskeyChange records a passkey added, removed or renamed (change) by accountID's owner
// (passkey.Service calls it).
func (s *Service) RecordPasskeyChange(ctx context.Context, accountID, change, name string) {
	s.RecordChange(ctx, accountID, events.Activity{Kind: events.ActivityTwoFactorChanged,
		Details: map[string]string{"factor": "passkey", "change": change, "name": name}})
}
