package store

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// maxSearchTerm bounds one search term (characters); longer names are cut, not dropped.
const maxSearchTerm = 100

// ApplyProfile keeps the profile service's profile.updated snapshot in the account document: the
// "profile" sub-document (version, display name, avatar, onboarding), the search terms built from the
// names, and firstName/lastName, which identity shows (login's user.firstName) and needs for
// account.PrimaryComplete but whose system of record is the profile service. Only a snapshot newer
// than the one kept is applied, in one conditional single-document write, so snapshots may arrive in
// any order and any number of times. It reports whether the snapshot was applied (false: older, or
// no such account).
func (s *Accounts) ApplyProfile(ctx context.Context, accountID string, p events.ProfileSnapshot) (bool, error) {
	filter := bson.D{
		{Key: "_id", Value: accountID},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: fieldProfile + ".version", Value: bson.D{{Key: "$lt", Value: p.Version}}}},
			bson.D{{Key: fieldProfile + ".version", Value: bson.D{{Key: "$exists", Value: false}}}},
		}},
	}
	sub := bson.D{{Key: "version", Value: p.Version}, {Key: "onboardingComplete", Value: p.OnboardingComplete}, {Key: "updatedAt", Value: p.UpdatedAt.UTC()}}
	if p.DisplayName != "" {
		sub = append(sub, bson.E{Key: "displayName", Value: p.DisplayName})
	}
	if p.AvatarURL != "" {
		sub = append(sub, bson.E{Key: "avatarUrl", Value: p.AvatarURL})
	}
	set := bson.D{{Key: fieldProfile, Value: sub}}
	var unset bson.D
	for _, f := range []struct{ name, value string }{{"firstName", p.FirstName}, {"lastName", p.LastName}} {
		if f.value != "" {
			set = append(set, bson.E{Key: f.name, Value: f.value})
		} else {
			unset = append(unset, bson.E{Key: f.name, Value: ""})
		}
	}
	if terms := SearchTerms(p.FirstName, p.LastName, p.DisplayName); len(terms) > 0 {
		set = append(set, bson.E{Key: fieldSearchTerms, Value: terms})
	} else {
		unset = append(unset, bson.E{Key: fieldSearchTerms, Value: ""})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	res, err := s.coll.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, wrap("apply profile snapshot", err)
	}
	return res.MatchedCount > 0, nil
}

// SearchTerms are the lower-cased strings a name search matches by prefix: each whole name (display
// name, "first last") and each of their words, so "doe", "john" and "john d" all find "John Doe".
func SearchTerms(firstName, lastName, displayName string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.ToLower(strings.Join(strings.Fields(s), " "))
		if utf8.RuneCountInString(s) > maxSearchTerm {
			s = string([]rune(s)[:maxSearchTerm])
		}
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, name := range []string{displayName, firstName + " " + lastName} {
		add(name)
		for _, w := range strings.Fields(name) {
			add(w)
		}
	}
	return out
}

// PhoneHolder returns the account whose phone is phone, and whether it is verified there.
func (s *Accounts) PhoneHolder(ctx context.Context, phone string) (string, bool, bool, error) {
	var d struct {
		ID       string `bson:"_id"`
		Verified bool   `bson:"phoneVerified"`
	}
	err := s.coll.FindOne(ctx, bson.D{{Key: "phone", Value: phone}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, wrap("find phone holder", err)
	}
	return d.ID, d.Verified, true, nil
}

// ReleaseUnverifiedPhone removes phone from the account while it is unverified there.
func (s *Accounts) ReleaseUnverifiedPhone(ctx context.Context, id, phone string) (bool, error) {
	return s.UpdateProjected(ctx, id,
		bson.D{{Key: "phone", Value: phone}, {Key: "phoneVerified", Value: false}},
		bson.D{{Key: "phoneVerified", Value: false}}, "phone")
}
