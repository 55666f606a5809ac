package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// The second factors of an account are its codes by channel (account.TwoFactorEnabled, POST
// /api/v1/account/2fa/enable), its authenticator app (Authenticators) and its passkeys (Passkeys);
// recovery codes (RecoveryCodes) are a fallback beside them, never a factor of their own. With any of
// them on, a sign-in (password or provider, trusted device or not) answers a two_factor challenge that
// lists the methods the account can use, strongest first, and accepts any of them.

// Errors of the two-factor challenge.
var (
	// ErrMethodNotOffered: the challenge does not list the asked method (or it cannot get a code).
	ErrMethodNotOffered = errors.New("this second-factor method is not available for this sign-in")
	// ErrTwoFactorChallengeNotFound: the store's answer for an unknown, expired or answered challenge.
	ErrTwoFactorChallengeNotFound = errors.New("two-factor challenge not found")
)

// maxTwoFactorTries bounds the answers to one two-factor challenge, whatever their method (as a
// code's tries bound the answers to it).
const maxTwoFactorTries = 5

// TwoFactorChallenge is a sign-in waiting for its second factor; only the hash of its token is kept.
type TwoFactorChallenge struct {
	ID        string
	TokenHash string
	AccountID string
	DeviceID  string // the device of the sign-in; may be empty (provider sign-in without one)
	// FirstFactor is the amr value of the first factor: AMRPassword or AMRFederated.
	FirstFactor string
	// SignInMethod is recorded on the device (device.Method*).
	SignInMethod string
	// Methods are the Factor* methods the account could use when the challenge was issued.
	Methods []string
	// CodeChannel (a Factor* code method) and CodeDestination say where the last code went, if any.
	CodeChannel     string
	CodeDestination string
	IssuedAt        time.Time
	ExpiresAt       time.Time
}

// TwoFactorChallenges keeps two-factor challenges.
type TwoFactorChallenges interface {
	InsertTwoFactor(ctx context.Context, c TwoFactorChallenge) error
	// TwoFactorByHash returns the challenge with the token hash that is neither expired at now nor
	// answered, or ErrTwoFactorChallengeNotFound.
	TwoFactorByHash(ctx context.Context, hash string, now time.Time) (TwoFactorChallenge, error)
	// SetTwoFactorCode records where the challenge's last code went.
	SetTwoFactorCode(ctx context.Context, id, channel, destination string) error
	// ClaimTwoFactorTry takes one of max tries of c: its number, or 0 when all are used (of concurrent
	// calls at most max get one).
	ClaimTwoFactorTry(ctx context.Context, c TwoFactorChallenge, max int) (int, error)
	// ConsumeTwoFactor marks c answered; exactly one of concurrent calls is true.
	ConsumeTwoFactor(ctx context.Context, c TwoFactorChallenge, now time.Time) (bool, error)
}

// codeMethods are the code channels a two-factor challenge may list, in the order listed.
var codeMethods = []string{FactorEmail, FactorSMS, FactorWhatsApp}

// IsCodeMethod reports whether method is a code sent by a channel.
func IsCodeMethod(method string) bool { return slices.Contains(codeMethods, method) }

// channelOf is the events.Channel* of a code method.
func channelOf(method string) string {
	switch method {
	case FactorEmail:
		return events.ChannelEmail
	case FactorSMS:
		return events.ChannelSMS
	case FactorWhatsApp:
		return events.ChannelWhatsApp
	}
	return ""
}

// Factors are an account's second factors, as security-info shows them and sign-in offers them.
type Factors struct {
	Codes                  bool     // codes by channel (POST /api/v1/account/2fa/enable)
	CodeChannels           []string // the code methods with a verified destination, when Codes
	TOTP                   bool
	Passkeys               int
	RecoveryCodesRemaining int
	RecoveryCodesOffered   bool // the deployment offers recovery codes
}

// On reports whether any second factor is on (recovery codes alone are none).
func (f Factors) On() bool { return f.Codes || f.TOTP || f.Passkeys > 0 }

// Methods lists what a sign-in of the account can answer with, strongest first: webauthn, totp,
// recovery_code (only while codes remain and a factor is on), then the code channels.
func (f Factors) Methods() []string {
	var out []string
	if f.Passkeys > 0 {
		out = append(out, FactorWebAuthn)
	}
	if f.TOTP {
		out = append(out, FactorTOTP)
	}
	if f.On() && f.RecoveryCodesRemaining > 0 {
		out = append(out, FactorRecoveryCode)
	}
	if f.Codes {
		out = append(out, f.CodeChannels...)
	}
	return out
}

