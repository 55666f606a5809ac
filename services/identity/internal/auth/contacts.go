package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

// Errors of the contact flows (e-mail linking and verification, phone verification).
var (
	// ErrEmailAlreadyLinked: the address is already the account's verified e-mail.
	ErrEmailAlreadyLinked = errors.New("email already linked to this account")
	// ErrNoEmail: the account has no e-mail address.
	ErrNoEmail = errors.New("no email on this account")
	// ErrEmailAlreadyVerified: the account's e-mail is verified already.
	ErrEmailAlreadyVerified = errors.New("email already verified")
	// ErrPhoneAlreadyVerified: the number is already the account's verified phone.
	ErrPhoneAlreadyVerified = errors.New("phone number already verified")
	// ErrEmailTaken: the address belongs to another account. Only returned after the code sent to
	// the address was answered, so only someone who controls the address learns it.
	ErrEmailTaken = account.ErrEmailTaken
	// ErrPhoneTaken: like ErrEmailTaken, for a phone number.
	ErrPhoneTaken = account.ErrPhoneTaken
	// ErrLastSignInMethod: the change would leave the account with no way to sign in.
	ErrLastSignInMethod = errors.New("cannot unlink last auth provider")
	// ErrLastVerifiedContact: the change would leave no verified e-mail or phone to send codes and
	// security alerts to.
	ErrLastVerifiedContact = errors.New("cannot unlink the only verified contact")
)

// ScopeContactCodeIP counts the contact-code requests (sends and answers) of one client IP, with the
// login's per-IP limit: one address cannot spray codes or guesses across many accounts.
const ScopeContactCodeIP = "contact_code_ip"

// EmailLinkTokenPrefix marks the temp tokens of e-mail linking.
const EmailLinkTokenPrefix = "elt_"

// SignInMethods counts the independent ways the owner of a can sign in: the password, when there is
// an identifier to enter it with (the e-mail or the username; the phone is not a sign-in
// identifier), and each linked provider. There is no code-only sign-in, so a verified e-mail or
// phone alone does not count.
func SignInMethods(a account.Account, providers int) int {
	n := providers
	if a.PasswordHash != "" && (a.Email != "" || a.Username != "") {
		n++
	}
	return n
}

// StartEmailLink sends a code to email, a new address for the account, with a temp token for
// CompleteEmailLink. The code goes to the new address itself: answering it proves control of it.
// Whether another account uses the address is not checked here (the answer would tell anyone).
func (s *Service) StartEmailLink(ctx context.Context, ip, accountID, email string) (CodeSent, error) {
	if err := s.hitIP(ctx, ScopeContactCodeIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return CodeSent{}, err
	}
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return CodeSent{}, err
	}
	email = account.NormalizeEmail(email)
	if a.Email == email && a.EmailVerified {
		return CodeSent{}, ErrEmailAlreadyLinked
	}
	sent, err := s.Codes.Send(ctx, otp.Request{
		Purpose: events.PurposeEmailVerification, Channel: events.ChannelEmail, Destination: email,
		AccountID: a.ID, WithToken: EmailLinkTokenPrefix,
	})
	if err != nil {
		return CodeSent{}, err
	}
	return CodeSent{Token: sent.Token, MaskedValue: sent.MaskedValue, ExpiresIn: s.Codes.TTL()}, nil
}

// CompleteEmailLink checks the code sent by StartEmailLink and makes its address the account's
// verified e-mail (replacing the previous one). The owner is alerted at the previous verified
// destination when there was one. ErrEmailTaken when another account has the address.
func (s *Service) CompleteEmailLink(ctx context.Context, ip, accountID, token, code string) error {
	if err := s.hitIP(ctx, ScopeContactCodeIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return err
	}
	c, err := s.Codes.VerifyTokenForAccount(ctx, events.PurposeEmailVerification, token, accountID, code)
	if err != nil {
		return err
	}
	before, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return err
	}
	// The unique index on email guards against another account having the address.
	ok, err := s.Accounts.SetVerifiedEmail(ctx, accountID, c.Destination)
	switch {
	case errors.Is(err, ErrEmailTaken):
		return ErrEmailTaken
	case err != nil:
		return fmt.Errorf("link email: %w", err)
	}
	if !ok {
		return account.ErrNotFound
	}
	s.publishSnapshotOrLog(ctx, accountID)
	s.alertEmailChange(ctx, before, c.Destination)
	return nil
}

