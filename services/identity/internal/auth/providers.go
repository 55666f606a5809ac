package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// Errors of provider sign-in.
var (
	// ErrProviderEmailUnverified: an ID token of an unlinked provider account without a verified
	// e-mail, so no account can be made from it.
	ErrProviderEmailUnverified = errors.New("provider account has no verified email")
	// ErrProviderEmailInUse: the provider account is not linked, and its verified e-mail belongs to an
	// existing account. That account is never taken over: its owner signs in and links the provider.
	ErrProviderEmailInUse = errors.New("email of the provider account belongs to an existing account")
)

// LinkProvider verifies idToken (and nonce, when given) and links the provider account it names to
// the account. oauth.ErrLinkedElsewhere when another account has it, oauth.ErrAlreadyLinked when the
// account already has this provider.
func (s *Service) LinkProvider(ctx context.Context, accountID, provider, idToken, nonce string) (oauth.Link, error) {
	return s.LinkProviderWith(ctx, accountID, provider, ProviderProof{IDToken: idToken, Nonce: nonce})
}

// LinkProviderWith links the provider account proof proves (an ID token, or an access token checked
// at the provider's user-info endpoint) to the account; see proveProvider for the proof's errors.
func (s *Service) LinkProviderWith(ctx context.Context, accountID, provider string, proof ProviderProof) (oauth.Link, error) {
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return oauth.Link{}, err
	}
	id, err := s.proveProvider(ctx, provider, proof)
	if err != nil {
		return oauth.Link{}, err
	}
	l := oauth.Link{ID: events.NewID(), AccountID: a.ID, Provider: provider, Subject: id.Subject, LinkedAt: s.now().UTC()}
	if id.EmailVerified {
		l.Email = id.Email
	}
	if err := s.Providers.Link(ctx, l); err != nil {
		return oauth.Link{}, err
	}
	s.alertOrLog(ctx, a, events.AlertProviderLinked, map[string]string{"provider": provider})
	return l, nil
}

// UnlinkProvider removes the account's link to provider: oauth.ErrNotLinked when there is none,
// ErrLastSignInMethod when it is the account's only way to sign in.
func (s *Service) UnlinkProvider(ctx context.Context, accountID, provider string) error {
	// Under the lease, two unlinks of the last two methods cannot both pass the check below.
	release, err := s.Providers.LockSignInMethods(ctx, accountID)
	if err != nil {
		return err
	}
	defer release()
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return err
	}
	links, err := s.Providers.ListByAccount(ctx, accountID)
	if err != nil {
		return fmt.Errorf("list providers: %w", err)
	}
	found := false
	for _, l := range links {
		found = found || l.Provider == provider
	}
	if !found {
		return oauth.ErrNotLinked
	}
	if SignInMethods(a, len(links)-1) == 0 {
		return ErrLastSignInMethod
	}
	ok, err := s.Providers.Unlink(ctx, accountID, provider)
	if err != nil {
		return err
	}
	if !ok {
		return oauth.ErrNotLinked
	}
	s.alertOrLog(ctx, a, events.AlertProviderUnlinked, map[string]string{"provider": provider})
	return nil
}

// ListProviders returns the account's linked providers.
func (s *Service) ListProviders(ctx context.Context, accountID string) ([]oauth.Link, error) {
	return s.Providers.ListByAccount(ctx, accountID)
}

// ProviderSignIn is a sign-in with a provider's ID token, or its access token (then AccountID, when
// given, must be the account the token belongs to).
type ProviderSignIn struct {
	Provider    string
	IDToken     string
	Nonce       string
	AccessToken string
	AccountID   string
	Device      device.Info // DeviceID optional
	Client      Client
}

