package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// When an account's verified e-mail is replaced, the previous address is told so — accurately — with
// a link that undoes the change for several days (EmailRevertPeriod). The link holds a single-use
// random token (only its hash is stored); whoever opens it proves control of the old address, which
// until the change was where the account's codes and resets went. Undoing restores the old address
// as the verified e-mail, ends every session, revokes every API key, drops provider links made around
// the change, and — when the password was changed or set since the change (an attacker's reset
// through the new address) — replaces the password with an unusable one, so the owner recovers
// through forgot-password on the restored address.

// ErrEmailRevertInvalid: the revert token is unknown, used or expired.
var ErrEmailRevertInvalid = errors.New("email change revert link invalid or expired")

// EmailRevertTokenPrefix starts every revert token.
const EmailRevertTokenPrefix = "ert_"

// DefaultEmailRevertPeriod is how long a revert link works when Config.EmailRevertPeriod is zero.
const DefaultEmailRevertPeriod = 7 * 24 * time.Hour

// ReasonEmailChangeReverted is the session revocation reason of an undone e-mail change.
const ReasonEmailChangeReverted = "email_change_reverted"

// EmailRevert is a pending undo of an e-mail change, for the owner of the previous address.
type EmailRevert struct {
	Hash      string // hex SHA-256 of the token
	AccountID string
	OldEmail  string
	NewEmail  string
	ChangedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: unused
}

// RevertedEmail is the outcome of RevertEmailChange.
type RevertedEmail struct {
	Email string // the restored address, masked
	// PasswordReset tells that the password was replaced: the owner sets a new one through
	// forgot-password.
	PasswordReset bool
}

func (s *Service) emailRevertPeriod() time.Duration {
	if s.cfg.EmailRevertPeriod > 0 {
		return s.cfg.EmailRevertPeriod
	}
	return DefaultEmailRevertPeriod
}

// revertLink appends the token to the configured page as a URL fragment: a fragment is never sent to
// a server, so the token stays out of access logs and Referer headers; the page posts it to
// POST /api/v1/auth/email-change/revert.
func (s *Service) revertLink(token string) string {
	base := s.cfg.EmailRevertURL
	if base == "" {
		base = DefaultEmailRevertURL
	}
	sep := "#token="
	if strings.Contains(base, "#") {
		sep = "&token="
	}
	return base + sep + token
}

// DefaultEmailRevertURL is the revert page when Config.EmailRevertURL is empty (a local stack).
const DefaultEmailRevertURL = "http://localhost:8080/account/email-change/revert"

// alertEmailChange tells the owner that before's e-mail became newEmail. When before had a verified
// address, it is told that it was replaced, with a revert link; otherwise the new address was added
// and the owner hears of it where alerts go (the new address when there is nothing else).
func (s *Service) alertEmailChange(ctx context.Context, before account.Account, newEmail string) {
	masked := otp.MaskEmail(newEmail)
	if !before.IsEmailVerified() || before.Email == newEmail {
		to := before
		if _, _, has := AlertDestination(before); !has {
			to.Email, to.EmailVerified = newEmail, true
		}
		s.alertOrLog(ctx, to, events.AlertEmailLinked, map[string]string{"email": masked})
		return
	}
	details := map[string]string{"email": masked}
	s.addRevertLink(ctx, before, newEmail, details)
	// The alert goes to the previous address (before's verified e-mail), never to the new one.
	s.alertOrLog(ctx, before, events.AlertEmailChanged, details)
}

// alertEmailRemoval tells the address being removed from a, with a link that undoes the removal
// when it was verified.
func (s *Service) alertEmailRemoval(ctx context.Context, a account.Account) {
	details := map[string]string{"email": otp.MaskEmail(a.Email)}
	if a.IsEmailVerified() {
		s.addRevertLink(ctx, a, "", details)
	}
	s.alertOrLog(ctx, a, events.AlertEmailUnlinked, details)
}

// addRevertLink stores a revert of before's verified e-mail becoming newEmail ("" : removed) and puts
// its link (revertUrl, revertDays) into details. A failure is logged: the alert goes without it.
func (s *Service) addRevertLink(ctx context.Context, before account.Account, newEmail string, details map[string]string) {
	if s.StepUps == nil {
		return
	}
	period := s.emailRevertPeriod()
	raw, err := newStepUpSecret(EmailRevertTokenPrefix)
	if err == nil {
		now := s.now().UTC()
		err = s.StepUps.InsertEmailRevert(ctx, EmailRevert{
			Hash: hashSecret(raw), AccountID: before.ID, OldEmail: before.Email, NewEmail: newEmail,
			ChangedAt: now, ExpiresAt: now.Add(period),
		})
	}
	if err != nil {
		s.Logger.ErrorContext(ctx, "email revert link not stored; alert goes without it", "account_id", before.ID, "err", err)
		return
	}
	details["revertUrl"] = s.revertLink(raw)
	details["revertDays"] = strconv.Itoa(max(int(period/(24*time.Hour)), 1))
}

