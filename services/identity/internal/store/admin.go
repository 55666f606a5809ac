package store

import (
	"context"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// SetRoles replaces the account's roles (through UpdateProjected, so the change carries a version
// like every other change of the account, and security-info reads it at once). It reports whether
// the account exists.
func (s *Accounts) SetRoles(ctx context.Context, id string, roles []string) (bool, error) {
	return s.UpdateProjected(ctx, id, nil, bson.D{{Key: "roles", Value: roles}})
}

// SetStatus moves the account from status `from` to `to` (a projected fact: through
// UpdateProjected, so account.updated tells every service), with revoke (when not nil) recorded as
// its pending revocation in the same write. Leaving StatusDeactivated forgets deactivatedAt and the
// reason. It reports whether the account was in `from`.
func (s *Accounts) SetStatus(ctx context.Context, id string, from, to account.Status, revoke *account.Revocation) (bool, error) {
	filter := bson.D{{Key: "status", Value: string(from)}}
	set := bson.D{{Key: "status", Value: string(to)}}
	if revoke != nil {
		set = append(set, bson.E{Key: RevocationField, Value: RevocationValue(*revoke)})
	}
	var unset []string
	if from == account.StatusDeactivated {
		unset = []string{"deactivatedAt", "deactivationReason"}
	}
	return s.UpdateProjected(ctx, id, filter, set, unset...)
}

// minPrefix is the shortest query that also matches e-mail and username prefixes; shorter ones
// match exactly only (a one-letter prefix would list half the accounts).
const minPrefix = 3

// Search finds accounts for operators: q matched exactly against the id, the e-mail (normalized), the
// phone (E.164, separators dropped) and the username (normalized), and as a prefix of the e-mail and
// the username (both uniquely indexed, so an anchored prefix uses the index). It returns one page,
// ordered by id, and how many accounts match in all.
func (s *Accounts) Search(ctx context.Context, q string, skip, limit int) ([]account.Account, int64, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, 0, nil
	}
	email, username := account.NormalizeEmail(q), account.NormalizeUsername(q)
	or := bson.A{
		bson.D{{Key: "_id", Value: q}},
		bson.D{{Key: "email", Value: email}},
		bson.D{{Key: "username", Value: username}},
	}
	if phone := searchPhone(q); phone != "" {
		or = append(or, bson.D{{Key: "phone", Value: phone}})
	}
	if len(q) >= minPrefix {
		or = append(or,
			bson.D{{Key: "email", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(email)}}}},
			bson.D{{Key: "username", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(username)}}}})
	}
	filter := bson.D{{Key: "$or", Value: or}}
	total, err := s.coll.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, wrap("count accounts", err)
	}
	found, err := findAll(ctx, s.coll, filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetSkip(int64(skip)).SetLimit(int64(limit)), "accounts", accountDoc.account)
	if err != nil {
		return nil, 0, err
	}
	return found, total, nil
}

var phoneSeparators = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "")

// searchPhone returns q as an E.164 number ("00" read as "+"), or "" when it is not one.
func searchPhone(q string) string {
	p := phoneSeparators.Replace(q)
	if strings.HasPrefix(p, "00") {
		p = "+" + p[2:]
	}
	if len(p) < 8 || len(p) > 16 || p[0] != '+' {
		return ""
	}
	for _, r := range p[1:] {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return p
}

// OrderRevocation records r as the account's pending revocation (a sign-out of its sessions that the
// caller carries out next, and the republisher retries after an outage). It reports whether the
// account exists.
func (s *Accounts) OrderRevocation(ctx context.Context, id string, r account.Revocation) (bool, error) {
	res, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: RevocationField, Value: RevocationValue(r)}}}})
	if err != nil {
		return false, wrap("order revocation", err)
	}
	return res.MatchedCount > 0, nil
}

// ClearTwoFactor turns two-factor codes off whatever the account's status (an operator's reset may
// concern a locked account), through UpdateProjected. It reports whether 2FA was on.
func (s *Accounts) ClearTwoFactor(ctx context.Context, id string) (bool, error) {
	return s.UpdateProjected(ctx, id, bson.D{{Key: "twoFactorEnabled", Value: true}}, bson.D{{Key: "twoFactorEnabled", Value: false}})
}
