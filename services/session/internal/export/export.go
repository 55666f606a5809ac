// Package export is the session service's part of an account's data export: on
// account.export_requested (account.events.v1) it gathers every session of the account and what its
// account projection holds, and queues one events.ExportPart on account.exports.v1 through the outbox.
// Refresh-token hashes, sealed grace pairs and signing keys are never part of it.
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
	"github.com/latchkey/latchkey/services/session/internal/account"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// MaxSessions bounds the sessions one export reads (newest first); an account has far fewer.
const MaxSessions = 5000

// Sessions reads an account's sessions in every state, without their secrets (store.Sessions).
type Sessions interface {
	AllForAccount(ctx context.Context, accountID string, limit int) ([]session.Session, error)
}

// Accounts reads the account projection (store.Accounts).
type Accounts interface {
	Get(ctx context.Context, accountID string) (account.Facts, error)
}

// Outbox queues an event (kafkax.Outbox).
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Exporter builds and sends the session service's export parts.
type Exporter struct {
	sessions Sessions
	accounts Accounts
	outbox   Outbox
	log      *slog.Logger
	now      func() time.Time
}

// New returns an Exporter. log nil means slog.Default().
func New(sessions Sessions, accounts Accounts, outbox Outbox, log *slog.Logger) *Exporter {
	if log == nil {
		log = slog.Default()
	}
	return &Exporter{sessions: sessions, accounts: accounts, outbox: outbox, log: log, now: time.Now}
}

// Data is the session service's part: every session of the account and its account projection.
type Data struct {
	Sessions []Session `json:"sessions"`
	// Account is what the session service keeps of identity's and profile's facts (null when it has
	// not heard of the account).
	Account *Account `json:"account"`
	// Truncated: the oldest sessions were left out to keep the part under events.MaxExportPartBytes.
	Truncated bool `json:"truncated,omitempty"`
}

// Session is one session as exported.
type Session struct {
	ID           string    `json:"id"`
	DeviceID     string    `json:"deviceId,omitempty"`
	DeviceName   string    `json:"deviceName,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	Browser      string    `json:"browser,omitempty"`
	OS           string    `json:"os,omitempty"`
	IPAddress    string    `json:"ipAddress,omitempty"`
	UserAgent    string    `json:"userAgent,omitempty"`
	Location     string    `json:"location,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	LastActiveAt time.Time `json:"lastActiveAt"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Active       bool      `json:"active"`
	RevokedAt    time.Time `json:"revokedAt,omitzero"`
	RevokeReason string    `json:"revokeReason,omitempty"`
	AMR          []string  `json:"amr,omitempty"`
	ACR          string    `json:"acr,omitempty"`
	AuthTime     time.Time `json:"authTime,omitzero"`
}

// Account is the account projection as exported.
type Account struct {
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"emailVerified"`
	FullName      string `json:"fullName,omitempty"`
}

// Part returns the JSON of accountID's part.
func (e *Exporter) Part(ctx context.Context, accountID string) (json.RawMessage, error) {
	list, err := e.sessions.AllForAccount(ctx, accountID, MaxSessions)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	now := e.now()
	data := Data{Sessions: make([]Session, 0, len(list))}
	for _, s := range list {
		data.Sessions = append(data.Sessions, Session{
			ID: s.ID, DeviceID: s.DeviceID, DeviceName: s.DeviceName, Platform: s.Platform, Browser: s.Browser, OS: s.OS,
			IPAddress: s.IPAddress, UserAgent: s.UserAgent, Location: s.Location,
			CreatedAt: s.CreatedAt.UTC(), LastActiveAt: s.LastActiveAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
			Active: s.Active(now), RevokedAt: s.RevokedAt.UTC(), RevokeReason: s.RevokeReason,
			AMR: s.Assurance.AMR, ACR: s.Assurance.ACR, AuthTime: s.Assurance.AuthTime.UTC(),
		})
	}
	facts, err := e.accounts.Get(ctx, accountID)
	switch {
	case err == nil:
		data.Account = &Account{Email: facts.Email, EmailVerified: facts.EmailVerified, FullName: facts.FullName}
	case !errors.Is(err, account.ErrNotFound):
		return nil, fmt.Errorf("read account projection: %w", err)
	}
	raw, _, err := events.MarshalExportData(&data, func() bool {
		if len(data.Sessions) == 0 {
			return false
		}
		data.Sessions, data.Truncated = data.Sessions[:len(data.Sessions)/2], true // newest first: the oldest go
		return true
	})
	return raw, err
}

// Handle returns next wrapped for account.events.v1: account.export_requested is answered with the
// session part (kafkax.AnswerExportRequests), every other type goes to next.
func (e *Exporter) Handle(next func(context.Context, events.Envelope) error) func(context.Context, events.Envelope) error {
	return kafkax.AnswerExportRequests(events.ExportServiceSession, e.Part, e.outbox, e.log, next)
}
