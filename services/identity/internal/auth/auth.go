// Package auth runs the sign-up and sign-in flows — registration by e-mail code, login with password,
// new-device verification and two-factor codes — and the credential flows of a signed-in owner:
// password change, set and reset, 2FA on and off, deactivation, re-authentication and the security
// overview. It ties accounts, codes, trusted devices and throttling together and
// asks the session service for tokens once a person has proven who they are.
//
// The flows hold the anti-enumeration rules: registration answers alike for new and taken addresses,
// and login answers alike — in content and in time — for an unknown account and a wrong password.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
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
	// ErrRevocationRejected: the session service refused a revocation as malformed (a 4xx other than
	// 401/429); retrying the same order cannot succeed.
	ErrRevocationRejected = errors.New("session service rejected the revocation")
	// ErrWrongPassword: a re-authentication password that does not verify (or an account without one).
	ErrWrongPassword = errors.New("password is incorrect")
	// ErrAccountGone: the signed-in account no longer exists or is no longer active.
	ErrAccountGone = errors.New("account not found or not active")
	// ErrNoVerifiedDestination: the account has no verified destination for the chosen channel.
	ErrNoVerifiedDestination = errors.New("no verified destination for this channel")
	// ErrPasswordAlreadySet: a first password was asked for an account that has one.
	ErrPasswordAlreadySet = errors.New("password already set")
	// ErrSamePassword: the new password is the current one.
	ErrSamePassword = errors.New("new password equals the current one")
	// ErrTwoFactorEnabled and ErrTwoFactorDisabled: 2FA is already in the asked state.
	ErrTwoFactorEnabled  = errors.New("two-factor authentication is already enabled")
	ErrTwoFactorDisabled = errors.New("two-factor authentication is not enabled")
	// ErrTwoFactorNeedsChannel: 2FA cannot be enabled without a verified e-mail or phone to send codes to.
	ErrTwoFactorNeedsChannel = errors.New("two-factor authentication needs a verified email or phone")
)

// Throttle scopes (see throttle.go for the others and how they combine). ScopeLoginAccount is the
// per-account ceiling of failed logins, which trusted devices skip; ScopeCodeVerifyAccount counts
// wrong codes per (account, IP).
const (
	ScopeLoginIP           = "login_ip"
	ScopeLoginAccount      = "login_account"
	ScopeCodeVerifyIP      = "otp_verify_ip"
	ScopeCodeVerifyAccount = "otp_verify_account"
	ScopeCodeSendIP        = "otp_send_ip"
)

// Token prefixes: device-verification tokens as the account API's samples show ("dvt_..."), and
// the temp tokens of 2FA sign-in and password change by code.
const (
	TokenPrefix               = "dvt_"
	TwoFactorTokenPrefix      = "tfa_"
	PasswordChangeTokenPrefix = "pct_"
)

