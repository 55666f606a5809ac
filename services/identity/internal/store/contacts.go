package store

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// The contact changes below are single-document conditional updates: the condition and the change
// are one write, so two concurrent changes cannot both pass a check that only one of them may pass
// (two removals racing can never leave the account without its last verified contact).

// SetPendingPhone records phone as the active account's pending phone (a projected fact: through
// UpdateProjected). The verified phone, if any, stays as it is. It reports whether anything changed
// (false: not active, or phone already pending).
func (s *Accounts) SetPendingPhone(ctx context.Context, id, phone string) (bool, error) {
	return s.UpdateProjected(ctx, id,
		bson.D{{Key: "status", Value: string(account.StatusActive)}, {Key: "pendingPhone", Value: bson.D{{Key: "$ne", Value: phone}}}},
		bson.D{{Key: "pendingPhone", Value: phone}})
}

// ClearPendingPhone forgets the account's pending phone; false when there was none.
func (s *Accounts) ClearPendingPhone(ctx context.Context, id string) (bool, error) {
	return s.UpdateProjected(ctx, id,
		bson.D{{Key: "pendingPhone", Value: bson.D{{Key: "$exists", Value: true}}}}, bson.D{}, "pendingPhone")
}

// SetVerifiedPhone makes phone the active account's verified phone (replacing the previous one) and
// forgets a pending phone. A number another account holds is account.ErrPhoneTaken. It reports
// whether the account matched.
func (s *Accounts) SetVerifiedPhone(ctx context.Context, id, phone string) (bool, error) {
	ok, err := s.UpdateProjected(ctx, id,
		bson.D{{Key: "status", Value: string(account.StatusActive)}},
		bson.D{{Key: "phone", Value: phone}, {Key: "phoneVerified", Value: true}}, "pendingPhone")
	if mongox.IsDuplicateKey(err) {
		return false, account.ErrPhoneTaken
	}
	return ok, err
}

// RemoveEmailKeepingVerifiedPhone removes the account's e-mail while it is still email and the
// account has a verified phone to keep receiving codes and alerts; the condition and the removal are
// one write. It reports whether it was made.
func (s *Accounts) RemoveEmailKeepingVerifiedPhone(ctx context.Context, id, email string) (bool, error) {
	return s.UpdateProjected(ctx, id,
		bson.D{
			{Key: "email", Value: email},
			{Key: "phone", Value: bson.D{{Key: "$exists", Value: true}}},
			{Key: "phoneVerified", Value: true},
		},
		bson.D{{Key: "emailVerified", Value: false}}, "email")
}

// ReleaseUnverifiedPhoneElsewhere takes phone from another account that holds it unverified (a claim
// stored before phones set through profile paths became pending), so that the account answering the
// number's code can verify it. It returns the account it was taken from, if any.
func (s *Accounts) ReleaseUnverifiedPhoneElsewhere(ctx context.Context, id, phone string) (string, bool, error) {
	holder, verified, found, err := s.PhoneHolder(ctx, phone)
	if err != nil || !found || verified || holder == id {
		return "", false, err
	}
	ok, err := s.ReleaseUnverifiedPhone(ctx, holder, phone)
	if err != nil || !ok {
		return "", false, err
	}
	return holder, true, nil
}

// SetVerifiedEmail makes email the account's verified e-mail, replacing the previous one. The unique
// index on email refuses an address another account holds: account.ErrEmailTaken. It reports whether
// the account matched.
func (s *Accounts) SetVerifiedEmail(ctx context.Context, id, email string) (bool, error) {
	ok, err := s.UpdateProjected(ctx, id, nil, bson.D{{Key: "email", Value: email}, {Key: "emailVerified", Value: true}})
	if mongox.IsDuplicateKey(err) {
		return false, account.ErrEmailTaken
	}
	return ok, err
}

// MarkEmailVerified marks the account's e-mail verified while it is still email (a change in between
// wins: false).
func (s *Accounts) MarkEmailVerified(ctx context.Context, id, email string) (bool, error) {
	return s.UpdateProjected(ctx, id, bson.D{{Key: "email", Value: email}}, bson.D{{Key: "emailVerified", Value: true}})
}
