package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

// MaxIdentityPartBytes caps identity's own part (stored with the export, not sent over Kafka); the
// oldest activity entries are left out beyond it ("truncated": true).
const MaxIdentityPartBytes = 4 << 20

// Bounds of what the identity part reads of the activity log.
const (
	activityPageSize = 100
	maxActivityPages = 100 // 10 000 entries
)

// Sources are where identity's part comes from; a nil source is left out of the part.
type Sources struct {
	Devices interface {
		ListAll(ctx context.Context, accountID string, withRevoked bool) ([]device.TrustedDevice, error)
	}
	Providers interface {
		ListByAccount(ctx context.Context, accountID string) ([]oauth.Link, error)
	}
	Passkeys interface {
		List(ctx context.Context, accountID string) ([]passkey.Credential, error)
	}
	Authenticators interface {
		Get(ctx context.Context, accountID string) (totp.Record, error)
	}
	RecoveryCodes interface {
		Remaining(ctx context.Context, accountID string) (int, error)
	}
	APIKeys interface {
		List(ctx context.Context, accountID string) ([]apikey.Key, error)
	}
	Usernames interface {
		History(ctx context.Context, accountID string) ([]username.Change, error)
	}
	// Activity is the owner's activity log; nil until the activity store is wired.
	Activity activity.Reader
}

// IdentityData is identity's part: the account's facts, devices, providers, factors (metadata only),
// API keys (metadata only), username history and activity log. It holds no password hash, code,
// secret, token or key hash.
type IdentityData struct {
	Account         Account          `json:"account"`
	TrustedDevices  []TrustedDevice  `json:"trustedDevices,omitempty"`
	LinkedProviders []LinkedProvider `json:"linkedProviders,omitempty"`
	Factors         Factors          `json:"factors"`
	APIKeys         []APIKey         `json:"apiKeys,omitempty"`
	UsernameHistory []UsernameChange `json:"usernameHistory,omitempty"`
	Activity        []ActivityEntry  `json:"activity,omitempty"`
	Truncated       bool             `json:"truncated,omitempty"`
}

// Account is the account's own facts.
type Account struct {
	ID                 string    `json:"id"`
	Email              string    `json:"email,omitempty"`
	EmailVerified      bool      `json:"emailVerified"`
	Phone              string    `json:"phone,omitempty"`
	PhoneVerified      bool      `json:"phoneVerified"`
	PendingPhone       string    `json:"pendingPhone,omitempty"`
	Username           string    `json:"username,omitempty"`
	FirstName          string    `json:"firstName,omitempty"`
	LastName           string    `json:"lastName,omitempty"`
	Status             string    `json:"status"`
	Roles              []string  `json:"roles,omitempty"`
	TwoFactorEnabled   bool      `json:"twoFactorEnabled"`
	HasPassword        bool      `json:"hasPassword"`
	PasswordChangedAt  time.Time `json:"passwordChangedAt,omitzero"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
	DeactivatedAt      time.Time `json:"deactivatedAt,omitzero"`
	DeactivationReason string    `json:"deactivationReason,omitempty"`
}

// TrustedDevice is a device the account signed in from and verified (revoked ones included).
type TrustedDevice struct {
	ID              string    `json:"id"`
	DeviceID        string    `json:"deviceId"`
	DeviceName      string    `json:"deviceName,omitempty"`
	Platform        string    `json:"platform,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
	LastUsedAt      time.Time `json:"lastUsedAt,omitzero"`
	LastIPAddress   string    `json:"lastIpAddress,omitempty"`
	UserAgent       string    `json:"userAgent,omitempty"`
	LastLocation    string    `json:"lastLocation,omitempty"`
	LastLoginMethod string    `json:"lastLoginMethod,omitempty"`
	Timezone        string    `json:"timezone,omitempty"`
	LoginCount      int       `json:"loginCount"`
	RevokedAt       time.Time `json:"revokedAt,omitzero"`
}

