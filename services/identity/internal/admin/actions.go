package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// SearchResult is one page of a search.
type SearchResult struct {
	Accounts []account.Account
	Total    int64
}

// Search finds accounts by id, e-mail, phone or username (see store.Accounts.Search); page from 0.
func (s *Service) Search(ctx context.Context, op Operator, q string, page, size int) (SearchResult, error) {
	o, err := s.authorize(ctx, op, needSupport)
	if err != nil {
		return SearchResult{}, err
	}
	found, total, err := s.Accounts.Search(ctx, q, page*size, size)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search accounts: %w", err)
	}
	// Each account shown is a read its owner would want to know about: a view in its log (erased
	// with it). The search itself goes to the operator's log without the query, which may be an
	// e-mail address or phone number that must not outlive its account's deletion.
	for _, a := range found {
		s.Auth.RecordActivity(ctx, a.ID, s.activity(o, ActionView, map[string]string{"via": ActionSearch}))
	}
	s.record(ctx, o, "", ActionSearch, map[string]string{"results": strconv.Itoa(len(found))})
	return SearchResult{Accounts: found, Total: total}, nil
}

// Factors are an account's second factors, as an operator sees them.
type Factors struct {
	TwoFactorByCode        bool
	TOTPEnrolled           bool
	Passkeys               int
	RecoveryCodesRemaining int
}

// Detail is what an operator sees of one account.
type Detail struct {
	Account        account.Account
	Sessions       []Session
	SessionsError  bool // the session service could not be asked; Sessions is empty
	Devices        []device.TrustedDevice
	Providers      []oauth.Link
	Factors        Factors
	APIKeys        []apikey.Key
	RecentActivity []activity.Entry
}

// recentActivity is how many activity entries the detail shows.
const recentActivity = 20

// Account returns what an operator sees of the account id; reading it is recorded in its log.
func (s *Service) Account(ctx context.Context, op Operator, id string) (Detail, error) {
	o, err := s.authorize(ctx, op, needSupport)
	if err != nil {
		return Detail{}, err
	}
	a, err := s.target(ctx, o, id, false)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Account: a}
	if d.Sessions, err = s.Sessions.List(ctx, a.ID); err != nil {
		// The rest of the page still helps the operator; the gap is shown, not hidden.
		s.Logger.WarnContext(ctx, "list sessions for admin", "account_id", a.ID, "err", err)
		d.Sessions, d.SessionsError = nil, true
	}
	if d.Devices, err = s.Devices.List(ctx, a.ID); err != nil {
		return Detail{}, fmt.Errorf("list devices: %w", err)
	}
	if d.Providers, err = s.Providers.ListByAccount(ctx, a.ID); err != nil {
		return Detail{}, fmt.Errorf("list providers: %w", err)
	}
	if d.APIKeys, err = s.APIKeys.List(ctx, a.ID); err != nil {
		return Detail{}, fmt.Errorf("list api keys: %w", err)
	}
	if d.Factors, err = s.factors(ctx, a); err != nil {
		return Detail{}, err
	}
	if s.Activity != nil {
		p, err := s.Activity.List(ctx, a.ID, activity.Query{Size: recentActivity})
		if err != nil {
			return Detail{}, fmt.Errorf("list activity: %w", err)
		}
		d.RecentActivity = p.Entries
	}
	s.record(ctx, o, a.ID, ActionView, nil)
	return d, nil
}

func (s *Service) factors(ctx context.Context, a account.Account) (Factors, error) {
	f := Factors{TwoFactorByCode: a.TwoFactorEnabled}
	var err error
	if s.Authenticators != nil {
		if f.TOTPEnrolled, err = s.Authenticators.Enrolled(ctx, a.ID); err != nil {
			return Factors{}, fmt.Errorf("authenticator enrolled: %w", err)
		}
	}
	if s.Passkeys != nil {
		pks, err := s.Passkeys.List(ctx, a.ID)
		if err != nil {
			return Factors{}, fmt.Errorf("list passkeys: %w", err)
		}
		f.Passkeys = len(pks)
	}
	if s.RecoveryCodes != nil {
		if f.RecoveryCodesRemaining, err = s.RecoveryCodes.Remaining(ctx, a.ID); err != nil {
			return Factors{}, fmt.Errorf("count recovery codes: %w", err)
		}
	}
	return f, nil
}

