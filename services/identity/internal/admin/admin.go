// Package admin is the operators' side of identity: accounts holding account.RoleAdmin or
// account.RoleSupport find an account, read what a support case needs, lock and unlock it,
// reactivate it, sign it out everywhere, reset its second factors, revoke its API keys, set roles and
// start its deletion. Every action is recorded in the activity log of the account acted on and of the
// operator.
//
// Who may do what is decided here, from the roles stored on the operator's account (read on every
// call, so a revoked role takes effect at once), never from a token:
//   - support reads and searches (both audited) and locks and unlocks ordinary accounts;
//   - admin does everything, on every account, except locking, resetting or deleting its own account
//     and removing its own admin role (so there is always an admin who can undo a mistake).
//
// A caller who is no operator learns nothing: ErrForbidden comes before any account is looked up.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
)

// Errors of the admin actions; the handlers map them to status codes.
var (
	// ErrForbidden: the caller is no operator, or its role does not allow the action (403).
	ErrForbidden = errors.New("not allowed")
	// ErrNotFound: no such account, or no such API key of it (404).
	ErrNotFound = errors.New("not found")
	// ErrSelf: an operator acting on its own account where that is not allowed (409).
	ErrSelf = errors.New("operators cannot do this to their own account")
	// ErrState: the account is not in a state the action applies to (409).
	ErrState = errors.New("account is not in a state this action applies to")
	// ErrNotActive, ErrNotLocked and ErrNotDeactivated (all ErrState) say which state was expected.
	ErrNotActive      = &StateError{"Only an active account can be locked"}
	ErrNotLocked      = &StateError{"The account is not locked"}
	ErrNotDeactivated = &StateError{"Only a deactivated account can be reactivated"}
	// ErrDeletionUnavailable: no Deletions is wired (501).
	ErrDeletionUnavailable = errors.New("account deletion is not available")
)

// StateError is ErrState with the state the action expected, for the client.
type StateError struct{ Message string }

func (e *StateError) Error() string { return e.Message }

// Is makes every StateError match ErrState.
func (e *StateError) Is(target error) bool { return target == ErrState }

// Actions, as recorded in the activity log's Details.action.
const (
	ActionView         = "view"
	ActionSearch       = "search"
	ActionLock         = "lock"
	ActionUnlock       = "unlock"
	ActionReactivate   = "reactivate"
	ActionSignOut      = "sign_out"
	ActionReset2FA     = "reset_2fa"
	ActionRoles        = "roles"
	ActionRevokeAPIKey = "revoke_api_key"
	ActionDelete       = "delete"
)

// Security alert kinds of admin actions (the notification service templates them).
const (
	AlertAccountLocked           = events.AlertAccountLocked
	AlertAccountUnlocked         = events.AlertAccountUnlocked
	AlertTwoFactorResetBySupport = events.AlertTwoFactorResetBySupport
)

// Accounts is the account store as the admin actions use it (store.Accounts).
type Accounts interface {
	ByID(ctx context.Context, id string) (account.Account, error)
	Search(ctx context.Context, q string, skip, limit int) ([]account.Account, int64, error)
	SetStatus(ctx context.Context, id string, from, to account.Status, revoke *account.Revocation) (bool, error)
	SetRoles(ctx context.Context, id string, roles []string) (bool, error)
	OrderRevocation(ctx context.Context, id string, r account.Revocation) (bool, error)
	ClearTwoFactor(ctx context.Context, id string) (bool, error)
}

