package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/device"
)

// "This wasn't me": the owner reports a sign-in, or a change made in a session, as not theirs —
// from the activity log while signed in (ReportNotMe), or with the one-time link of a security alert
// without signing in (ReportNotMeByLink). Either way Latchkey
//   - ends the session it came from (the session service publishes session.revoked, so every
//     service refuses its tokens within a second; refresh tokens die with the session),
//   - forgets the device it came from (the next sign-in from it needs device verification),
//   - revokes the API keys created in that session (api_key.revoked for each),
//   - requires a password reset: password login is refused (ErrPasswordResetRequired, only once the
//     password was proven) until a new password is set. The other sign-in methods (codes, passkeys,
//     providers) prove a factor a password thief does not hold, so they stay open: the owner must
//     still be able to get in and reset,
//   - alerts the owner (events.AlertNotMeReported) and records events.ActivityNotMe.
// Every step is idempotent; a report of the same activity entry is answered with the stored result
// and alerts once.

// Errors of "this wasn't me".
var (
	// ErrNotMeEntryNotFound: no such activity entry of the account (another account's included).
	ErrNotMeEntryNotFound = activity.ErrNotFound
	// ErrNotMeNotReportable: the entry is not a successful sign-in or a change made by the owner in
	// a session (a failed sign-in, a session end, an operator's action, a report itself, ...).
	ErrNotMeNotReportable = errors.New("this activity cannot be reported as not yours")
	// ErrNotMeLinkInvalid: the link's token is unknown, used or expired, or its account is gone.
	ErrNotMeLinkInvalid = errors.New("not-me link invalid or expired")
	// ErrPasswordResetRequired: the password was right, but the owner reported a sign-in or change
	// as not theirs; a new password must be set through forgot-password first.
	ErrPasswordResetRequired = errors.New("password reset required")
)

// NotMeTokenPrefix starts every "this wasn't me" link token.
const NotMeTokenPrefix = "nmt_"

// DefaultNotMeLinkTTL is how long a link works when NotMeConfig.LinkTTL is zero (NOT_ME_LINK_TTL).
const DefaultNotMeLinkTTL = 7 * 24 * time.Hour

// ReasonNotMe is the session revocation and API key revocation reason of a report.
const ReasonNotMe = "not_me"

// NotMeResult is what a report did. SessionEnded: the session it came from is ended;
// DeviceForgotten: the device it came from is no longer trusted; APIKeysRevoked: keys created in
// that session that were revoked.
type NotMeResult struct {
	SessionEnded          bool
	DeviceForgotten       bool
	APIKeysRevoked        int
	PasswordResetRequired bool
}

// NotMeLink is a stored "this wasn't me" link of a security alert: what it reports.
type NotMeLink struct {
	Hash      string // hex SHA-256 of the token
	AccountID string
	Kind      string // the alert kind it came with
	SessionID string // the session the alerted thing happened in ("" : unknown, e.g. before the session started)
	DeviceID  string // the device it came from ("" : unknown)
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: unused
}

// NotMeStore keeps the reports, the links and the password-reset demand (store.NotMe).
type NotMeStore interface {
	// RequirePasswordReset sets the account's PasswordResetRequired in one write; false when there is
	// no such account.
	RequirePasswordReset(ctx context.Context, accountID string, at time.Time) (bool, error)
	// NotMeReport returns the stored result of the account's report key, ok false when none.
	NotMeReport(ctx context.Context, accountID, key string) (NotMeResult, bool, error)
	// SaveNotMeReport stores the result of the account's report key; false when one was stored
	// already (a concurrent report won).
	SaveNotMeReport(ctx context.Context, accountID, key string, r NotMeResult, at time.Time) (bool, error)
	// InsertNotMeLink stores l.
	InsertNotMeLink(ctx context.Context, l NotMeLink) error
	// NotMeLinkByHash returns the link with the hash (UsedAt set once claimed), or ErrNotMeLinkInvalid.
	NotMeLinkByHash(ctx context.Context, hash string) (NotMeLink, error)
	// ClaimNotMeLink records the single use of the link: of concurrent claims exactly one is true.
	ClaimNotMeLink(ctx context.Context, hash string, at time.Time) (bool, error)
	// ReleaseNotMeLink gives a claim back (the report could not be carried out: the owner may retry).
	ReleaseNotMeLink(ctx context.Context, hash string) error
	// SessionsOnDevice lists the account's sessions started on deviceID at or after since.
	SessionsOnDevice(ctx context.Context, accountID, deviceID string, since time.Time) ([]string, error)
}