// SignInWithProvider verifies the ID token and starts a session for the account linked to the
// provider account. An unlinked provider account with a verified e-mail that no account uses becomes
// a new passwordless account (created is true). An unlinked provider account whose e-mail an account
// already has is refused with ErrProviderEmailInUse: linking needs the owner signed in. ID tokens
// that do not verify count against the login failure limit per IP.
//
// The provider authenticated the person, so the device is trusted (a new one is reported to the
// owner with a new-device alert) — unless the account has two-factor sign-in on: then the answer is
// a two-factor challenge, finished with VerifyTwoFactor like a password login's.
func (s *Service) SignInWithProvider(ctx context.Context, in ProviderSignIn) (res ProviderResult, err error) {
	if err := s.checkIP(ctx, ScopeLoginIP, in.Client.IP, s.cfg.LoginPerIP); err != nil {
		return ProviderResult{}, err
	}
	// A captured ID token cannot sign in again (proveProvider claims it).
	id, err := s.proveProvider(ctx, in.Provider, ProviderProof{IDToken: in.IDToken, Nonce: in.Nonce, AccessToken: in.AccessToken, AccountID: in.AccountID})
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidToken) && !errors.Is(err, oauth.ErrTokenReplayed) || errors.Is(err, ErrProviderAccountMismatch) {
			if ferr := s.failIP(ctx, ScopeLoginIP, in.Client.IP, s.cfg.LoginPerIP); ferr != nil {
				return ProviderResult{}, ferr
			}
		}
		return ProviderResult{}, err
	}
	var a account.Account
	switch l, err := s.Providers.ByIdentity(ctx, id.Provider, id.Subject); {
	case err == nil:
		if a, err = s.Accounts.ByID(ctx, l.AccountID); err != nil && !errors.Is(err, account.ErrNotFound) {
			return ProviderResult{}, fmt.Errorf("load account: %w", err)
		}
		if err == nil && a.Status == account.StatusLocked {
			return ProviderResult{}, ErrAccountLocked
		}
		if err != nil || !a.CanSignIn() {
			return ProviderResult{}, ErrInvalidCredentials
		}
	case errors.Is(err, oauth.ErrNotLinked):
		if a, err = s.createFromProvider(ctx, id); err != nil {
			return ProviderResult{}, err
		}
		res.Created = true
	default:
		return ProviderResult{}, fmt.Errorf("find provider link: %w", err)
	}
	// The provider is one factor: an account with two-factor sign-in on answers the same challenge
	// as a password login, before any device is trusted or session started. VerifyTwoFactor then
	// trusts the device (alerting the owner of a new one), as after a password login.
	factors, err := s.FactorsOf(ctx, a)
	if err != nil {
		return ProviderResult{}, err
	}
	if factors.On() {
		ch, err := s.beginTwoFactor(ctx, a, factors, in.Device.DeviceID, AMRFederated, device.MethodOTP) // fails closed as a password login
		if err != nil {
			return ProviderResult{}, err
		}
		res.TwoFactor = ch
		return res, nil
	}
	if in.Device.DeviceID != "" {
		if err := s.trustAfterProvider(ctx, a, in, res.Created); err != nil {
			return ProviderResult{}, err
		}
	}
	signed, err := s.startSession(ctx, a, in.Device, in.Client, device.MethodOAuthPrefix+in.Provider, AMRFederated)
	if err != nil {
		return ProviderResult{}, err
	}
	res.SignedIn = &signed
	return res, nil
}

// ProviderResult is a provider sign-in's outcome: a session, or a two-factor challenge for an
// account with 2FA on. Created tells that the sign-in made a new account.
type ProviderResult struct {
	SignedIn  *SignedIn
	TwoFactor *DeviceChallenge
	Created   bool
}