// Accounts is the account store the flows need.
type Accounts interface {
	// Create inserts a new account; account.ErrEmailTaken or account.ErrUsernameTaken on a clash.
	// The account is stored with its account.created event marked pending (see MarkCreatedPublished).
	Create(ctx context.Context, a account.Account) error
	ByID(ctx context.Context, id string) (account.Account, error)
	ByEmail(ctx context.Context, email string) (account.Account, error)
	ByUsername(ctx context.Context, username string) (account.Account, error)
	ByPhone(ctx context.Context, phone string) (account.Account, error)
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
	// SetVerifiedEmail makes email the account's verified e-mail (replacing the previous one); a clash
	// with another account's e-mail is the driver's duplicate-key error. It reports whether the account
	// matched.
	SetVerifiedEmail(ctx context.Context, id, email string) (bool, error)
	// MarkEmailVerified marks the account's e-mail verified while it is still email; false when the
	// e-mail changed meanwhile.
	MarkEmailVerified(ctx context.Context, id, email string) (bool, error)
	// ChangePassword stores newHash while the stored hash is still oldHash ("" : none) and the
	// account is active, with revoke (optional) as its pending revocation; false when nothing matched.
	ChangePassword(ctx context.Context, id, oldHash, newHash string, at time.Time, revoke *account.Revocation) (bool, error)
	// SetTwoFactor switches 2FA (a projected fact, version and snapshot mark included) while the
	// account is active and in the other state; false when nothing matched.
	SetTwoFactor(ctx context.Context, id string, enabled bool, revoke *account.Revocation) (bool, error)
	// Deactivate marks an active account deactivated (a projected fact); false when nothing matched.
	Deactivate(ctx context.Context, id, reason string, at time.Time, revoke account.Revocation) (bool, error)
	// ClearRevocation forgets the pending revocation revocationID.
	ClearRevocation(ctx context.Context, id, revocationID string) error
	// RevocationsPending lists accounts whose pending revocation was ordered before the given time.
	RevocationsPending(ctx context.Context, before time.Time, limit int) ([]account.Account, error)
	// SetVerifiedPhone makes phone the active account's verified phone and forgets a pending one; a
	// clash with another account's number is the driver's duplicate-key error. False: no match.
	SetVerifiedPhone(ctx context.Context, id, phone string) (bool, error)
	// ReleaseUnverifiedPhoneElsewhere takes phone from another account holding it unverified and
	// returns that account.
	ReleaseUnverifiedPhoneElsewhere(ctx context.Context, id, phone string) (string, bool, error)
	// RemoveEmailKeepingVerifiedPhone removes the account's e-mail while it is still email and a
	// verified phone stays (one conditional write); false when that no longer holds.
	RemoveEmailKeepingVerifiedPhone(ctx context.Context, id, email string) (bool, error)
}

// Devices is the trusted-device store the flows need.
type Devices interface {
	// Find returns the trusted device, or device.ErrNotFound.
	Find(ctx context.Context, accountID, deviceID string) (device.TrustedDevice, error)
	// Trust records d as trusted (insert, or refresh name, platform and lastUsedAt).
	Trust(ctx context.Context, d device.TrustedDevice) (device.TrustedDevice, error)
	// Touch sets lastUsedAt.
	Touch(ctx context.Context, accountID, deviceID string, at time.Time) error
	// List returns the account's trusted devices.
	List(ctx context.Context, accountID string) ([]device.TrustedDevice, error)
	// Revoke removes the account's trusted device with key id id, or returns device.ErrNotFound.
	Revoke(ctx context.Context, accountID, id string) error
	// ListAll returns the account's trusted devices, and the revoked ones too when withRevoked.
	ListAll(ctx context.Context, accountID string, withRevoked bool) ([]device.TrustedDevice, error)
	// RecordSignIn remembers the device a session started on and counts the sign-in.
	RecordSignIn(ctx context.Context, in device.SignIn) error
	// SessionDevice returns the device id a session of the account started on, or device.ErrNotFound.
	SessionDevice(ctx context.Context, accountID, sessionID string) (string, error)
	// Count returns how many devices the account trusts.
	Count(ctx context.Context, accountID string) (int, error)
}

// Providers is the linked-provider store the flows need.
type Providers interface {
	// Link inserts l; oauth.ErrLinkedElsewhere or oauth.ErrAlreadyLinked on a clash.
	Link(ctx context.Context, l oauth.Link) error
	// ByIdentity returns the link of a provider account, or oauth.ErrNotLinked.
	ByIdentity(ctx context.Context, provider, subject string) (oauth.Link, error)
	ListByAccount(ctx context.Context, accountID string) ([]oauth.Link, error)
	// Unlink removes the account's link to provider and reports whether there was one.
	Unlink(ctx context.Context, accountID, provider string) (bool, error)
	// Delete removes a link by id.
	Delete(ctx context.Context, id string) error
	// CountByAccount returns how many providers the account has linked (for the security score).
	CountByAccount(ctx context.Context, accountID string) (int, error)
	// LockSignInMethods serializes the changes that remove one of the account's sign-in methods
	// (checked against the others, which live in other documents); call the release when done.
	LockSignInMethods(ctx context.Context, accountID string) (release func(), err error)
	// ClaimIDToken records the use of a verified ID token; oauth.ErrTokenReplayed when it was used.
	ClaimIDToken(ctx context.Context, id oauth.Identity, at time.Time) error
}