// UnlinkEmail removes the account's e-mail. Refused when the account would be left without a way
// to sign in (ErrLastSignInMethod) or without a verified destination for codes and alerts
// (ErrLastVerifiedContact). The alert goes to the address being removed.
func (s *Service) UnlinkEmail(ctx context.Context, accountID string) error {
	release, err := s.Providers.LockSignInMethods(ctx, accountID) // see UnlinkProvider
	if err != nil {
		return err
	}
	defer release()
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return err
	}
	if a.Email == "" {
		return ErrNoEmail
	}
	providers, err := s.Providers.ListByAccount(ctx, accountID)
	if err != nil {
		return fmt.Errorf("list providers: %w", err)
	}
	after := a
	after.Email, after.EmailVerified = "", false
	if SignInMethods(after, len(providers)) == 0 {
		return ErrLastSignInMethod
	}
	if !after.HasVerifiedChannel() {
		return ErrLastVerifiedContact
	}
	// The check above is repeated by the write itself: a concurrent change of the phone (or of the
	// e-mail) makes it match nothing, so the account is never left without a verified contact.
	ok, err := s.Accounts.RemoveEmailKeepingVerifiedPhone(ctx, accountID, a.Email)
	if err != nil {
		return fmt.Errorf("unlink email: %w", err)
	}
	if !ok { // changed meanwhile: tell which
		now, err := s.activeAccount(ctx, accountID)
		switch {
		case err != nil:
			return err
		case now.Email != a.Email:
			return ErrNoEmail
		}
		return ErrLastVerifiedContact
	}
	s.publishSnapshotOrLog(ctx, accountID)
	s.alertEmailRemoval(ctx, a)
	return nil
}

// SendEmailVerification sends a code to the account's e-mail while it is unverified.
func (s *Service) SendEmailVerification(ctx context.Context, ip, accountID string) (CodeSent, error) {
	if err := s.hitIP(ctx, ScopeContactCodeIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return CodeSent{}, err
	}
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return CodeSent{}, err
	}
	switch {
	case a.Email == "":
		return CodeSent{}, ErrNoEmail
	case a.EmailVerified:
		return CodeSent{}, ErrEmailAlreadyVerified
	}
	sent, err := s.Codes.Send(ctx, otp.Request{
		Purpose: events.PurposeEmailVerification, Channel: events.ChannelEmail, Destination: a.Email, AccountID: a.ID,
	})
	if err != nil {
		return CodeSent{}, err
	}
	return CodeSent{MaskedValue: sent.MaskedValue, ExpiresIn: s.Codes.TTL()}, nil
}

// ConfirmEmailVerification checks the code SendEmailVerification sent and marks the e-mail verified.
func (s *Service) ConfirmEmailVerification(ctx context.Context, ip, accountID, code string) error {
	if err := s.hitIP(ctx, ScopeContactCodeIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return err
	}
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return err
	}
	switch {
	case a.Email == "":
		return ErrNoEmail
	case a.EmailVerified:
		return ErrEmailAlreadyVerified
	}
	if _, err := s.Codes.VerifyForAccount(ctx, events.PurposeEmailVerification, a.Email, accountID, code); err != nil {
		return err
	}
	ok, err := s.Accounts.MarkEmailVerified(ctx, accountID, a.Email)
	if err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	if !ok {
		return ErrInvalidCode
	}
	s.publishSnapshotOrLog(ctx, accountID)
	return nil
}

// SendPhoneVerification sends a code by SMS to phone (E.164), the number the account wants to
// verify. Like e-mail linking, whether another account has the number is only told to whoever
// answers the code.
func (s *Service) SendPhoneVerification(ctx context.Context, ip, accountID, phone string) (CodeSent, error) {
	if err := s.hitIP(ctx, ScopeContactCodeIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return CodeSent{}, err
	}
	a, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return CodeSent{}, err
	}
	if a.Phone == phone && a.PhoneVerified {
		return CodeSent{}, ErrPhoneAlreadyVerified
	}
	sent, err := s.Codes.Send(ctx, otp.Request{
		Purpose: events.PurposePhoneVerification, Channel: events.ChannelSMS, Destination: phone, AccountID: a.ID,
	})
	if err != nil {
		return CodeSent{}, err
	}
	return CodeSent{MaskedValue: sent.MaskedValue, ExpiresIn: s.Codes.TTL()}, nil
}

// VerifyPhone checks the code sent to phone and makes it the account's verified phone.
func (s *Service) VerifyPhone(ctx context.Context, ip, accountID, phone, code string) error {
	if err := s.hitIP(ctx, ScopeContactCodeIP, ip, s.cfg.CodeSendPerIP); err != nil {
		return err
	}
	before, err := s.activeAccount(ctx, accountID)
	if err != nil {
		return err
	}
	if _, err := s.Codes.VerifyForAccount(ctx, events.PurposePhoneVerification, phone, accountID, code); err != nil {
		return err
	}
	// The unique index on phone guards against another account having the number. An unverified
	// claim of another account (stored before profile paths kept numbers pending) gives way once.
	ok, err := s.Accounts.SetVerifiedPhone(ctx, accountID, phone)
	if errors.Is(err, ErrPhoneTaken) {
		holder, released, rerr := s.Accounts.ReleaseUnverifiedPhoneElsewhere(ctx, accountID, phone)
		if rerr != nil {
			return fmt.Errorf("release unverified phone: %w", rerr)
		}
		if released {
			s.publishSnapshotOrLog(ctx, holder)
			ok, err = s.Accounts.SetVerifiedPhone(ctx, accountID, phone)
		}
	}
	switch {
	case errors.Is(err, ErrPhoneTaken):
		return ErrPhoneTaken
	case err != nil:
		return fmt.Errorf("verify phone: %w", err)
	}
	if !ok {
		return account.ErrNotFound
	}
	s.publishSnapshotOrLog(ctx, accountID)
	s.alertPhoneChange(ctx, before, phone)
	return nil
}
