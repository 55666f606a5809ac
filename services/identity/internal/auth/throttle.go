package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// How the throttles stop attackers and not users:
//
//   - Per-IP limits count failures only (wrong passwords, wrong codes), so any number of people
//     behind one address can sign in; addresses on Config.AllowIPs are exempt from them.
//   - Failed logins of an account count per (account, client): the client is the trusted device
//     (with its IP) when the request names one of the account's trusted devices, else the IP. Each
//     client waits longer after each failure past a few free ones (Config.LoginBackoff); nobody else's
//     failures slow it down.
//   - A generous per-account ceiling (Config.LoginFailuresPerAccount) stops guessing spread over
//     many addresses; it never applies to the account's trusted devices, so it cannot lock the owner out.
//   - Wrong reset codes count against the account only while a reset is pending for it.
//
// Throttle scopes of this file (the others are in auth.go).
const (
	ScopeLoginClient       = "login_client"        // failed logins per (account, client): backoff
	ScopeReauthAccount     = "reauth_account"      // failed re-authentication passwords per account: backoff
	ScopeRegistrationIP    = "registration_ip"     // registration codes requested per IP
	ScopeRegistrationEmail = "registration_email"  // registration codes requested per address
	ScopeRegistrationDom   = "registration_domain" // registration codes requested per e-mail domain
	ScopeRegistrationAll   = "registration_global" // registration codes requested in all
	ScopeCaptchaIP         = "captcha_ip"          // sends and failures per IP before a CAPTCHA is asked
)

// RegistrationLimits limit the registration codes sent (POST /api/v1/auth/initiate-registration),
// so that nobody can mail-bomb an inbox, a domain or the service's sender reputation.
type RegistrationLimits struct {
	PerIP     throttle.Limit
	PerEmail  throttle.Limit
	PerDomain throttle.Limit
	Global    throttle.Limit
	// CaptchaAfter: once an address has used up this limit of registration sends and failed logins,
	// its next requests must carry a CAPTCHA token (only when Deps.Captcha is set).
	CaptchaAfter throttle.Limit
}

// Captcha verifies a CAPTCHA token server-side (see the captcha package).
type Captcha interface {
	Verify(ctx context.Context, token, remoteIP string) (bool, error)
}

var (
	// ErrCaptchaRequired: the address must solve a CAPTCHA first (no token was given).
	ErrCaptchaRequired = errors.New("captcha required")
	// ErrCaptchaInvalid: the CAPTCHA token did not verify.
	ErrCaptchaInvalid = errors.New("captcha invalid")
)

// ipLimited reports whether the per-IP limits apply to ip (empty for internal callers).
func (s *Service) ipLimited(ip string) bool { return ip != "" && !s.cfg.AllowIPs.Contains(ip) }

// hitIP counts an event of ip against lim.
func (s *Service) hitIP(ctx context.Context, scope, ip string, lim throttle.Limit) error {
	if !s.ipLimited(ip) {
		return nil
	}
	return s.Limiter.Hit(ctx, scope, ip, lim)
}

// checkIP reports whether ip may fail once more against lim.
func (s *Service) checkIP(ctx context.Context, scope, ip string, lim throttle.Limit) error {
	if !s.ipLimited(ip) {
		return nil
	}
	return s.Limiter.Check(ctx, scope, ip, lim)
}

// failIP counts a failure of ip against lim.
func (s *Service) failIP(ctx context.Context, scope, ip string, lim throttle.Limit) error {
	if !s.ipLimited(ip) {
		return nil
	}
	return s.Limiter.Fail(ctx, scope, ip, lim)
}

// loginClient is the client a login's failures count against for failKey: the trusted device with
// its IP when the request names one of the account's trusted devices, otherwise the IP.
type loginClient struct {
	failKey string // the account id, or "unknown:" + the identifier
	key     string // failKey + "|" + the client
	trusted bool
	ip      string
}