// FactorsOf returns the second factors of a.
func (s *Service) FactorsOf(ctx context.Context, a account.Account) (Factors, error) {
	var f Factors
	f.Codes = a.TwoFactorEnabled
	if a.IsEmailVerified() {
		f.CodeChannels = append(f.CodeChannels, FactorEmail)
	}
	if a.IsPhoneVerified() {
		f.CodeChannels = append(f.CodeChannels, FactorSMS, FactorWhatsApp)
	}
	var err error
	if s.Authenticators != nil {
		if f.TOTP, err = s.Authenticators.Enrolled(ctx, a.ID); err != nil {
			return Factors{}, fmt.Errorf("authenticator enrolled: %w", err)
		}
	}
	if s.Passkeys != nil {
		if f.Passkeys, err = s.Passkeys.Count(ctx, a.ID); err != nil {
			return Factors{}, fmt.Errorf("count passkeys: %w", err)
		}
	}
	f.RecoveryCodesOffered = s.RecoveryCodes != nil
	// Recovery codes stand in for a factor only while one is on (and are forgotten with the last one):
	// the sign-in of an account without a factor need not count them.
	if s.RecoveryCodes != nil && f.On() {
		if f.RecoveryCodesRemaining, err = s.RecoveryCodes.Remaining(ctx, a.ID); err != nil {
			return Factors{}, fmt.Errorf("count recovery codes: %w", err)
		}
	}
	return f, nil
}

// twoFactorBinding ties a passkey ceremony to one two-factor challenge.
func twoFactorBinding(challengeID string) string { return "2fa:" + challengeID }

// stepUpBinding ties a passkey ceremony to a step-up of one session.
func stepUpBinding(accountID, sessionID string) string {
	return "stepup:" + accountID + ":" + sessionID
}

// beginTwoFactor issues the two-factor challenge of a sign-in of a whose first factor (AMRPassword or
// AMRFederated) is proven. When only code methods exist a code goes at once to the verified e-mail
// (the phone by SMS without one), as always; when a stronger method exists nothing is sent until the
// client asks (SendTwoFactorCode). Fail closed: no usable method is ErrNoSecondFactor.
func (s *Service) beginTwoFactor(ctx context.Context, a account.Account, f Factors, deviceID, firstFactor, signInMethod string) (*DeviceChallenge, error) {
	methods := f.Methods()
	if len(methods) == 0 {
		return nil, ErrNoSecondFactor
	}
	if s.TwoFactors == nil {
		return nil, errors.New("two-factor challenges: no store configured")
	}
	token, err := otp.NewToken(TwoFactorTokenPrefix)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c := TwoFactorChallenge{
		ID: events.NewID(), TokenHash: hashSecret(token), AccountID: a.ID, DeviceID: deviceID,
		FirstFactor: firstFactor, SignInMethod: signInMethod, Methods: methods,
		IssuedAt: now, ExpiresAt: now.Add(s.Codes.TTL()),
	}
	ch := &DeviceChallenge{Token: token, ExpiresIn: s.Codes.TTL(), Methods: methods}
	if IsCodeMethod(methods[0]) {
		// Only codes: send one at once (what 2FA always did).
		method := FactorEmail
		if !a.IsEmailVerified() {
			method = FactorSMS
		}
		dest, err := destinationFor(a, channelOf(method))
		if err != nil {
			return nil, ErrNoSecondFactor
		}
		sent, err := s.Codes.Send(ctx, otp.Request{Purpose: events.PurposeTwoFactor, Channel: channelOf(method), Destination: dest, AccountID: a.ID, DeviceID: deviceID})
		if err != nil {
			return nil, err
		}
		c.CodeChannel, c.CodeDestination, ch.MaskedValue = method, dest, sent.MaskedValue
	}
	if methods[0] == FactorWebAuthn {
		if ch.WebAuthn, err = s.Passkeys.BeginAssertion(ctx, a.ID, twoFactorBinding(c.ID)); err != nil {
			return nil, fmt.Errorf("begin passkey assertion: %w", err)
		}
	}
	if err := s.TwoFactors.InsertTwoFactor(ctx, c); err != nil {
		return nil, fmt.Errorf("store two-factor challenge: %w", err)
	}
	return ch, nil
}