// NotMeMarker marks an activity entry as reported (the activity log store implements it).
type NotMeMarker interface {
	MarkNotMe(ctx context.Context, accountID, id string, at time.Time) error
}

// SessionEnder ends one session of an account (sessionclient.Client); ended is false when it was
// not the account's or had ended already.
type SessionEnder interface {
	RevokeSession(ctx context.Context, accountID, sessionID, reason string) (ended bool, err error)
}

// SessionKeyRevoker revokes the API keys created in one session (apikey.Service).
type SessionKeyRevoker interface {
	RevokeCreatedInSession(ctx context.Context, accountID, sessionID, reason string) (int, error)
}

// NotMeConfig configures the links. LinkURL empty: alerts carry no link.
type NotMeConfig struct {
	LinkURL string        // NOT_ME_URL: the page the link opens; the token is appended as #token=
	LinkTTL time.Duration // NOT_ME_LINK_TTL
}

// NotMeDeps are the collaborators of "this wasn't me". Reader and Marker may be nil (no activity
// log: every entry is not found, nothing is marked).
type NotMeDeps struct {
	Config   NotMeConfig
	Store    NotMeStore
	Reader   activity.Reader
	Marker   NotMeMarker
	Sessions SessionEnder
	Keys     SessionKeyRevoker
}

// EnableNotMe turns "this wasn't me" on. Without it reports answer ErrNotMeEntryNotFound and
// ErrNotMeLinkInvalid, and alerts carry no link.
func (s *Service) EnableNotMe(d NotMeDeps) {
	if d.Config.LinkTTL <= 0 {
		d.Config.LinkTTL = DefaultNotMeLinkTTL
	}
	s.notMe = &d
}

// notMeTarget is what a report ends.
type notMeTarget struct {
	sessionIDs []string
	deviceID   string
}

// reportable reports whether an activity entry may be reported as not the owner's.
func reportable(e activity.Entry) bool {
	if e.Outcome != "" && e.Outcome != events.OutcomeSucceeded {
		return false
	}
	if e.Kind == events.ActivitySignIn {
		return true
	}
	switch e.Kind {
	case events.ActivitySessionEnded, events.ActivityNotMe, events.ActivityAdminAction, events.ActivityAPIKeyFirstUsed,
		events.ActivityExportRequested, events.ActivityDeletionScheduled, events.ActivityDeletionCancelled:
		return false
	}
	return (e.Actor.Type == "" || e.Actor.Type == events.ActorOwner) && e.SessionID != ""
}

// ReportNotMe reports accountID's activity entry entryID as not the owner's (see the top of this
// file); callerSessionID is the reporting session (which may be the reported one: it ends too).
// Errors: ErrNotMeEntryNotFound, ErrNotMeNotReportable, ErrAccountGone, ErrSessionUnavailable.
func (s *Service) ReportNotMe(ctx context.Context, accountID, callerSessionID, entryID string) (NotMeResult, error) {
	if s.notMe == nil || s.notMe.Reader == nil || s.notMe.Store == nil {
		return NotMeResult{}, ErrNotMeEntryNotFound
	}
	e, err := s.notMe.Reader.Get(ctx, accountID, entryID)
	if errors.Is(err, activity.ErrNotFound) {
		return NotMeResult{}, ErrNotMeEntryNotFound
	}
	if err != nil {
		return NotMeResult{}, fmt.Errorf("read activity entry: %w", err)
	}
	if e.AccountID != "" && e.AccountID != accountID { // a Reader bug must never leak or act on another account
		return NotMeResult{}, ErrNotMeEntryNotFound
	}
	if !reportable(e) {
		return NotMeResult{}, ErrNotMeNotReportable
	}
	key := "entry:" + e.ID
	if r, ok, err := s.notMe.Store.NotMeReport(ctx, accountID, key); err != nil {
		return NotMeResult{}, err
	} else if ok {
		return r, nil
	}
	a, err := s.Accounts.ByID(ctx, accountID)
	if errors.Is(err, account.ErrNotFound) {
		return NotMeResult{}, ErrAccountGone
	}
	if err != nil {
		return NotMeResult{}, fmt.Errorf("load account: %w", err)
	}
	t := notMeTarget{deviceID: e.DeviceID}
	if e.SessionID != "" {
		t.sessionIDs = []string{e.SessionID}
	}
	res, err := s.carryOutNotMe(ctx, a, t)
	if err != nil {
		return NotMeResult{}, err
	}
	stored, first, err := s.saveNotMe(ctx, accountID, key, res)
	if err != nil || !first {
		return stored, err
	}
	details := map[string]string{
		"reported": e.Kind, "device": e.DeviceName, "platform": e.Platform, "ipAddress": e.IPAddress,
		"at": e.OccurredAt.UTC().Format(time.RFC3339),
	}
	s.announceNotMe(ctx, a, e.ID, callerSessionID, res, details)
	return res, nil
}