// LinkedProvider is a sign-in provider account linked to this one (no provider token is ever kept).
type LinkedProvider struct {
	Provider string    `json:"provider"`
	Subject  string    `json:"subject"`
	Email    string    `json:"email,omitempty"`
	LinkedAt time.Time `json:"linkedAt"`
}

// Factors are the second factors' metadata.
type Factors struct {
	Authenticator *Authenticator `json:"authenticator"`
	Passkeys      []Passkey      `json:"passkeys,omitempty"`
	// RecoveryCodesRemaining is how many unused recovery codes the account has (null: not read).
	RecoveryCodesRemaining *int `json:"recoveryCodesRemaining"`
}

// Authenticator is the authenticator app (TOTP) enrolment, without its secret.
type Authenticator struct {
	Confirmed   bool      `json:"confirmed"`
	CreatedAt   time.Time `json:"createdAt"`
	ConfirmedAt time.Time `json:"confirmedAt,omitzero"`
}

// Passkey is a passkey's metadata (no credential id or public key).
type Passkey struct {
	ID             string    `json:"id"`
	Name           string    `json:"name,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	LastUsedAt     time.Time `json:"lastUsedAt,omitzero"`
	BackupEligible bool      `json:"backupEligible"`
	BackedUp       bool      `json:"backedUp"`
	Transports     []string  `json:"transports,omitempty"`
}

// APIKey is a live API key's metadata (the prefix the key list shows, never its hash).
type APIKey struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
}

// UsernameChange is one change of the account's username.
type UsernameChange struct {
	OldUsername   string    `json:"oldUsername,omitempty"`
	NewUsername   string    `json:"newUsername"`
	ChangedAt     time.Time `json:"changedAt"`
	ReservedUntil time.Time `json:"reservedUntil,omitzero"`
}

// ActivityEntry is one entry of the activity log.
type ActivityEntry struct {
	ID         string    `json:"id"`
	OccurredAt time.Time `json:"occurredAt"`
	events.Activity
	NotMeAt time.Time `json:"notMeAt,omitzero"`
}

// IdentityPart returns the JSON of identity's part of accountID's export.
func (s *Service) IdentityPart(ctx context.Context, accountID string) (json.RawMessage, error) {
	a, err := s.Accounts.ByID(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	d := IdentityData{Account: Account{
		ID: a.ID, Email: a.Email, EmailVerified: a.EmailVerified, Phone: a.Phone, PhoneVerified: a.PhoneVerified,
		PendingPhone: a.PendingPhone, Username: a.Username, FirstName: a.FirstName, LastName: a.LastName,
		Status: string(a.Status), Roles: a.Roles, TwoFactorEnabled: a.TwoFactorEnabled, HasPassword: a.PasswordHash != "",
		PasswordChangedAt: a.PasswordChangedAt.UTC(), CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		DeactivatedAt: a.DeactivatedAt.UTC(), DeactivationReason: a.DeactivationReason,
	}}
	src := s.Sources
	if src.Devices != nil {
		list, err := src.Devices.ListAll(ctx, accountID, true)
		if err != nil {
			return nil, fmt.Errorf("read trusted devices: %w", err)
		}
		for _, t := range list {
			d.TrustedDevices = append(d.TrustedDevices, TrustedDevice{
				ID: t.ID, DeviceID: t.DeviceID, DeviceName: t.DeviceName, Platform: t.Platform, CreatedAt: t.CreatedAt.UTC(),
				LastUsedAt: t.LastUsedAt.UTC(), LastIPAddress: t.LastIP, UserAgent: t.UserAgent, LastLocation: t.LastLocation,
				LastLoginMethod: t.LastLoginMethod, Timezone: t.Timezone, LoginCount: t.LoginCount, RevokedAt: t.RevokedAt.UTC(),
			})
		}
	}
	if src.Providers != nil {
		list, err := src.Providers.ListByAccount(ctx, accountID)
		if err != nil {
			return nil, fmt.Errorf("read linked providers: %w", err)
		}
		for _, l := range list {
			d.LinkedProviders = append(d.LinkedProviders, LinkedProvider{Provider: l.Provider, Subject: l.Subject, Email: l.Email, LinkedAt: l.LinkedAt.UTC()})
		}
	}
	if err := s.factors(ctx, accountID, &d.Factors); err != nil {
		return nil, err
	}
	if src.APIKeys != nil {
		list, err := src.APIKeys.List(ctx, accountID)
		if err != nil {
			return nil, fmt.Errorf("read api keys: %w", err)
		}
		for _, k := range list {
			d.APIKeys = append(d.APIKeys, APIKey{
				ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes.Names(), CreatedAt: k.CreatedAt.UTC(),
				ExpiresAt: k.ExpiresAt.UTC(), LastUsedAt: k.LastUsedAt.UTC(),
			})
		}
	}
	if src.Usernames != nil {
		list, err := src.Usernames.History(ctx, accountID)
		if err != nil {
			return nil, fmt.Errorf("read username history: %w", err)
		}
		for _, c := range list {
			d.UsernameHistory = append(d.UsernameHistory, UsernameChange{
				OldUsername: c.OldUsername, NewUsername: c.NewUsername, ChangedAt: c.ChangedAt.UTC(), ReservedUntil: c.ReservedUntil.UTC(),
			})
		}
	}
	if src.Activity != nil {
		if d.Activity, err = readActivity(ctx, src.Activity, accountID); err != nil {
			return nil, err
		}
	}
	for {
		raw, err := json.Marshal(&d)
		if err != nil {
			return nil, fmt.Errorf("marshal identity part: %w", err)
		}
		if len(raw) <= MaxIdentityPartBytes {
			return raw, nil
		}
		if len(d.Activity) == 0 {
			return nil, fmt.Errorf("identity part of %d bytes: %w", len(raw), events.ErrExportPartTooLarge)
		}
		d.Activity, d.Truncated = d.Activity[:len(d.Activity)/2], true // newest first: the oldest go
	}
}

func (s *Service) factors(ctx context.Context, accountID string, f *Factors) error {
	src := s.Sources
	if src.Authenticators != nil {
		r, err := src.Authenticators.Get(ctx, accountID)
		switch {
		case err == nil:
			f.Authenticator = &Authenticator{Confirmed: r.Confirmed, CreatedAt: r.CreatedAt.UTC(), ConfirmedAt: r.ConfirmedAt.UTC()}
		case !errors.Is(err, totp.ErrNotFound):
			return fmt.Errorf("read authenticator: %w", err)
		}
	}
	if src.Passkeys != nil {
		list, err := src.Passkeys.List(ctx, accountID)
		if err != nil {
			return fmt.Errorf("read passkeys: %w", err)
		}
		for _, p := range list {
			f.Passkeys = append(f.Passkeys, Passkey{
				ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), LastUsedAt: p.LastUsedAt.UTC(),
				BackupEligible: p.BackupEligible, BackedUp: p.BackupState, Transports: p.Transports,
			})
		}
	}
	if src.RecoveryCodes != nil {
		n, err := src.RecoveryCodes.Remaining(ctx, accountID)
		if err != nil {
			return fmt.Errorf("read recovery codes: %w", err)
		}
		f.RecoveryCodesRemaining = &n
	}
	return nil
}

// readActivity reads the account's whole log (within the retention), newest first, page by page.
func readActivity(ctx context.Context, r activity.Reader, accountID string) ([]ActivityEntry, error) {
	out := []ActivityEntry{}
	for page := range maxActivityPages {
		p, err := r.List(ctx, accountID, activity.Query{Page: page, Size: activityPageSize})
		if err != nil {
			return nil, fmt.Errorf("read activity log: %w", err)
		}
		for _, e := range p.Entries {
			out = append(out, ActivityEntry{ID: e.ID, OccurredAt: e.OccurredAt.UTC(), Activity: e.Activity, NotMeAt: e.NotMeAt.UTC()})
		}
		if len(p.Entries) < activityPageSize || int64(len(out)) >= p.Total {
			break
		}
	}
	return out, nil
}