// Lock locks the account: status LOCKED (account.updated tells every service, whose deny-lists then
// refuse its API keys), every session ended (reason account_locked), the owner alerted. Sign-in then
// answers auth.ErrAccountLocked until Unlock. ErrState when the account is not active.
func (s *Service) Lock(ctx context.Context, op Operator, id, reason string) error {
	o, a, err := s.writable(ctx, op, needSupport, id, true)
	if err != nil {
		return err
	}
	revoke := s.Auth.NewRevocation(auth.ReasonAccountLocked)
	ok, err := s.Accounts.SetStatus(ctx, a.ID, account.StatusActive, account.StatusLocked, revoke)
	if err != nil {
		return fmt.Errorf("lock account: %w", err)
	}
	if !ok {
		return ErrNotActive
	}
	s.applyLocally(ctx, a.ID, true)
	s.Auth.PublishSnapshotOrLog(ctx, a.ID)
	s.Auth.CarryOutRevocation(ctx, a.ID, revoke)
	s.Auth.AlertOrLog(ctx, a, AlertAccountLocked, nil)
	s.record(ctx, o, a.ID, ActionLock, withReason(nil, reason))
	return nil
}

// applyLocally tells this process's deny-list about a lock (deny the account's API keys) or an
// unlock, as the account.updated event will tell every other service's.
func (s *Service) applyLocally(ctx context.Context, id string, locked bool) {
	if s.Deny == nil {
		return
	}
	a, err := s.Accounts.ByID(ctx, id)
	if err != nil {
		s.Logger.WarnContext(ctx, "read account for the local deny-list", "account_id", id, "err", err)
		return
	}
	if locked {
		s.Deny.DenyInactiveAccount(id, a.Version, time.Now().Add(authn.APIKeyDenyWindow))
	} else {
		s.Deny.AllowActiveAccount(id, a.Version)
	}
}

// Unlock makes a locked account active again and alerts the owner. ErrState when it is not locked.
func (s *Service) Unlock(ctx context.Context, op Operator, id, reason string) error {
	o, a, err := s.writable(ctx, op, needSupport, id, true)
	if err != nil {
		return err
	}
	ok, err := s.Accounts.SetStatus(ctx, a.ID, account.StatusLocked, account.StatusActive, nil)
	if err != nil {
		return fmt.Errorf("unlock account: %w", err)
	}
	if !ok {
		return ErrNotLocked
	}
	s.applyLocally(ctx, a.ID, false)
	s.Auth.PublishSnapshotOrLog(ctx, a.ID)
	s.Auth.AlertOrLog(ctx, a, AlertAccountUnlocked, nil)
	s.record(ctx, o, a.ID, ActionUnlock, withReason(nil, reason))
	return nil
}

// Reactivate makes an account its owner deactivated active again (forgetting when and why it was
// deactivated). ErrState when it is not deactivated.
func (s *Service) Reactivate(ctx context.Context, op Operator, id, reason string) error {
	o, a, err := s.writable(ctx, op, needAdmin, id, false)
	if err != nil {
		return err
	}
	ok, err := s.Accounts.SetStatus(ctx, a.ID, account.StatusDeactivated, account.StatusActive, nil)
	if err != nil {
		return fmt.Errorf("reactivate account: %w", err)
	}
	if !ok {
		return ErrNotDeactivated
	}
	s.Auth.PublishSnapshotOrLog(ctx, a.ID)
	s.record(ctx, o, a.ID, ActionReactivate, withReason(nil, reason))
	return nil
}

// SignOut ends every session of the account (reason admin_sign_out). API keys stay: they are revoked
// one by one with RevokeAPIKey.
func (s *Service) SignOut(ctx context.Context, op Operator, id, reason string) error {
	o, a, err := s.writable(ctx, op, needAdmin, id, false)
	if err != nil {
		return err
	}
	if err := s.endSessions(ctx, a.ID, auth.ReasonAdminSignOut); err != nil {
		return err
	}
	s.record(ctx, o, a.ID, ActionSignOut, withReason(nil, reason))
	return nil
}

func (s *Service) endSessions(ctx context.Context, id, reason string) error {
	revoke := s.Auth.NewRevocation(reason)
	// Stored first, so a session service outage delays the sign-out but never loses it.
	if _, err := s.Accounts.OrderRevocation(ctx, id, *revoke); err != nil {
		return fmt.Errorf("order revocation: %w", err)
	}
	s.Auth.CarryOutRevocation(ctx, id, revoke)
	return nil
}