// liveTwoFactor finds the live challenge of token; unknown tokens count against the IP's code limit
// (they are guesses) and are ErrInvalidCode.
func (s *Service) liveTwoFactor(ctx context.Context, token, ip string) (TwoFactorChallenge, error) {
	if s.TwoFactors == nil || strings.TrimSpace(token) == "" {
		return TwoFactorChallenge{}, ErrInvalidCode
	}
	c, err := s.TwoFactors.TwoFactorByHash(ctx, hashSecret(token), s.now().UTC())
	if errors.Is(err, ErrTwoFactorChallengeNotFound) {
		if ferr := s.failIP(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); ferr != nil {
			return TwoFactorChallenge{}, ferr
		}
		return TwoFactorChallenge{}, ErrInvalidCode
	}
	if err != nil {
		return TwoFactorChallenge{}, fmt.Errorf("find two-factor challenge: %w", err)
	}
	return c, nil
}

// SendTwoFactorCode sends a code of the two-factor challenge of token to the channel method (one of
// the challenge's code methods), throttled like other code sends (per IP, destination, account).
// Errors: ErrInvalidCode (unknown token), ErrMethodNotOffered, *throttle.ExceededError.
func (s *Service) SendTwoFactorCode(ctx context.Context, token, method, ip string) (CodeSent, error) {
	if err := s.checkIP(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); err != nil {
		return CodeSent{}, err
	}
	c, err := s.liveTwoFactor(ctx, token, ip)
	if err != nil {
		return CodeSent{}, err
	}
	if !IsCodeMethod(method) || !slices.Contains(c.Methods, method) {
		return CodeSent{}, ErrMethodNotOffered
	}
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return CodeSent{}, ErrInvalidCode
	}
	dest, err := destinationFor(a, channelOf(method))
	if err != nil {
		return CodeSent{}, ErrMethodNotOffered
	}
	if err := s.hitIP(ctx, ScopeCodeSendIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return CodeSent{}, err
	}
	sent, err := s.Codes.Send(ctx, otp.Request{Purpose: events.PurposeTwoFactor, Channel: channelOf(method), Destination: dest, AccountID: a.ID, DeviceID: c.DeviceID})
	if err != nil {
		return CodeSent{}, err
	}
	if err := s.TwoFactors.SetTwoFactorCode(ctx, c.ID, method, dest); err != nil {
		return CodeSent{}, fmt.Errorf("record two-factor code: %w", err)
	}
	return CodeSent{MaskedValue: sent.MaskedValue, ExpiresIn: s.Codes.TTL()}, nil
}

// TwoFactorVerification answers a two-factor challenge. Device.DeviceID may be empty (the device of
// the sign-in is used); when given it must be that device. Method is a Factor* value; empty means the
// code that was sent (the body before methods existed). Code answers totp, recovery_code and the code
// methods; Assertion (the PublicKeyCredential JSON) answers webauthn.
type TwoFactorVerification struct {
	Token     string
	Method    string
	Code      string
	Assertion json.RawMessage
	Device    device.Info
	Client    Client
}