// ReportNotMeByLink does what ReportNotMe does for the link of a security alert (token raw, single
// use), without a signed-in caller. ip, when known, is limited like code answers. Errors:
// ErrNotMeLinkInvalid, *throttle.ExceededError, ErrSessionUnavailable.
func (s *Service) ReportNotMeByLink(ctx context.Context, raw, ip string) (NotMeResult, error) {
	if err := s.hitIP(ctx, ScopeCodeVerifyIP, ip, s.cfg.CodeVerifyPerIP); err != nil {
		return NotMeResult{}, err
	}
	raw = strings.TrimSpace(raw)
	if s.notMe == nil || s.notMe.Store == nil || !strings.HasPrefix(raw, NotMeTokenPrefix) || len(raw) > maxStepUpToken {
		return NotMeResult{}, ErrNotMeLinkInvalid
	}
	st := s.notMe.Store
	hash := hashSecret(raw)
	l, err := st.NotMeLinkByHash(ctx, hash)
	if err != nil {
		return NotMeResult{}, err
	}
	now := s.now().UTC()
	if !l.UsedAt.IsZero() || !now.Before(l.ExpiresAt) {
		return NotMeResult{}, ErrNotMeLinkInvalid
	}
	a, err := s.Accounts.ByID(ctx, l.AccountID)
	if errors.Is(err, account.ErrNotFound) {
		return NotMeResult{}, ErrNotMeLinkInvalid
	}
	if err != nil {
		return NotMeResult{}, fmt.Errorf("load account: %w", err)
	}
	claimed, err := st.ClaimNotMeLink(ctx, hash, now)
	if err != nil {
		return NotMeResult{}, err
	}
	if !claimed {
		return NotMeResult{}, ErrNotMeLinkInvalid
	}
	t := notMeTarget{deviceID: l.DeviceID}
	if l.SessionID != "" {
		t.sessionIDs = []string{l.SessionID}
	} else if l.DeviceID != "" {
		// A new-device sign-in is alerted before its session starts: every session started on that
		// device since shortly before the alert is the reported one.
		if t.sessionIDs, err = st.SessionsOnDevice(ctx, a.ID, l.DeviceID, l.IssuedAt.Add(-time.Minute)); err != nil {
			s.releaseNotMeLink(ctx, hash)
			return NotMeResult{}, err
		}
	}
	res, err := s.carryOutNotMe(ctx, a, t)
	if err != nil {
		s.releaseNotMeLink(ctx, hash) // nothing promised yet: the owner may use the link again
		return NotMeResult{}, err
	}
	if _, err := st.SaveNotMeReport(ctx, a.ID, "link:"+hash, res, now); err != nil {
		s.Logger.WarnContext(ctx, "not-me report not stored", "account_id", a.ID, "err", err)
	}
	s.announceNotMe(ctx, a, "", "", res, map[string]string{"reported": l.Kind, "at": l.IssuedAt.UTC().Format(time.RFC3339)})
	return res, nil
}