// IDTokens verifies provider ID tokens (see oauth.Verifier).
type IDTokens interface {
	Verify(ctx context.Context, provider, rawToken, nonce string) (oauth.Identity, error)
}

// Sessions starts and ends sessions in the session service.
type Sessions interface {
	// Start returns the new session's tokens; errors wrap ErrSessionUnavailable when the session
	// service cannot be used.
	Start(ctx context.Context, r SessionRequest) (Tokens, error)
	// Revoke ends the account's sessions except exceptSessionID (empty: all) and returns how many.
	Revoke(ctx context.Context, accountID, exceptSessionID, reason string) (int, error)
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
	Location  string // approximate, from the trusted ingress (LOCATION_HEADER); may be empty
}

// SessionRequest asks for a session of an account on a device.
type SessionRequest struct {
	AccountID string
	Device    device.Info
	Client    Client
	// Assurance is how the person proved who they are (amr, acr, auth_time in the access tokens).
	Assurance Assurance
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

// Config are the brute-force limits (see throttle.go). A zero Limit is no limit.
type Config struct {
	LoginPerIP              throttle.Limit   // failed logins (password and provider) from one IP
	LoginFailuresPerAccount throttle.Limit   // failed logins of one account (or unknown identifier) from all but its trusted devices
	LoginBackoff            throttle.Backoff // failed logins of one account from one client; failed re-auth passwords of one account
	CodeVerifyPerIP         throttle.Limit   // wrong codes answered from one IP (any flow)
	CodeFailuresPerAccount  throttle.Limit   // wrong codes of one account from one IP, in account-bound flows
	CodeSendPerIP           throttle.Limit   // codes requested from one IP by signed-in and reset flows
	PasskeyBeginsPerIP      throttle.Limit   // passwordless sign-ins begun from one IP (each stores a ceremony)
	// AllowIPs are exempt from every per-IP limit (never from a per-account one).
	AllowIPs     throttle.AllowList
	Registration RegistrationLimits
	// Step-up (stepup.go, emailchange.go); zero values take the defaults there.
	StepUpTTL         time.Duration // how long a step-up token is valid
	EmailRevertPeriod time.Duration // how long the link undoing an e-mail change works
	EmailRevertURL    string        // the page the link opens; the token is appended as #token=
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
	// Providers and IDTokens serve provider linking and sign-in.
	Providers Providers
	IDTokens  IDTokens
	// AccessTokens, when set, proves provider accounts by access token (Google, GitHub); without it
	// only ID tokens are accepted.
	AccessTokens AccessTokens
	// Reservations, when set, keeps registration off usernames reserved for their previous owner.
	Reservations Reservations
	// StepUps keeps step-up tokens and e-mail change reverts; without it no step-up token is accepted.
	StepUps StepUps
	// APIKeys ends every API key of an account on a password reset, a deactivation and, when asked,
	// a password change. Required once any of those can happen.
	APIKeys APIKeyRevoker
	// Projections, when set, receives account events synchronously (read-your-own-writes).
	Projections Projections
	// Captcha, when set, verifies the CAPTCHA tokens asked for after Registration.CaptchaAfter
	// sends or failures from one address.
	Captcha Captcha
	// BreachedPasswords, when set, refuses new passwords that appeared in a data breach (breached.go);
	// without it only the password policy applies.
	BreachedPasswords BreachedPasswords
	// The second factors beside codes by channel (factors.go); nil: the factor is not offered.
	Authenticators Authenticators
	RecoveryCodes  RecoveryCodes
	Passkeys       Passkeys
	// TwoFactors keeps the sign-ins' two-factor challenges (secondfactor.go); when nil, StepUps is
	// used if it keeps them too (store.StepUps does).
	TwoFactors TwoFactorChallenges
	// Deletion schedules and carries out account deletion (deletion.go); zero: off.
	Deletion Deletion
}

// Service runs the flows.
type Service struct {
	cfg Config
	Deps
	now   func() time.Time
	notMe *NotMeDeps // "this wasn't me" (notme.go); nil: off
}

// NewService returns a Service.
func NewService(cfg Config, d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if tf, ok := d.StepUps.(TwoFactorChallenges); ok && d.TwoFactors == nil {
		d.TwoFactors = tf
	}
	return &Service{cfg: cfg, Deps: d, now: time.Now}
}

// WithClock returns a copy of s that reads the time from now.
func (s *Service) WithClock(now func() time.Time) *Service {
	c := *s
	c.now = now
	return &c
}

// startSession starts a session of a on device d; method is how the person signed in
// (device.MethodPassword, device.MethodOTP, device.MethodOAuthPrefix+provider), recorded on the device,
// and amr the factors proven (AMR* values), which the access tokens carry.
func (s *Service) startSession(ctx context.Context, a account.Account, d device.Info, cl Client, method string, amr ...string) (SignedIn, error) {
	t, err := s.Sessions.Start(ctx, SessionRequest{AccountID: a.ID, Device: d, Client: cl, Assurance: assure(s.now(), amr...)})
	if err != nil {
		return SignedIn{}, err
	}
	if d.DeviceID != "" {
		// Best effort: only the device list's "current" mark, sign-in counts and last sign-in facts depend on it.
		if err := s.Devices.RecordSignIn(ctx, device.SignIn{
			AccountID: a.ID, DeviceID: d.DeviceID, SessionID: t.SessionID, IP: cl.IP, UserAgent: cl.UserAgent,
			Location: cl.Location, Method: method, Timezone: d.Timezone, At: s.now().UTC(),
		}); err != nil {
			s.Logger.WarnContext(ctx, "record session device", "account_id", a.ID, "err", err)
		}
	}
	s.recordSignIn(ctx, a, d, cl, method, t.SessionID)
	return SignedIn{Account: a, Tokens: t}, nil
}

func (s *Service) trust(ctx context.Context, accountID string, d device.Info) error {
	now := s.now().UTC()
	_, err := s.Devices.Trust(ctx, device.TrustedDevice{
		ID: events.NewID(), AccountID: accountID, DeviceID: d.DeviceID, DeviceName: d.DeviceName,
		Platform: d.Platform, Timezone: d.Timezone, CreatedAt: now, LastUsedAt: now,
	})
	return err
}

// trustProvenDevice records d as trusted after a second factor or a passkey proved the sign-in on it:
// a device already trusted is refreshed (best effort), a new one is trusted and its owner alerted.
func (s *Service) trustProvenDevice(ctx context.Context, a account.Account, d device.Info, cl Client) error {
	switch _, err := s.Devices.Find(ctx, a.ID, d.DeviceID); {
	case err == nil:
		if _, err := s.Devices.Trust(ctx, device.TrustedDevice{AccountID: a.ID, DeviceID: d.DeviceID,
			DeviceName: d.DeviceName, Platform: d.Platform, LastUsedAt: s.now().UTC()}); err != nil {
			s.Logger.WarnContext(ctx, "touch trusted device", "account_id", a.ID, "err", err)
		}
	case errors.Is(err, device.ErrNotFound):
		if err := s.trust(ctx, a.ID, d); err != nil {
			return fmt.Errorf("trust device: %w", err)
		}
		s.alertNewDevice(ctx, a, d, cl)
	default:
		return fmt.Errorf("find trusted device: %w", err)
	}
	return nil
}