func (s *Service) createFromProvider(ctx context.Context, id oauth.Identity) (account.Account, error) {
	if id.Email == "" || !id.EmailVerified {
		return account.Account{}, ErrProviderEmailUnverified
	}
	id.Email = account.NormalizeEmail(id.Email) // one form of an internationalised domain
	switch _, err := s.Accounts.ByEmail(ctx, id.Email); {
	case err == nil:
		return account.Account{}, ErrProviderEmailInUse
	case !errors.Is(err, account.ErrNotFound):
		return account.Account{}, fmt.Errorf("look up email: %w", err)
	}
	now := s.now().UTC()
	a := account.Account{
		ID: events.NewID(), Email: id.Email, EmailVerified: true, Status: account.StatusActive,
		CreatedAt: now, UpdatedAt: now,
	}
	// The link first: of two concurrent first sign-ins only one gets it, and the loser creates no
	// account.
	l := oauth.Link{ID: events.NewID(), AccountID: a.ID, Provider: id.Provider, Subject: id.Subject, Email: id.Email, LinkedAt: now}
	if err := s.Providers.Link(ctx, l); err != nil {
		return account.Account{}, err
	}
	if err := s.Accounts.Create(ctx, a); err != nil {
		if derr := s.Providers.Delete(ctx, l.ID); derr != nil {
			s.Logger.ErrorContext(ctx, "remove link of account not created", "link_id", l.ID, "err", derr)
		}
		if errors.Is(err, account.ErrEmailTaken) {
			return account.Account{}, ErrProviderEmailInUse
		}
		return account.Account{}, fmt.Errorf("create account: %w", err)
	}
	if err := s.publishCreated(ctx, a); err != nil {
		s.Logger.ErrorContext(ctx, "queue account.created failed; will retry", "account_id", a.ID, "err", err)
	}
	a.Version = 1
	if err := s.publishSnapshot(ctx, a); err != nil {
		s.Logger.WarnContext(ctx, "queue account.updated failed; will retry", "account_id", a.ID, "err", err)
	}
	return a, nil
}

func (s *Service) trustAfterProvider(ctx context.Context, a account.Account, in ProviderSignIn, created bool) error {
	_, err := s.Devices.Find(ctx, a.ID, in.Device.DeviceID)
	switch {
	case err == nil:
		return s.Devices.Touch(ctx, a.ID, in.Device.DeviceID, s.now().UTC())
	case !errors.Is(err, device.ErrNotFound):
		return fmt.Errorf("find trusted device: %w", err)
	}
	if err := s.trust(ctx, a.ID, in.Device); err != nil {
		return fmt.Errorf("trust device: %w", err)
	}
	if !created {
		s.alertOrLog(withNotMeOrigin(ctx, "", in.Device.DeviceID), a, events.AlertNewDeviceSignIn, map[string]string{
			"device": in.Device.DeviceName, "platform": in.Device.Platform, "ipAddress": in.Client.IP, "provider": in.Provider,
		})
		s.RecordActivity(ctx, a.ID, ActivityFrom(events.ActivityDeviceVerified, in.Device, in.Client))
	}
	return nil
}

// ListDevices returns the account's trusted devices and the device id of the session sessionID
// ("" when identity did not start it on a known device).
func (s *Service) ListDevices(ctx context.Context, accountID, sessionID string) ([]device.TrustedDevice, string, error) {
	return s.ListDevicesAll(ctx, accountID, sessionID, false)
}

// ListDevicesAll is ListDevices with the revoked devices too when withRevoked.
func (s *Service) ListDevicesAll(ctx context.Context, accountID, sessionID string, withRevoked bool) ([]device.TrustedDevice, string, error) {
	list, err := s.Devices.ListAll(ctx, accountID, withRevoked)
	if err != nil {
		return nil, "", err
	}
	current := ""
	if sessionID != "" {
		switch d, err := s.Devices.SessionDevice(ctx, accountID, sessionID); {
		case err == nil:
			current = d
		case !errors.Is(err, device.ErrNotFound):
			return nil, "", err
		}
	}
	return list, current, nil
}

// RevokeDevice forgets the account's trusted device with key id id; the next sign-in from it needs
// device verification again. device.ErrNotFound for an unknown id or another account's device.
func (s *Service) RevokeDevice(ctx context.Context, accountID, id string) error {
	return s.Devices.Revoke(ctx, accountID, id)
}