func (s *Service) releaseNotMeLink(ctx context.Context, hash string) {
	if err := s.notMe.Store.ReleaseNotMeLink(ctx, hash); err != nil {
		s.Logger.WarnContext(ctx, "not-me link claim not released", "err", err)
	}
}

// carryOutNotMe does the steps of a report; each is idempotent, so a failed report is retried
// whole. A session service outage fails it (ErrSessionUnavailable): the session must end.
func (s *Service) carryOutNotMe(ctx context.Context, a account.Account, t notMeTarget) (NotMeResult, error) {
	d := s.notMe
	now := s.now().UTC()
	// The password demand first: from here on the password alone signs nobody in.
	ok, err := d.Store.RequirePasswordReset(ctx, a.ID, now)
	if err != nil {
		return NotMeResult{}, fmt.Errorf("require password reset: %w", err)
	}
	if !ok {
		return NotMeResult{}, ErrAccountGone
	}
	res := NotMeResult{PasswordResetRequired: true}
	for _, sid := range t.sessionIDs {
		if d.Sessions == nil {
			return NotMeResult{}, fmt.Errorf("%w: no session ender", ErrSessionUnavailable)
		}
		_, err := d.Sessions.RevokeSession(ctx, a.ID, sid, ReasonNotMe)
		if errors.Is(err, ErrRevocationRejected) {
			// Not a session id the session service knows the shape of: nothing lives under it.
			s.Logger.ErrorContext(ctx, "session revocation rejected", "account_id", a.ID, "err", err)
			continue
		}
		if err != nil {
			return NotMeResult{}, fmt.Errorf("end session: %w", err)
		}
		res.SessionEnded = true // ended now or before: it is ended
	}
	deviceID := t.deviceID
	if deviceID == "" && len(t.sessionIDs) == 1 {
		switch id, err := s.Devices.SessionDevice(ctx, a.ID, t.sessionIDs[0]); {
		case err == nil:
			deviceID = id
		case !errors.Is(err, device.ErrNotFound):
			return NotMeResult{}, fmt.Errorf("find session device: %w", err)
		}
	}
	if deviceID != "" {
		switch td, err := s.Devices.Find(ctx, a.ID, deviceID); {
		case err == nil:
			if err := s.Devices.Revoke(ctx, a.ID, td.ID); err != nil && !errors.Is(err, device.ErrNotFound) {
				return NotMeResult{}, fmt.Errorf("forget device: %w", err)
			}
			res.DeviceForgotten = true
		case errors.Is(err, device.ErrNotFound):
			res.DeviceForgotten = true // not trusted (any more): the next sign-in from it is verified
		default:
			return NotMeResult{}, fmt.Errorf("find trusted device: %w", err)
		}
	}
	for _, sid := range t.sessionIDs {
		if d.Keys == nil {
			s.Logger.ErrorContext(ctx, "no API-key service to revoke the session's keys", "account_id", a.ID)
			break
		}
		n, err := d.Keys.RevokeCreatedInSession(ctx, a.ID, sid, ReasonNotMe)
		res.APIKeysRevoked += n
		if err != nil {
			return NotMeResult{}, fmt.Errorf("revoke api keys of the session: %w", err)
		}
	}
	s.Logger.InfoContext(ctx, "not-me report carried out", "account_id", a.ID, "session_ended", res.SessionEnded,
		"device_forgotten", res.DeviceForgotten, "api_keys_revoked", res.APIKeysRevoked)
	return res, nil
}

// saveNotMe stores res as the report key's result. first is false when a concurrent report stored
// one first: that one is returned, and only the first alerts.
func (s *Service) saveNotMe(ctx context.Context, accountID, key string, res NotMeResult) (NotMeResult, bool, error) {
	st := s.notMe.Store
	saved, err := st.SaveNotMeReport(ctx, accountID, key, res, s.now().UTC())
	if err != nil {
		return NotMeResult{}, false, err
	}
	if saved {
		return res, true, nil
	}
	stored, ok, err := st.NotMeReport(ctx, accountID, key)
	if err != nil || !ok {
		return res, false, err
	}
	return stored, false, nil
}

