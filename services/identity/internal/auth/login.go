package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// Login is a sign-in attempt.
type Login struct {
	Identifier string // e-mail or username, any case
	Password   string
	Device     device.Info
	Client     Client
}

// DeviceChallenge is returned instead of tokens when the device is not trusted: a code went to the
// owner, and the client finishes with VerifyDevice.
type DeviceChallenge struct {
	Token       string
	MaskedValue string // where the code went; empty when none was sent (two-factor, stronger methods)
	ExpiresIn   time.Duration
	// Methods (two-factor challenges) lists the Factor* methods the account can answer with, strongest
	// first; WebAuthn holds the passkey assertion options when webauthn is among them.
	Methods  []string
	WebAuthn json.RawMessage
}

// LoginResult is a session, a device challenge, or a two-factor challenge (which also stands for
// the device check: one code answers both).
type LoginResult struct {
	SignedIn  *SignedIn
	Challenge *DeviceChallenge
	TwoFactor *DeviceChallenge
}

// Login checks the password and either starts a session (trusted device) or sends a device
// verification code.
//
// Unknown accounts, wrong passwords and accounts that may not sign in all answer
// ErrInvalidCredentials after the same argon2id work (a dummy hash stands in for a missing one).
// Failures are limited per IP, per (account, client) and — except from a trusted device — per account
// (per unknown identifier alike, so that throttling behaves alike for both); see throttle.go.
// *throttle.ExceededError then.
func (s *Service) Login(ctx context.Context, in Login) (res LoginResult, err error) {
	defer func() { observeLogin(res, err) }()
	a, found, err := s.findByIdentifier(ctx, in.Identifier)
	if err != nil {
		return LoginResult{}, err
	}
	lc, err := s.newLoginClient(ctx, a, found, in.Identifier, in.Device.DeviceID, in.Client.IP)
	if err != nil {
		return LoginResult{}, err
	}
	if err := s.checkLogin(ctx, lc); err != nil {
		s.recordLoginFailure(ctx, a, found, loginFailureReason(a, false, err), in)
		return LoginResult{}, err
	}

	ok, rehash := false, false
	if found && a.PasswordHash != "" {
		ok, rehash, err = s.Hasher.Verify(in.Password, a.PasswordHash)
		if hashingBusy(err) {
			return LoginResult{}, err
		}
		if err != nil {
			s.Logger.ErrorContext(ctx, "stored password hash unreadable", "account_id", a.ID, "err", err)
			ok = false
		}
	} else {
		if err := s.Hasher.VerifyDummy(in.Password); err != nil {
			return LoginResult{}, err
		}
	}
	if ok && a.Status == account.StatusLocked {
		// Told only to whoever knows the password: the lock is no account-enumeration oracle.
		return LoginResult{}, ErrAccountLocked
	}
	if !ok || !a.CanSignIn() {
		ferr := s.failLogin(ctx, lc)
		s.recordLoginFailure(ctx, a, found, loginFailureReason(a, ok, nil), in)
		if ferr != nil {
			return LoginResult{}, ferr
		}
		return LoginResult{}, ErrInvalidCredentials
	}
	s.loginSucceeded(ctx, lc)
	if a.PasswordResetRequired { // "this wasn't me": the password may be known to someone else
		return LoginResult{}, ErrPasswordResetRequired
	}
	if rehash {
		s.upgradeHash(ctx, a, in.Password)
	}

	factors, err := s.FactorsOf(ctx, a)
	if err != nil {
		return LoginResult{}, err
	}
	if factors.On() {
		// Any second factor on: every sign-in answers the two-factor challenge, which also verifies a
		// new device. Fail closed: with no usable method sign-in is refused rather than let through on
		// the password alone.
		ch, err := s.beginTwoFactor(ctx, a, factors, in.Device.DeviceID, AMRPassword, device.MethodOTP)
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{TwoFactor: ch}, nil
	}
	switch _, err := s.Devices.Find(ctx, a.ID, in.Device.DeviceID); {
	case err == nil:
		if err := s.Devices.Touch(ctx, a.ID, in.Device.DeviceID, s.now().UTC()); err != nil {
			s.Logger.WarnContext(ctx, "touch trusted device", "account_id", a.ID, "err", err)
		}
	case !errors.Is(err, device.ErrNotFound):
		return LoginResult{}, fmt.Errorf("find trusted device: %w", err)
	default:
		// A new device is verified by a code; with nowhere to send one it is refused (fail closed).
		if err := deviceVerificationAvailable(a); err != nil {
			return LoginResult{}, err
		}
		ch, err := s.sendLoginCode(ctx, a, events.PurposeDeviceVerification, TokenPrefix, in.Device.DeviceID)
		if err != nil {
			return LoginResult{}, err
		}
		// The password was right, but the device is new: the sign-in waits for the code.
		s.recordLoginFailure(ctx, a, true, SignInNewDevice, in)
		return LoginResult{Challenge: ch}, nil
	}
	signed, err := s.startSession(ctx, a, in.Device, in.Client, device.MethodPassword, AMRPassword)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{SignedIn: &signed}, nil
}

func (s *Service) findByIdentifier(ctx context.Context, identifier string) (account.Account, bool, error) {
	id := strings.TrimSpace(identifier)
	var a account.Account
	var err error
	if strings.Contains(id, "@") && !strings.HasPrefix(id, "@") {
		a, err = s.Accounts.ByEmail(ctx, account.NormalizeEmail(id))
	} else {
		a, err = s.Accounts.ByUsername(ctx, account.NormalizeUsername(id))
	}
	switch {
	case err == nil:
		return a, true, nil
	case errors.Is(err, account.ErrNotFound):
		return account.Account{}, false, nil
	}
	return account.Account{}, false, fmt.Errorf("look up account: %w", err)
}

