package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
)

// ScopePasskeyBeginIP counts the passwordless sign-ins begun from one address.
const ScopePasskeyBeginIP = "passkey_begin_ip"

// DeviceMethodPasskey is the sign-in method a passwordless passkey sign-in records on the device.
const DeviceMethodPasskey = "passkey"

var (
	// ErrPasskeyInvalid: a passkey answer that does not verify, or a ceremony that is unknown, expired
	// or used.
	ErrPasskeyInvalid = errors.New("passkey assertion invalid")
	// ErrPasskeysUnavailable: passkeys are not configured (Deps.Passkeys is nil or cannot sign in
	// without an account named).
	ErrPasskeysUnavailable = errors.New("passkeys are not enabled")
)

// PasskeySignIns are Passkeys that also sign in without an account named (discoverable credentials,
// passwordless); package passkey implements it. The sign-in flow finds it on Deps.Passkeys.
type PasskeySignIns interface {
	Passkeys
	// BeginSignIn starts a ceremony over any discoverable passkey with user verification required:
	// the options for navigator.credentials.get and the token the finish must carry.
	BeginSignIn(ctx context.Context) (options json.RawMessage, token string, expiresIn time.Duration, err error)
	// FinishSignIn checks the assertion against the ceremony of token, which it consumes, and returns
	// the account it proves and the amr values (AMRHardwareKey or AMRSoftwareKey, and AMRUser).
	// Errors wrapping ErrPasskeyInvalid for anything that does not verify.
	FinishSignIn(ctx context.Context, token string, assertion json.RawMessage) (accountID string, amr []string, err error)
}

// PasskeyChallenge is a begun passwordless sign-in.
type PasskeyChallenge struct {
	Options   json.RawMessage
	Token     string
	ExpiresIn time.Duration
}

// PasskeySignIn answers a PasskeyChallenge.
type PasskeySignIn struct {
	Token     string
	Assertion json.RawMessage
	Device    device.Info
	Client    Client
}

func (s *Service) passkeySignIns() (PasskeySignIns, error) {
	if p, ok := s.Passkeys.(PasskeySignIns); ok && p != nil {
		return p, nil
	}
	return nil, ErrPasskeysUnavailable
}

// BeginPasskeySignIn starts a passwordless sign-in. An address over its failed-login limit is refused
// here already, and so is one that began too many (each begin stores a ceremony until it expires):
// *throttle.ExceededError.
func (s *Service) BeginPasskeySignIn(ctx context.Context, cl Client) (PasskeyChallenge, error) {
	p, err := s.passkeySignIns()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	if err := s.checkIP(ctx, ScopeLoginIP, cl.IP, s.cfg.LoginPerIP); err != nil {
		return PasskeyChallenge{}, err
	}
	if err := s.hitIP(ctx, ScopePasskeyBeginIP, cl.IP, s.cfg.PasskeyBeginsPerIP); err != nil {
		return PasskeyChallenge{}, err
	}
	opts, token, ttl, err := p.BeginSignIn(ctx)
	if err != nil {
		return PasskeyChallenge{}, err
	}
	return PasskeyChallenge{Options: opts, Token: token, ExpiresIn: ttl}, nil
}

// SignInWithPasskey finishes a passwordless sign-in: the assertion must verify (user verification
// included) for an account that may sign in. It proves the device too, as a code would: a new device
// becomes trusted and the owner is alerted. The session carries hwk or swk (a synced passkey) and
// user. Every failure is ErrInvalidCredentials (no enumeration), counted against the IP's failed
// logins; an IP over that limit gets *throttle.ExceededError.
func (s *Service) SignInWithPasskey(ctx context.Context, in PasskeySignIn) (SignedIn, error) {
	p, err := s.passkeySignIns()
	if err != nil {
		return SignedIn{}, err
	}
	if err := s.checkIP(ctx, ScopeLoginIP, in.Client.IP, s.cfg.LoginPerIP); err != nil {
		return SignedIn{}, err
	}
	fail := func() (SignedIn, error) {
		if err := s.failIP(ctx, ScopeLoginIP, in.Client.IP, s.cfg.LoginPerIP); err != nil {
			return SignedIn{}, err
		}
		return SignedIn{}, ErrInvalidCredentials
	}
	accountID, amr, err := p.FinishSignIn(ctx, in.Token, in.Assertion)
	if errors.Is(err, ErrPasskeyInvalid) {
		return fail()
	}
	if err != nil {
		return SignedIn{}, fmt.Errorf("passkey sign-in: %w", err)
	}
	a, err := s.Accounts.ByID(ctx, accountID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return fail()
	case err != nil:
		return SignedIn{}, fmt.Errorf("load account: %w", err)
	case a.Status == account.StatusLocked:
		return SignedIn{}, ErrAccountLocked
	case !a.CanSignIn():
		return fail()
	}
	if in.Device.DeviceID != "" {
		// A passkey satisfies new-device verification: it is a possession factor bound to this RP.
		if err := s.trustProvenDevice(ctx, a, in.Device, in.Client); err != nil {
			return SignedIn{}, err
		}
	}
	return s.startSession(ctx, a, in.Device, in.Client, DeviceMethodPasskey, amr...)
}