// RevertEmailChange undoes the e-mail change the token was issued for (see the top of this file).
// ip, when known, is throttled like code answers. Errors: ErrEmailRevertInvalid, ErrEmailTaken (the
// old address belongs to another account meanwhile), *throttle.ExceededError.
func (s *Service) RevertEmailChange(ctx context.Context, raw, ip string) (RevertedEmail, error) {
	if ip != "" {
		if err := s.Limiter.Hit(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); err != nil {
			return RevertedEmail{}, err
		}
	}
	raw = strings.TrimSpace(raw)
	if s.StepUps == nil || !strings.HasPrefix(raw, EmailRevertTokenPrefix) || len(raw) > maxStepUpToken {
		return RevertedEmail{}, ErrEmailRevertInvalid
	}
	hash := hashSecret(raw)
	r, err := s.StepUps.EmailRevertByHash(ctx, hash)
	if err != nil {
		return RevertedEmail{}, err
	}
	now := s.now().UTC()
	if !r.UsedAt.IsZero() || !now.Before(r.ExpiresAt) {
		return RevertedEmail{}, ErrEmailRevertInvalid
	}
	a, err := s.Accounts.ByID(ctx, r.AccountID)
	if errors.Is(err, account.ErrNotFound) {
		return RevertedEmail{}, ErrEmailRevertInvalid
	}
	if err != nil {
		return RevertedEmail{}, fmt.Errorf("load account: %w", err)
	}
	// A password changed or set since the e-mail change may be the taker's (reset through the new
	// address): replace it with one nobody knows.
	lockedHash := ""
	if a.HasPassword() && !a.PasswordChangedAt.Before(r.ChangedAt) {
		secret, err := newStepUpSecret("")
		if err != nil {
			return RevertedEmail{}, err
		}
		if lockedHash, err = s.Hasher.Hash(secret); err != nil {
			return RevertedEmail{}, fmt.Errorf("lock password: %w", err)
		}
	}
	claimed, err := s.StepUps.ClaimEmailRevert(ctx, hash, now)
	if err != nil {
		return RevertedEmail{}, fmt.Errorf("claim email revert: %w", err)
	}
	if !claimed {
		return RevertedEmail{}, ErrEmailRevertInvalid
	}
	revoke := s.revocation("", ReasonEmailChangeReverted)
	ok, err := s.StepUps.RestoreEmail(ctx, a.ID, r.OldEmail, lockedHash, now, revoke)
	switch {
	case errors.Is(err, ErrEmailTaken):
		return RevertedEmail{}, ErrEmailTaken
	case err != nil:
		return RevertedEmail{}, fmt.Errorf("restore email: %w", err)
	case !ok:
		return RevertedEmail{}, ErrEmailRevertInvalid
	}
	s.Logger.InfoContext(ctx, "email change reverted", "account_id", a.ID, "password_locked", lockedHash != "")
	s.publishSnapshotOrLog(ctx, a.ID)
	s.revokeOrLog(ctx, a.ID, revoke)
	if s.APIKeys != nil {
		if _, err := s.APIKeys.RevokeAll(ctx, a.ID, ReasonEmailChangeReverted); err != nil {
			s.Logger.ErrorContext(ctx, "revoke api keys after email revert", "account_id", a.ID, "err", err)
		}
	}
	s.dropLinksSince(ctx, a.ID, r.ChangedAt.Add(-s.stepUpTTL()))
	restored := a
	restored.Email, restored.EmailVerified = r.OldEmail, true
	details := map[string]string{"email": otp.MaskEmail(r.OldEmail)}
	if lockedHash != "" {
		details["passwordReset"] = "true"
	}
	s.alertOrLog(ctx, restored, events.AlertEmailChangeReverted, details)
	return RevertedEmail{Email: otp.MaskEmail(r.OldEmail), PasswordReset: lockedHash != ""}, nil
}

// dropLinksSince removes the account's provider links made at or after since: a taker's own
// provider account would otherwise still sign in.
func (s *Service) dropLinksSince(ctx context.Context, accountID string, since time.Time) {
	if s.Providers == nil {
		return
	}
	links, err := s.Providers.ListByAccount(ctx, accountID)
	if err != nil {
		s.Logger.ErrorContext(ctx, "list provider links after email revert", "account_id", accountID, "err", err)
		return
	}
	for _, l := range links {
		if l.LinkedAt.Before(since) {
			continue
		}
		if err := s.Providers.Delete(ctx, l.ID); err != nil {
			s.Logger.ErrorContext(ctx, "drop provider link after email revert", "account_id", accountID, "provider", l.Provider, "err", err)
		}
	}
}

// alertPhoneChange tells the owner that phone became the account's verified number (before is the
// account before the change).
func (s *Service) alertPhoneChange(ctx context.Context, before account.Account, phone string) {
	details := map[string]string{"phone": otp.MaskPhone(phone)}
	to := before
	if before.IsPhoneVerified() && before.Phone != phone {
		details["previousPhone"] = otp.MaskPhone(before.Phone)
	}
	if _, _, has := AlertDestination(before); !has {
		to.Phone, to.PhoneVerified = phone, true
	}
	s.alertOrLog(ctx, to, events.AlertPhoneChanged, details)
}
