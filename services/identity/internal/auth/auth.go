// Package auth runs the sign-up and sign-in flows: registration by e-mail code, login with password
// and new-device verification. It ties accounts, codes, trusted devices and throttling together and
// asks the session service for tokens once a person has proven who they are.
//
// The flows hold the anti-enumeration rules: registration answers alike for new and taken addresses,
// and login answers alike — in content and in time — for an unknown account and a wrong password.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Errors of the flows. Handlers map them to status codes; policy and username problems come as
// *password.PolicyError and *account.UsernameError, throttling as *throttle.ExceededError.
var (
	// ErrInvalidCredentials: unknown account, wrong password, or an account that may not sign in.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrInvalidCode: a code or temp token that does not verify (see otp.ErrInvalidCode). Also used
	// when the e-mail got registered meanwhile, so that case cannot be told apart.
	ErrInvalidCode = otp.ErrInvalidCode
	// ErrUsernameTaken: the chosen username belongs to another account.
	ErrUsernameTaken = account.ErrUsernameTaken
	// ErrSessionUnavailable: the session service could not be reached or failed.
	ErrSessionUnavailable = errors.New("session service unavailable")
)

// Throttle scopes of the login flow.
const (
	ScopeLoginIP      = "login_ip"
	ScopeLoginAccount = "login_account"
)

// TokenPrefix marks device-verification tokens, as the account API's samples show ("dvt_...").
const TokenPrefix = "dvt_"

// Accounts is the account store the flows need.
type Accounts interface {
	// Create inserts a new account; account.ErrEmailTaken or account.ErrUsernameTaken on a clash.
	// The account is stored with its account.created event marked pending (see MarkCreatedPublished).
	Create(ctx context.Context, a account.Account) error
	ByID(ctx context.Context, id string) (account.Account, error)
	ByEmail(ctx context.Context, email string) (account.Account, error)
	ByUsername(ctx context.Context, username string) (account.Account, error)
	// SetPasswordHash replaces the hash only while it is still oldHash (a concurrent change wins).
	SetPasswordHash(ctx context.Context, id, oldHash, newHash string) error
	// MarkCreatedPublished records that the account.created event is in the outbox.
	MarkCreatedPublished(ctx context.Context, id string) error
	// CreatedUnpublished lists accounts created before the given time whose event is still pending.
	CreatedUnpublished(ctx context.Context, before time.Time, limit int) ([]account.Account, error)
	// MarkSnapshotPublished records that the account.updated snapshot of version is in the outbox.
	MarkSnapshotPublished(ctx context.Context, id string, version int64) error
	// SnapshotUnpublished lists accounts changed before the given time whose snapshot is pending.
	SnapshotUnpublished(ctx context.Context, before time.Time, limit int) ([]account.Account, error)
}

// Devices is the trusted-device store the flows need.
type Devices interface {
	// Find returns the trusted device, or device.ErrNotFound.
	Find(ctx context.Context, accountID, deviceID string) (device.TrustedDevice, error)
	// Trust records d as trusted (insert, or refresh name, platform and lastUsedAt).
	Trust(ctx context.Context, d device.TrustedDevice) (device.TrustedDevice, error)
	// Touch sets lastUsedAt.
	Touch(ctx context.Context, accountID, deviceID string, at time.Time) error
}

// Sessions starts sessions in the session service.
type Sessions interface {
	// Start returns the new session's tokens; errors wrap ErrSessionUnavailable when the session
	// service cannot be used.
	Start(ctx context.Context, r SessionRequest) (Tokens, error)
}

// Reservations says for which account a given-up username is still reserved (store.Usernames).
type Reservations interface {
	// ReservedFor returns the account the username is reserved for at now, or "".
	ReservedFor(ctx context.Context, username string, now time.Time) (string, error)
}

// Outbox takes events to publish.
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Client is what is known about the caller's connection.
type Client struct {
	IP        string
	UserAgent string
}

// SessionRequest asks for a session of an account on a device.
type SessionRequest struct {
	AccountID string
	Device    device.Info
	Client    Client
}

// Tokens are a session's credentials, as the session service returns them.
type Tokens struct {
	SessionID    string
	AccessToken  string
	RefreshToken string
	TokenType    string
	ExpiresIn    int // seconds, of the access token
}

// SignedIn is the outcome of a flow that ends with a session.
type SignedIn struct {
	Account account.Account
	Tokens  Tokens
}

// Config are the login limits.
type Config struct {
	LoginPerIP              throttle.Limit // every login attempt from one IP
	LoginFailuresPerAccount throttle.Limit // failed logins of one account (or unknown identifier)
}

// Deps are the collaborators of a Service.
type Deps struct {
	Accounts Accounts
	Devices  Devices
	Codes    *otp.Service
	Hasher   *password.Hasher
	Limiter  *throttle.Limiter
	Sessions Sessions
	Outbox   Outbox
	Logger   *slog.Logger
	// Reservations, when set, keeps registration off usernames reserved for their previous owner.
	Reservations Reservations
}

// Service runs the flows.
type Service struct {
	cfg Config
	Deps
	now func() time.Time
}

// NewService returns a Service.
func NewService(cfg Config, d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, Deps: d, now: time.Now}
}

// WithClock returns a copy of s that reads the time from now.
func (s *Service) WithClock(now func() time.Time) *Service {
	c := *s
	c.now = now
	return &c
}

func (s *Service) startSession(ctx context.Context, a account.Account, d device.Info, cl Client) (SignedIn, error) {
	t, err := s.Sessions.Start(ctx, SessionRequest{AccountID: a.ID, Device: d, Client: cl})
	if err != nil {
		return SignedIn{}, err
	}
	return SignedIn{Account: a, Tokens: t}, nil
}

func (s *Service) trust(ctx context.Context, accountID string, d device.Info) error {
	now := s.now().UTC()
	_, err := s.Devices.Trust(ctx, device.TrustedDevice{
		ID: events.NewID(), AccountID: accountID, DeviceID: d.DeviceID, DeviceName: d.DeviceName,
		Platform: d.Platform, CreatedAt: now, LastUsedAt: now,
	})
	return err
}