// VerifyTwoFactor checks the second factor of a sign-in and starts a session whose amr holds both
// factors. The second factor also proves the device: an untrusted one becomes trusted (and the owner
// is alerted of the new device). Every failure is ErrInvalidCode; answers are limited per IP, wrong
// ones per account, and every answer takes one of the challenge's tries.
func (s *Service) VerifyTwoFactor(ctx context.Context, in TwoFactorVerification) (_ SignedIn, err error) {
	defer func() { observeCodeStep(stepTwoFactorCode, err) }()
	if err := s.checkIP(ctx, ScopeCodeVerifyIP, in.Client.IP, s.cfg.CodeVerifyPerIP); err != nil {
		return SignedIn{}, err
	}
	c, err := s.liveTwoFactor(ctx, in.Token, in.Client.IP)
	if err != nil {
		return SignedIn{}, err
	}
	method := in.Method
	if method == "" {
		method = c.CodeChannel // the old body answers the code that was sent
	}
	var amr []string
	err = s.verifyAccountCode(ctx, account.Account{ID: c.AccountID}, in.Client.IP, func() error {
		if method == "" || !slices.Contains(c.Methods, method) {
			return ErrInvalidCode
		}
		try, err := s.TwoFactors.ClaimTwoFactorTry(ctx, c, maxTwoFactorTries)
		if err != nil {
			return fmt.Errorf("claim two-factor try: %w", err)
		}
		if try == 0 || in.Device.DeviceID != "" && in.Device.DeviceID != c.DeviceID {
			return ErrInvalidCode
		}
		if amr, err = s.checkSecondFactor(ctx, c, method, in); err != nil {
			return err
		}
		ok, err := s.TwoFactors.ConsumeTwoFactor(ctx, c, s.now().UTC())
		if err != nil {
			return fmt.Errorf("consume two-factor challenge: %w", err)
		}
		if !ok {
			return ErrInvalidCode
		}
		return nil
	})
	if errors.Is(err, ErrInvalidCode) { // the password was right: the owner sees a second factor failing
		s.recordCodeFailure(ctx, c.AccountID, SignInTwoFactorFailed, in.Device, in.Client)
	}
	if err != nil {
		return SignedIn{}, err
	}
	a, err := s.Accounts.ByID(ctx, c.AccountID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return SignedIn{}, ErrInvalidCode
	case err != nil:
		return SignedIn{}, fmt.Errorf("load account: %w", err)
	case a.Status == account.StatusLocked:
		return SignedIn{}, ErrAccountLocked
	case !a.CanSignIn():
		return SignedIn{}, ErrInvalidCode
	}
	if method == FactorRecoveryCode {
		remaining, err := s.RecoveryCodes.Remaining(ctx, a.ID)
		if err != nil {
			s.Logger.WarnContext(ctx, "count remaining recovery codes", "account_id", a.ID, "err", err)
			remaining = -1
		}
		s.AlertRecoveryCodeUsed(ctx, a, remaining, in.Client)
	}
	amr = append([]string{c.FirstFactor}, amr...)
	ctx = withSecondFactor(ctx, method)
	in.Device.DeviceID = c.DeviceID
	signInMethod := c.SignInMethod
	if signInMethod == "" {
		signInMethod = device.MethodOTP
	}
	if in.Device.DeviceID == "" {
		// A provider sign-in without a device id: no device to trust, as without 2FA.
		return s.startSession(ctx, a, in.Device, in.Client, signInMethod, amr...)
	}
	if err := s.trustProvenDevice(ctx, a, in.Device, in.Client); err != nil {
		return SignedIn{}, err
	}
	return s.startSession(ctx, a, in.Device, in.Client, signInMethod, amr...)
}

// checkSecondFactor checks the answer of in by method for challenge c and returns the amr values it
// proves; ErrInvalidCode when it does not verify.
func (s *Service) checkSecondFactor(ctx context.Context, c TwoFactorChallenge, method string, in TwoFactorVerification) ([]string, error) {
	now := s.now().UTC()
	switch method {
	case FactorTOTP:
		if s.Authenticators == nil {
			return nil, ErrInvalidCode
		}
		ok, err := s.Authenticators.Verify(ctx, c.AccountID, in.Code, now)
		if err != nil || !ok {
			return nil, orInvalid(err)
		}
		return []string{AMROTP}, nil
	case FactorRecoveryCode:
		if s.RecoveryCodes == nil {
			return nil, ErrInvalidCode
		}
		ok, err := s.RecoveryCodes.Redeem(ctx, c.AccountID, in.Code, now)
		if err != nil || !ok {
			return nil, orInvalid(err)
		}
		return []string{AMROTP}, nil
	case FactorWebAuthn:
		if s.Passkeys == nil || len(in.Assertion) == 0 {
			return nil, ErrInvalidCode
		}
		amr, ok, err := s.Passkeys.FinishAssertion(ctx, c.AccountID, twoFactorBinding(c.ID), in.Assertion)
		if err != nil || !ok {
			return nil, orInvalid(err)
		}
		return amr, nil
	case FactorEmail, FactorSMS, FactorWhatsApp:
		if c.CodeChannel != method || c.CodeDestination == "" {
			return nil, ErrInvalidCode
		}
		code, err := s.Codes.VerifyForAccount(ctx, events.PurposeTwoFactor, c.CodeDestination, c.AccountID, in.Code)
		if err != nil {
			return nil, err
		}
		if code.DeviceID != c.DeviceID {
			return nil, ErrInvalidCode
		}
		return []string{codeAMR(strings.ToLower(code.Channel))}, nil
	}
	return nil, ErrInvalidCode
}

// orInvalid is err, or ErrInvalidCode when there is none (a factor that did not verify).
func orInvalid(err error) error {
	if err == nil {
		return ErrInvalidCode
	}
	return err
}