// upgradeHash re-hashes a password whose stored hash uses weaker argon2id parameters than the
// current ones. Best effort: the login succeeds either way.
func (s *Service) upgradeHash(ctx context.Context, a account.Account, plain string) {
	h, err := s.Hasher.Hash(plain)
	if err == nil {
		err = s.Accounts.SetPasswordHash(ctx, a.ID, a.PasswordHash, h)
	}
	if err != nil {
		s.Logger.WarnContext(ctx, "upgrade password hash", "account_id", a.ID, "err", err)
	}
}

// sendLoginCode sends a sign-in code of purpose (device verification or two-factor) to the verified
// e-mail (phone when there is no verified e-mail) with a temp token bound to the account and device.
func (s *Service) sendLoginCode(ctx context.Context, a account.Account, purpose, tokenPrefix, deviceID string) (*DeviceChallenge, error) {
	req := otp.Request{
		Purpose: purpose, AccountID: a.ID, DeviceID: deviceID, WithToken: tokenPrefix,
		Channel: events.ChannelEmail, Destination: a.Email,
	}
	if !a.IsEmailVerified() {
		req.Channel, req.Destination = events.ChannelSMS, a.Phone
	}
	sent, err := s.Codes.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	return &DeviceChallenge{Token: sent.Token, MaskedValue: sent.MaskedValue, ExpiresIn: s.Codes.TTL()}, nil
}

// DeviceVerification answers a device challenge.
type DeviceVerification struct {
	Token  string
	Code   string
	Device device.Info // DeviceID must be the one of the login
	Client Client
}

// VerifyDevice checks the code sent at login, trusts the device and starts a session. Every failure
// is ErrInvalidCode; answers are limited per IP, and wrong ones per account, on top of the code's
// own tries (as for the other codes).
func (s *Service) VerifyDevice(ctx context.Context, in DeviceVerification) (_ SignedIn, err error) {
	defer func() { observeCodeStep(stepDeviceCode, err) }()
	a, c, err := s.answerLoginCode(ctx, events.PurposeDeviceVerification, in.Token, in.Client.IP, func() (otp.Challenge, error) {
		return s.Codes.VerifyToken(ctx, events.PurposeDeviceVerification, in.Token, in.Device.DeviceID, in.Code)
	})
	if errors.Is(err, ErrInvalidCode) {
		// The token names the account whose password was right (an unknown token names none).
		if holder, herr := s.Codes.Holder(ctx, events.PurposeDeviceVerification, in.Token); herr == nil {
			s.recordCodeFailure(ctx, holder, SignInDeviceCodeFailed, in.Device, in.Client)
		}
	}
	if err != nil {
		return SignedIn{}, err
	}
	if err := s.trust(ctx, a.ID, in.Device); err != nil {
		return SignedIn{}, fmt.Errorf("trust device: %w", err)
	}
	s.alertNewDevice(ctx, a, in.Device, in.Client)
	return s.startSession(ctx, a, in.Device, in.Client, device.MethodPassword, AMRPassword, codeAMR(c.Channel))
}

// answerLoginCode checks an answer to a sign-in code of purpose (verify runs the check) under the
// code limits — every answer per IP, wrong ones per account — and returns the account it signs in,
// which must still be allowed to. Every failure but throttling and store errors is ErrInvalidCode.
func (s *Service) answerLoginCode(ctx context.Context, purpose, token, ip string, verify func() (otp.Challenge, error)) (account.Account, otp.Challenge, error) {
	if err := s.checkIP(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); err != nil {
		return account.Account{}, otp.Challenge{}, err
	}
	holder, err := s.Codes.Holder(ctx, purpose, token)
	if errors.Is(err, otp.ErrInvalidCode) {
		if ferr := s.failIP(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); ferr != nil {
			return account.Account{}, otp.Challenge{}, ferr
		}
	}
	if err != nil {
		return account.Account{}, otp.Challenge{}, err
	}
	var c otp.Challenge
	err = s.verifyAccountCode(ctx, account.Account{ID: holder}, ip, func() error {
		var err error
		c, err = verify()
		return err
	})
	if err != nil {
		return account.Account{}, otp.Challenge{}, err
	}
	a, err := s.Accounts.ByID(ctx, c.AccountID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return account.Account{}, otp.Challenge{}, ErrInvalidCode
	case err != nil:
		return account.Account{}, otp.Challenge{}, fmt.Errorf("load account: %w", err)
	case a.Status == account.StatusLocked:
		return account.Account{}, otp.Challenge{}, ErrAccountLocked
	case !a.CanSignIn():
		return account.Account{}, otp.Challenge{}, ErrInvalidCode
	}
	return a, c, nil
}

func (s *Service) alertNewDevice(ctx context.Context, a account.Account, d device.Info, cl Client) {
	s.alertOrLog(withNotMeOrigin(ctx, "", d.DeviceID), a, events.AlertNewDeviceSignIn, map[string]string{
		"device": d.DeviceName, "platform": d.Platform, "ipAddress": cl.IP, "userAgent": cl.UserAgent,
	})
	s.RecordActivity(ctx, a.ID, ActivityFrom(events.ActivityDeviceVerified, d, cl))
}