// ResetTwoFactor turns off every second factor of the account — two-factor codes, the authenticator
// app, passkeys and recovery codes — ends its sessions and alerts the owner (kind
// two_factor_reset_by_support), so its owner can sign in with the password alone and set them up
// again. Nothing else changes.
func (s *Service) ResetTwoFactor(ctx context.Context, op Operator, id, reason string) error {
	o, a, err := s.writable(ctx, op, needAdmin, id, true)
	if err != nil {
		return err
	}
	removed := map[string]string{}
	// Whatever the account's status: a locked account's owner signs in without factors once unlocked.
	if off, err := s.Accounts.ClearTwoFactor(ctx, a.ID); err != nil {
		return fmt.Errorf("turn two-factor codes off: %w", err)
	} else if off {
		s.Auth.PublishSnapshotOrLog(ctx, a.ID)
		removed["codes"] = "off"
	}
	if s.Authenticators != nil {
		if ok, err := s.Authenticators.Remove(ctx, a.ID); err != nil {
			return fmt.Errorf("remove authenticator: %w", err)
		} else if ok {
			removed["totp"] = "removed"
		}
	}
	if s.Passkeys != nil {
		pks, err := s.Passkeys.List(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("list passkeys: %w", err)
		}
		for _, pk := range pks {
			if _, err := s.Passkeys.Delete(ctx, a.ID, pk.ID); err != nil {
				return fmt.Errorf("remove passkey: %w", err)
			}
		}
		if len(pks) > 0 {
			removed["passkeys"] = fmt.Sprint(len(pks))
		}
	}
	if s.RecoveryCodes != nil {
		if err := s.RecoveryCodes.Clear(ctx, a.ID); err != nil {
			return fmt.Errorf("clear recovery codes: %w", err)
		}
	}
	if err := s.endSessions(ctx, a.ID, auth.ReasonTwoFactorReset); err != nil {
		return err
	}
	s.Auth.AlertOrLog(ctx, a, AlertTwoFactorResetBySupport, nil)
	s.record(ctx, o, a.ID, ActionReset2FA, withReason(removed, reason))
	return nil
}

// SetRoles replaces the account's roles (account.RoleUser always kept). Admin only; an admin cannot
// take account.RoleAdmin from itself (ErrSelf). It returns the roles stored.
func (s *Service) SetRoles(ctx context.Context, op Operator, id string, roles []string) ([]string, error) {
	o, a, err := s.writable(ctx, op, needAdmin, id, false)
	if err != nil {
		return nil, err
	}
	roles = account.NormalizeRoles(roles)
	if a.ID == o.AccountID && !slices.Contains(roles, account.RoleAdmin) {
		return nil, ErrSelf
	}
	ok, err := s.Accounts.SetRoles(ctx, a.ID, roles)
	if err != nil {
		return nil, fmt.Errorf("set roles: %w", err)
	}
	if !ok {
		return nil, ErrNotFound
	}
	s.Auth.PublishSnapshotOrLog(ctx, a.ID)
	s.record(ctx, o, a.ID, ActionRoles, map[string]string{"roles": strings.Join(roles, ",")})
	return roles, nil
}

// ReasonRevokedByAdmin is the reason of the api_key.revoked event of a key an operator revoked.
const ReasonRevokedByAdmin = "revoked_by_admin"

// RevokeAPIKey revokes the account's key keyID (api_key.revoked: every service refuses it);
// ErrNotFound when the account has no such live key.
func (s *Service) RevokeAPIKey(ctx context.Context, op Operator, id, keyID string) error {
	o, a, err := s.writable(ctx, op, needAdmin, id, false)
	if err != nil {
		return err
	}
	if err := s.APIKeys.RevokeWithReason(ctx, a.ID, keyID, ReasonRevokedByAdmin); err != nil {
		if errors.Is(err, apikey.ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("revoke api key: %w", err)
	}
	s.record(ctx, o, a.ID, ActionRevokeAPIKey, map[string]string{"keyId": keyID})
	return nil
}

// Delete starts the account's deletion (Deletions) and returns when it will be deleted.
func (s *Service) Delete(ctx context.Context, op Operator, id string) (time.Time, error) {
	o, a, err := s.writable(ctx, op, needAdmin, id, true)
	if err != nil {
		return time.Time{}, err
	}
	if s.Deletions == nil {
		return time.Time{}, ErrDeletionUnavailable
	}
	at, err := s.Deletions.ScheduleDeletion(ctx, a.ID, o.actor())
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule deletion: %w", err)
	}
	s.record(ctx, o, a.ID, ActionDelete, map[string]string{"deleteAt": at.UTC().Format(time.RFC3339)})
	return at, nil
}

// writable authorizes op for an action needing n on account id; notSelf refuses the operator's own
// account (ErrSelf).
func (s *Service) writable(ctx context.Context, op Operator, n need, id string, notSelf bool) (operator, account.Account, error) {
	o, err := s.authorize(ctx, op, n)
	if err != nil {
		return operator{}, account.Account{}, err
	}
	if notSelf && id == o.AccountID {
		return operator{}, account.Account{}, ErrSelf
	}
	a, err := s.target(ctx, o, id, true)
	if err != nil {
		return operator{}, account.Account{}, err
	}
	return o, a, nil
}

func withReason(details map[string]string, reason string) map[string]string {
	if reason == "" {
		return details
	}
	if details == nil {
		details = map[string]string{}
	}
	details["reason"] = reason
	return details
}