// Session is one live session of an account, as the session service describes it.
type Session struct {
	ID           string    `json:"sessionId"`
	DeviceID     string    `json:"deviceId,omitempty"`
	DeviceName   string    `json:"deviceName,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	Browser      string    `json:"browser,omitempty"`
	OS           string    `json:"os,omitempty"`
	IPAddress    string    `json:"ipAddress,omitempty"`
	UserAgent    string    `json:"userAgent,omitempty"`
	Location     string    `json:"location,omitempty"`
	AMR          []string  `json:"amr,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	LastActiveAt time.Time `json:"lastActiveAt"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

// Sessions lists an account's live sessions (sessionclient, over the session service's internal API).
type Sessions interface {
	List(ctx context.Context, accountID string) ([]Session, error)
}

// Devices lists an account's trusted devices (store.Devices).
type Devices interface {
	List(ctx context.Context, accountID string) ([]device.TrustedDevice, error)
}

// Providers lists an account's linked sign-in providers (store.Providers).
type Providers interface {
	ListByAccount(ctx context.Context, accountID string) ([]oauth.Link, error)
}

// APIKeys lists and revokes an account's API keys (apikey.Service).
type APIKeys interface {
	List(ctx context.Context, accountID string) ([]apikey.Key, error)
	RevokeWithReason(ctx context.Context, accountID, id, reason string) error
}

// Authenticators removes an account's authenticator app (totp.Service).
type Authenticators interface {
	Enrolled(ctx context.Context, accountID string) (bool, error)
	Remove(ctx context.Context, accountID string) (bool, error)
}

// RecoveryCodes counts and forgets an account's recovery codes (recovery.Service).
type RecoveryCodes interface {
	Remaining(ctx context.Context, accountID string) (int, error)
	Clear(ctx context.Context, accountID string) error
}

// PasskeyStore lists and removes an account's passkeys (store.Passkeys; the store, not
// passkey.Service, so a reset sends one alert rather than one per passkey).
type PasskeyStore interface {
	List(ctx context.Context, accountID string) ([]passkey.Credential, error)
	Delete(ctx context.Context, accountID, id string) (passkey.Credential, error)
}

// Deletions schedules an account's deletion ((*auth.Service).ScheduleDeletion).
type Deletions interface {
	ScheduleDeletion(ctx context.Context, accountID string, by events.Actor) (time.Time, error)
}

// Deps are the collaborators of a Service. Auth, Accounts, Sessions, Devices, Providers and APIKeys
// are required; the others may be nil (the feature is then off: no such factor, no activity shown,
// deletion answers ErrDeletionUnavailable).
type Deps struct {
	Auth           *auth.Service
	Accounts       Accounts
	Sessions       Sessions
	Devices        Devices
	Providers      Providers
	APIKeys        APIKeys
	Authenticators Authenticators
	RecoveryCodes  RecoveryCodes
	Passkeys       PasskeyStore
	Activity       activity.Reader
	Deletions      Deletions
	// Deny is this process's deny-list (authn.DenyList): a lock refuses the account's API keys here
	// at once, without waiting for the account.updated event to come back from Kafka.
	Deny   LocalDenyList
	Logger *slog.Logger
}

// LocalDenyList is the part of authn.DenyList a lock and an unlock use.
type LocalDenyList interface {
	DenyInactiveAccount(accountID string, version int64, until time.Time)
	AllowActiveAccount(accountID string, version int64)
}

// Service runs the admin actions.
type Service struct{ Deps }

// NewService returns a Service.
func NewService(d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Deps: d}
}

// Operator is the caller of an admin action: its account id and where it calls from.
type Operator struct {
	AccountID string
	IP        string
	UserAgent string
}

// operator is an Operator whose roles were read.
type operator struct {
	Operator
	admin bool
}

func (o operator) actor() events.Actor {
	if o.admin {
		return events.Actor{Type: events.ActorAdmin, ID: o.AccountID}
	}
	return events.Actor{Type: events.ActorSupport, ID: o.AccountID}
}

// need says which role an action needs.
type need int

const (
	needSupport need = iota // support or admin
	needAdmin
)

// authorize reads the caller's account and checks its roles: an operator of an active account holding
// the role the action needs, else ErrForbidden.
func (s *Service) authorize(ctx context.Context, op Operator, n need) (operator, error) {
	a, err := s.Accounts.ByID(ctx, op.AccountID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return operator{}, ErrForbidden
	case err != nil:
		return operator{}, fmt.Errorf("read operator: %w", err)
	case !a.CanSignIn():
		return operator{}, ErrForbidden
	}
	o := operator{Operator: op, admin: a.HasRole(account.RoleAdmin)}
	if !o.admin && (n == needAdmin || !a.HasRole(account.RoleSupport)) {
		return operator{}, ErrForbidden
	}
	return o, nil
}

// Authorize checks that op holds the role a route needs (admin only when adminOnly, else support
// or admin), for the route gate that runs before step-up and before any account is looked up; each
// action checks its own role again.
func (s *Service) Authorize(ctx context.Context, op Operator, adminOnly bool) error {
	n := needSupport
	if adminOnly {
		n = needAdmin
	}
	_, err := s.authorize(ctx, op, n)
	return err
}

// target reads the account acted on. A support operator may write only to ordinary accounts: an
// operator's account (admin or support) is the admins' to change.
func (s *Service) target(ctx context.Context, o operator, id string, write bool) (account.Account, error) {
	a, err := s.Accounts.ByID(ctx, id)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return account.Account{}, ErrNotFound
	case err != nil:
		return account.Account{}, fmt.Errorf("read account: %w", err)
	case write && !o.admin && a.IsOperator():
		return account.Account{}, ErrForbidden
	}
	return a, nil
}

// activity is an admin_action entry of o's action with details (Details.action set).
func (s *Service) activity(o operator, action string, details map[string]string) events.Activity {
	d := map[string]string{"action": action}
	for k, v := range details {
		d[k] = v
	}
	return events.Activity{Kind: events.ActivityAdminAction, Actor: o.actor(), IPAddress: o.IP, UserAgent: o.UserAgent, Details: d}
}

// record writes the action into the activity log of the account acted on and of the operator.
func (s *Service) record(ctx context.Context, o operator, targetID, action string, details map[string]string) {
	act := s.activity(o, action, details)
	if targetID != "" {
		s.Auth.RecordActivity(ctx, targetID, act)
	}
	if targetID != o.AccountID {
		own := map[string]string{"action": action}
		if targetID != "" {
			own["targetId"] = targetID
		}
		if n, ok := details["results"]; ok {
			own["results"] = n
		}
		act.Details = own
		s.Auth.RecordActivity(ctx, o.AccountID, act)
	}
}
