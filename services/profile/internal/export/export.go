// Package export is the profile service's part of an account's data export: on
// account.export_requested (account.events.v1) it reads the account's profile (every field the owner
// can see) and the identity facts the profile service projects, and queues one events.ExportPart on
// account.exports.v1 through the outbox.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// Profiles reads a profile (store.Profiles).
type Profiles interface {
	Find(ctx context.Context, accountID string) (profile.Profile, error)
}

// Outbox queues an event (kafkax.Outbox).
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Exporter builds and sends the profile service's export parts.
type Exporter struct {
	profiles Profiles
	outbox   Outbox
	log      *slog.Logger
}

// New returns an Exporter. log nil means slog.Default().
func New(profiles Profiles, outbox Outbox, log *slog.Logger) *Exporter {
	if log == nil {
		log = slog.Default()
	}
	return &Exporter{profiles: profiles, outbox: outbox, log: log}
}

// Data is the profile service's part; both are null when the account has no profile.
type Data struct {
	Profile       *Profile       `json:"profile"`
	IdentityFacts *IdentityFacts `json:"identityFacts"`
}

// Profile is the profile's own fields.
type Profile struct {
	FirstName      string    `json:"firstName,omitempty"`
	LastName       string    `json:"lastName,omitempty"`
	DisplayName    string    `json:"displayName,omitempty"`
	Bio            string    `json:"bio,omitempty"`
	Location       string    `json:"location,omitempty"`
	AvatarURL      string    `json:"avatarUrl,omitempty"`
	Locale         string    `json:"locale,omitempty"`
	Timezone       string    `json:"timezone,omitempty"`
	UserType       string    `json:"userType,omitempty"`
	AudioUsage     string    `json:"audioUsage,omitempty"`
	ReferralSource string    `json:"referralSource,omitempty"`
	CountryCode    string    `json:"countryCode,omitempty"`
	CreatedAt      time.Time `json:"createdAt,omitzero"`
	UpdatedAt      time.Time `json:"updatedAt,omitzero"`
}

// IdentityFacts is the copy of identity's facts the profile service keeps.
type IdentityFacts struct {
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"emailVerified"`
	Phone         string `json:"phone,omitempty"`
	PhoneVerified bool   `json:"phoneVerified"`
	PendingPhone  string `json:"pendingPhone,omitempty"`
	Username      string `json:"username,omitempty"`
	AccountStatus string `json:"accountStatus,omitempty"`
}

// Part returns the JSON of accountID's part.
func (e *Exporter) Part(ctx context.Context, accountID string) (json.RawMessage, error) {
	var data Data
	p, err := e.profiles.Find(ctx, accountID)
	switch {
	case err == nil:
		data.Profile = &Profile{
			FirstName: p.FirstName, LastName: p.LastName, DisplayName: p.DisplayName, Bio: p.Bio, Location: p.Location,
			AvatarURL: p.AvatarURL, Locale: p.Locale, Timezone: p.Timezone, UserType: p.UserType, AudioUsage: p.AudioUsage,
			ReferralSource: p.ReferralSource, CountryCode: p.CountryCode, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
		}
		data.IdentityFacts = &IdentityFacts{
			Email: p.Email, EmailVerified: p.EmailVerified, Phone: p.Phone, PhoneVerified: p.PhoneVerified,
			PendingPhone: p.PendingPhone, Username: p.Username, AccountStatus: p.AccountStatus,
		}
	case !errors.Is(err, profile.ErrNotFound):
		return nil, fmt.Errorf("read profile: %w", err)
	}
	raw, _, err := events.MarshalExportData(&data, nil) // one document of bounded fields
	return raw, err
}

// Handle returns next wrapped for account.events.v1: account.export_requested is answered with the
// profile part (kafkax.AnswerExportRequests), every other type goes to next.
func (e *Exporter) Handle(next func(context.Context, events.Envelope) error) func(context.Context, events.Envelope) error {
	return kafkax.AnswerExportRequests(events.ExportServiceProfile, e.Part, e.outbox, e.log, next)
}