// announceNotMe alerts the owner, records the report in the activity log and marks the entry.
func (s *Service) announceNotMe(ctx context.Context, a account.Account, entryID, callerSessionID string, res NotMeResult, details map[string]string) {
	for k, v := range details {
		if v == "" {
			delete(details, k)
		}
	}
	details["sessionEnded"] = strconv.FormatBool(res.SessionEnded)
	details["deviceForgotten"] = strconv.FormatBool(res.DeviceForgotten)
	details["apiKeysRevoked"] = strconv.Itoa(res.APIKeysRevoked)
	s.alertOrLog(ctx, a, events.AlertNotMeReported, details)
	act := events.Activity{Kind: events.ActivityNotMe, SessionID: callerSessionID, Details: map[string]string{}}
	if entryID != "" {
		act.Details["entryId"] = entryID
	}
	if r := details["reported"]; r != "" {
		act.Details["reported"] = r
	}
	s.RecordActivity(ctx, a.ID, act)
	if entryID != "" && s.notMe.Marker != nil {
		if err := s.notMe.Marker.MarkNotMe(ctx, a.ID, entryID, s.now().UTC()); err != nil {
			s.Logger.WarnContext(ctx, "activity entry not marked as reported", "account_id", a.ID, "entry_id", entryID, "err", err)
		}
	}
}

// notMeLinkKinds are the alerts about a sign-in or a change that carry a "this wasn't me" link.
var notMeLinkKinds = map[string]bool{
	events.AlertNewDeviceSignIn: true, events.AlertPasswordChanged: true, events.AlertEmailChanged: true,
	events.AlertEmailLinked: true, events.AlertPhoneChanged: true, events.AlertAuthenticatorAdded: true,
	events.AlertPasskeyAdded: true, events.AlertProviderLinked: true, events.AlertAPIKeyCreated: true,
	events.AlertTwoFactorDisabled: true, events.AlertRecoveryCodesGenerated: true,
}

type notMeOriginKey struct{}

type notMeOrigin struct{ sessionID, deviceID string }

// withNotMeOrigin tells the alerts queued with ctx where the alerted thing came from, when no
// signed-in session says it (a sign-in: the alert goes before the session starts).
func withNotMeOrigin(ctx context.Context, sessionID, deviceID string) context.Context {
	return context.WithValue(ctx, notMeOriginKey{}, notMeOrigin{sessionID: sessionID, deviceID: deviceID})
}

// AddNotMeLink puts a "this wasn't me" link (notMeUrl) into the details of an alert of kind about
// accountID, when links are configured, the kind is one of notMeLinkKinds and the request says which
// session or device it came from (an API key's request has no session: no link). A failure is
// logged: the alert goes without the link.
func (s *Service) AddNotMeLink(ctx context.Context, accountID, kind string, details map[string]string) {
	if s.notMe == nil || s.notMe.Store == nil || s.notMe.Config.LinkURL == "" || !notMeLinkKinds[kind] || details == nil {
		return
	}
	o, _ := ctx.Value(notMeOriginKey{}).(notMeOrigin)
	if o.sessionID == "" && o.deviceID == "" {
		if p, ok := authn.FromContext(ctx); ok && !p.IsAPIKey() && p.AccountID == accountID {
			o.sessionID = p.SessionID
		}
	}
	if o.sessionID == "" && o.deviceID == "" {
		return
	}
	if o.deviceID == "" {
		if id, err := s.Devices.SessionDevice(ctx, accountID, o.sessionID); err == nil {
			o.deviceID = id
		}
	}
	raw, err := newStepUpSecret(NotMeTokenPrefix)
	if err == nil {
		now := s.now().UTC()
		err = s.notMe.Store.InsertNotMeLink(ctx, NotMeLink{
			Hash: hashSecret(raw), AccountID: accountID, Kind: kind, SessionID: o.sessionID, DeviceID: o.deviceID,
			IssuedAt: now, ExpiresAt: now.Add(s.notMe.Config.LinkTTL),
		})
	}
	if err != nil {
		s.Logger.ErrorContext(ctx, "not-me link not stored; alert goes without it", "account_id", accountID, "kind", kind, "err", err)
		return
	}
	base := s.notMe.Config.LinkURL
	sep := "#token="
	if strings.Contains(base, "#") {
		sep = "&token="
	}
	details["notMeUrl"] = base + sep + raw
}