// newLoginClient looks up whether deviceID is one of a's trusted devices. An unknown account makes
// the same lookup, so both cost alike.
func (s *Service) newLoginClient(ctx context.Context, a account.Account, found bool, identifier, deviceID, ip string) (loginClient, error) {
	lc := loginClient{failKey: "unknown:" + strings.ToLower(strings.TrimSpace(identifier)), ip: ip}
	owner := "unknown"
	if found {
		lc.failKey, owner = a.ID, a.ID
	}
	if deviceID != "" {
		switch _, err := s.Devices.Find(ctx, owner, deviceID); {
		case err == nil:
			lc.trusted = found
		case !errors.Is(err, device.ErrNotFound):
			return loginClient{}, fmt.Errorf("find trusted device: %w", err)
		}
	}
	lc.key = lc.failKey + "|ip:" + ip
	if lc.trusted {
		lc.key = lc.failKey + "|dev:" + deviceID + "|ip:" + ip
	}
	return lc, nil
}

// checkLogin runs before the password is checked: the IP's failures, the client's backoff and —
// unless the client is a trusted device — the account's ceiling.
func (s *Service) checkLogin(ctx context.Context, lc loginClient) error {
	if err := s.checkIP(ctx, ScopeLoginIP, lc.ip, s.cfg.LoginPerIP); err != nil {
		return err
	}
	if err := s.Limiter.CheckBackoff(ctx, ScopeLoginClient, lc.key, s.cfg.LoginBackoff); err != nil {
		return err
	}
	if !lc.trusted {
		return s.Limiter.Check(ctx, ScopeLoginAccount, lc.failKey, s.cfg.LoginFailuresPerAccount)
	}
	return nil
}

// failLogin counts a failed login against the IP, the client, the account's ceiling, and the
// address's allowance before a CAPTCHA.
func (s *Service) failLogin(ctx context.Context, lc loginClient) error {
	if err := s.failIP(ctx, ScopeLoginIP, lc.ip, s.cfg.LoginPerIP); err != nil {
		return err
	}
	if err := s.Limiter.FailBackoff(ctx, ScopeLoginClient, lc.key, s.cfg.LoginBackoff); err != nil {
		return err
	}
	if err := s.Limiter.Fail(ctx, ScopeLoginAccount, lc.failKey, s.cfg.LoginFailuresPerAccount); err != nil {
		return err
	}
	return s.failIP(ctx, ScopeCaptchaIP, lc.ip, s.cfg.Registration.CaptchaAfter)
}

// loginSucceeded forgets the client's failures (not the account's ceiling: the owner signing in
// must not reset an attacker's budget elsewhere).
func (s *Service) loginSucceeded(ctx context.Context, lc loginClient) {
	if err := s.Limiter.ResetBackoff(ctx, ScopeLoginClient, lc.key, s.cfg.LoginBackoff); err != nil {
		s.Logger.WarnContext(ctx, "reset login failures", "err", err)
	}
}

// codeClient is the per-account key of wrong codes from ip ("internal" for service callers).
func codeClient(accountID, ip string) string {
	if ip == "" {
		return accountID + "|internal"
	}
	return accountID + "|ip:" + ip
}

// GuardRegistration runs before a registration code is sent to email for a client at ip: the
// per-address, per-domain, global and per-IP limits, and the CAPTCHA once the IP has made
// Registration.CaptchaAfter sends or failed logins. captchaToken may be empty. It counts nothing:
// RegistrationSent counts a send that happened, so that answers refused for another reason (the
// resend cooldown, a client retrying on it) do not use up the inbox's allowance. Concurrent requests
// may therefore pass a limit by the few that were checked at once. Errors:
// *throttle.ExceededError, ErrCaptchaRequired, ErrCaptchaInvalid.
func (s *Service) GuardRegistration(ctx context.Context, email, ip, captchaToken string) error {
	lim := s.cfg.Registration
	if err := s.checkIP(ctx, ScopeRegistrationIP, ip, lim.PerIP); err != nil {
		return err
	}
	for _, k := range registrationKeys(email) {
		if err := s.Limiter.Check(ctx, k.scope, k.key, k.limit(lim)); err != nil {
			return err
		}
	}
	return s.checkCaptcha(ctx, ip, captchaToken)
}

// RegistrationSent counts a registration code (or notice) sent to email for a client at ip against
// the limits GuardRegistration checks.
func (s *Service) RegistrationSent(ctx context.Context, email, ip string) error {
	lim := s.cfg.Registration
	if err := s.failIP(ctx, ScopeRegistrationIP, ip, lim.PerIP); err != nil {
		return err
	}
	for _, k := range registrationKeys(email) {
		if err := s.Limiter.Fail(ctx, k.scope, k.key, k.limit(lim)); err != nil {
			return err
		}
	}
	return s.failIP(ctx, ScopeCaptchaIP, ip, lim.CaptchaAfter)
}

type registrationKey struct {
	scope, key string
	limit      func(RegistrationLimits) throttle.Limit
}

// registrationKeys are the per-address, per-domain and global counters of a registration to email.
func registrationKeys(email string) []registrationKey {
	email = account.NormalizeEmail(email)
	keys := []registrationKey{{ScopeRegistrationEmail, email, func(l RegistrationLimits) throttle.Limit { return l.PerEmail }}}
	if _, domain, ok := strings.Cut(email, "@"); ok {
		keys = append(keys, registrationKey{ScopeRegistrationDom, domain, func(l RegistrationLimits) throttle.Limit { return l.PerDomain }})
	}
	return append(keys, registrationKey{ScopeRegistrationAll, "all", func(l RegistrationLimits) throttle.Limit { return l.Global }})
}

// CaptchaGate is the CAPTCHA hook of login and forgot-password: once ip has used up
// Registration.CaptchaAfter (registration sends, failed logins, reset requests), the request needs
// a valid token. send counts this request (a reset request) towards that allowance; failed logins
// are counted by Login itself. Errors: ErrCaptchaRequired, ErrCaptchaInvalid.
func (s *Service) CaptchaGate(ctx context.Context, ip, token string, send bool) error {
	if s.Captcha == nil {
		return nil
	}
	if err := s.checkCaptcha(ctx, ip, token); err != nil {
		return err
	}
	if send {
		return s.failIP(ctx, ScopeCaptchaIP, ip, s.cfg.Registration.CaptchaAfter)
	}
	return nil
}

// checkCaptcha asks for a CAPTCHA once ip has used up its allowance of sends and failures.
func (s *Service) checkCaptcha(ctx context.Context, ip, token string) error {
	if s.Captcha == nil || !s.ipLimited(ip) {
		return nil
	}
	var exceeded *throttle.ExceededError
	switch err := s.Limiter.Check(ctx, ScopeCaptchaIP, ip, s.cfg.Registration.CaptchaAfter); {
	case err == nil:
		return nil
	case !errors.As(err, &exceeded):
		return err
	}
	if strings.TrimSpace(token) == "" {
		return ErrCaptchaRequired
	}
	ok, err := s.Captcha.Verify(ctx, token, ip)
	if err != nil {
		return fmt.Errorf("verify captcha: %w", err)
	}
	if !ok {
		return ErrCaptchaInvalid
	}
	return nil
}

// verifyCode runs check (which answers a code) under the code limits: a wrong answer counts against
// ip (when known and limited) and, when accountKey is set, against it (an account from one client).
func (s *Service) verifyCode(ctx context.Context, accountKey, ip string, check func() error) error {
	if err := s.checkIP(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); err != nil {
		return err
	}
	if accountKey != "" {
		if err := s.Limiter.Check(ctx, ScopeCodeVerifyAccount, accountKey, s.cfg.CodeFailuresPerAccount); err != nil {
			return err
		}
	}
	err := check()
	if errors.Is(err, otp.ErrInvalidCode) {
		if ferr := s.failIP(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); ferr != nil {
			return ferr
		}
		if accountKey != "" {
			if ferr := s.Limiter.Fail(ctx, ScopeCodeVerifyAccount, accountKey, s.cfg.CodeFailuresPerAccount); ferr != nil {
				return ferr
			}
		}
	}
	return err
}
