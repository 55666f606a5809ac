// Package passkey keeps the accounts' passkeys (WebAuthn credentials) and runs their ceremonies with
// go-webauthn: registration by a signed-in owner, assertions as a second factor or step-up (it
// implements auth.Passkeys), and passwordless sign-in with discoverable credentials.
//
// Ceremony state (the challenge and what go-webauthn needs to check the answer) stays on the server,
// in the store, keyed by what the ceremony is bound to (the owner's session for a registration, the
// caller's binding for an assertion, the SHA-256 of a random token for a passwordless sign-in); it
// expires and is consumed once, by one conditional write. Every WebAuthn user gets a random 32-byte
// handle of its own, never its account id or e-mail, so a credential reveals nothing about the account.
//
// A signature counter that does not move forward (while it or the stored one is non-zero) means the
// credential was cloned: the assertion is refused and the credential flagged, and a flagged credential
// is refused until its owner removes it.
package passkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// Limits.
const (
	// DefaultMaxPerAccount is how many passkeys one account may hold.
	DefaultMaxPerAccount = 20
	// DefaultCeremonyTTL is how long a begun ceremony can be finished.
	DefaultCeremonyTTL = 5 * time.Minute
	// MaxNameLen is the longest passkey name (characters).
	MaxNameLen = 64
	// handleLen is the size of a WebAuthn user handle (random bytes).
	handleLen = 32
	// tokenPrefix starts the ceremony tokens of passwordless sign-ins.
	tokenPrefix = "pkl_"
)

// Ceremony kinds.
const (
	KindRegistration = "registration"
	KindAssertion    = "assertion"
	KindSignIn       = "sign_in"
)

// Errors.
var (
	// ErrNotFound: no passkey of the account has this id.
	ErrNotFound = errors.New("passkey not found")
	// ErrTooMany: the account holds the maximum number of passkeys.
	ErrTooMany = errors.New("too many passkeys")
	// ErrInvalid: a response that does not verify, or a ceremony that is unknown, expired or used
	// (auth.ErrPasskeyInvalid, so the sign-in flow can tell it from a store failure).
	ErrInvalid = auth.ErrPasskeyInvalid
	// ErrAlreadyRegistered: the credential is registered already (to this or another account).
	ErrAlreadyRegistered = errors.New("passkey already registered")
	// ErrNoPasskeys: an assertion was asked of an account without (usable) passkeys.
	ErrNoPasskeys = errors.New("account has no passkeys")
	// ErrNotConfigured: the relying party is not configured (WEBAUTHN_RP_ID).
	ErrNotConfigured = errors.New("passkeys are not configured")
	// ErrAccountGone: the signed-in account no longer exists or may not sign in.
	ErrAccountGone = auth.ErrAccountGone
)

// Credential is a stored passkey.
type Credential struct {
	ID           string // ours, for the API paths
	AccountID    string
	CredentialID []byte // the authenticator's
	PublicKey    []byte // COSE
	SignCount    uint32
	AAGUID       []byte
	Transports   []string
	// Flags are the authenticator data flags of the last ceremony (raw); BackupEligible never changes,
	// BackupState may.
	Flags             byte
	BackupEligible    bool
	BackupState       bool
	UserVerified      bool // the user was verified at registration
	AttestationType   string
	AttestationFormat string
	Name              string
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero: never used
	// CloneDetectedAt is set when the counter showed a clone: the credential is refused since.
	CloneDetectedAt time.Time
}

// Ceremony is a begun ceremony's server-side state.
type Ceremony struct {
	Key       string // what it is bound to (see ceremonyKey)
	Kind      string
	AccountID string // empty for a passwordless sign-in
	Session   []byte // webauthn.SessionData, JSON
	ExpiresAt time.Time
}

// Store keeps passkeys, user handles and ceremonies (store.Passkeys implements it).
type Store interface {
	// UserHandle returns the account's user handle, storing candidate as it when it has none yet.
	UserHandle(ctx context.Context, accountID string, candidate []byte) ([]byte, error)
	// AccountByHandle returns the account of a user handle, or ErrNotFound.
	AccountByHandle(ctx context.Context, handle []byte) (string, error)
	// List returns the account's passkeys, oldest first.
	List(ctx context.Context, accountID string) ([]Credential, error)
	// Count returns how many usable passkeys the account has (not flagged as cloned).
	Count(ctx context.Context, accountID string) (int, error)
	// Insert stores c; ErrAlreadyRegistered when its credential id is stored already.
	Insert(ctx context.Context, c Credential) error
	// Rename sets the name of the account's passkey id; ErrNotFound.
	Rename(ctx context.Context, accountID, id, name string) (Credential, error)
	// Delete removes the account's passkey id and returns it; ErrNotFound.
	Delete(ctx context.Context, accountID, id string) (Credential, error)
	// RecordUse stores the counter, flags and last use of an assertion while the stored counter is
	// still prevCount; false when it moved meanwhile (a concurrent use).
	RecordUse(ctx context.Context, accountID, id string, prevCount, count uint32, flags byte, at time.Time) (bool, error)
	// FlagClone marks the account's passkey id as cloned at `at`.
	FlagClone(ctx context.Context, accountID, id string, at time.Time) error
	// PutCeremony stores c, replacing a ceremony with the same key.
	PutCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony consumes the unexpired, unused ceremony of key and kind at now; ErrInvalid when
	// there is none. Of concurrent calls at most one gets it.
	TakeCeremony(ctx context.Context, key, kind string, now time.Time) (Ceremony, error)
}

// Accounts reads accounts (for the names shown by authenticators).
type Accounts interface {
	ByID(ctx context.Context, id string) (account.Account, error)
}

// Alerts tells an account's owner about a security-relevant change (auth.Service.Alert).
type Alerts interface {
	Alert(ctx context.Context, a account.Account, kind string, details map[string]string) error
}

// ActivityLog records passkey changes in the owner's activity log (auth.Service does); the Alerts
// given to SetAlerts is used when it is one.
type ActivityLog interface {
	RecordPasskeyChange(ctx context.Context, accountID, change, name string)
}

// recordChange records a passkey change (added, removed, renamed) when the alerts can.
func (s *Service) recordChange(ctx context.Context, accountID, change, name string) {
	if l, ok := s.alerts.(ActivityLog); ok {
		l.RecordPasskeyChange(ctx, accountID, change, name)
	}
}

// Config is the relying party and the limits.
type Config struct {
	RPID          string   // WEBAUTHN_RP_ID: the registrable domain the passkeys belong to
	RPDisplayName string   // WEBAUTHN_RP_DISPLAY_NAME
	RPOrigins     []string // WEBAUTHN_RP_ORIGINS: the origins the browser may report
	MaxPerAccount int      // 0: DefaultMaxPerAccount
	CeremonyTTL   time.Duration
}

// Enabled reports whether passkeys are configured.
func (c Config) Enabled() bool { return c.RPID != "" }

// Validate checks the relying party: an RP ID that is a domain (no IP, scheme or port), and origins
// that are https (http only on loopback: localhost, 127.0.0.1, [::1]) whose host is the RP ID or
// under it. Errors name the variables.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if err := protocol.ValidateRPID(c.RPID); err != nil || strings.ToLower(c.RPID) != c.RPID {
		errs = append(errs, fmt.Errorf("WEBAUTHN_RP_ID=%q: want a lower-case domain name without scheme or port (not an IP address)", c.RPID))
	}
	if strings.TrimSpace(c.RPDisplayName) == "" {
		errs = append(errs, errors.New("WEBAUTHN_RP_DISPLAY_NAME: required when WEBAUTHN_RP_ID is set"))
	}
	if len(c.RPOrigins) == 0 {
		errs = append(errs, errors.New("WEBAUTHN_RP_ORIGINS: required when WEBAUTHN_RP_ID is set"))
	}
	for _, o := range c.RPOrigins {
		if err := checkOrigin(o, c.RPID); err != nil {
			errs = append(errs, fmt.Errorf("WEBAUTHN_RP_ORIGINS: %q: %w", o, err))
		}
	}
	return errors.Join(errs...)
}

func checkOrigin(o, rpID string) error {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("want an origin: scheme://host[:port]")
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(host) {
			return errors.New("want https (http only on localhost or a loopback address)")
		}
	default:
		return errors.New("want an https origin")
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return fmt.Errorf("host is not WEBAUTHN_RP_ID %q or a subdomain of it", rpID)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Service runs the passkey ceremonies.
type Service struct {
	cfg      Config
	wa       *webauthn.WebAuthn
	store    Store
	accounts Accounts
	alerts   Alerts
	log      *slog.Logger
	now      func() time.Time
}

// SetAlerts makes s alert the owner of every passkey added and removed.
func (s *Service) SetAlerts(a Alerts) { s.alerts = a }

func (s *Service) alert(ctx context.Context, a account.Account, kind, name string) {
	if s.alerts == nil {
		return
	}
	if err := s.alerts.Alert(ctx, a, kind, map[string]string{"name": name}); err != nil {
		s.log.WarnContext(ctx, "security alert not queued", "account_id", a.ID, "kind", kind, "err", err)
	}
	switch kind {
	case events.AlertPasskeyAdded:
		s.recordChange(ctx, a.ID, "added", name)
	case events.AlertPasskeyRemoved:
		s.recordChange(ctx, a.ID, "removed", name)
	}
}

// owner loads the signed-in account id, which must still be allowed to sign in.
func (s *Service) owner(ctx context.Context, accountID string) (account.Account, error) {
	a, err := s.accounts.ByID(ctx, accountID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return account.Account{}, ErrAccountGone
	case err != nil:
		return account.Account{}, fmt.Errorf("load account: %w", err)
	case !a.CanSignIn():
		return account.Account{}, ErrAccountGone
	}
	return a, nil
}

// NewService returns the service of cfg (which must be enabled and valid).
func NewService(cfg Config, st Store, accounts Accounts, log *slog.Logger) (*Service, error) {
	if !cfg.Enabled() {
		return nil, ErrNotConfigured
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxPerAccount <= 0 {
		cfg.MaxPerAccount = DefaultMaxPerAccount
	}
	if cfg.CeremonyTTL <= 0 {
		cfg.CeremonyTTL = DefaultCeremonyTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: cfg.RPID, RPDisplayName: cfg.RPDisplayName, RPOrigins: cfg.RPOrigins,
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn relying party: %w", err)
	}
	return &Service{cfg: cfg, wa: wa, store: st, accounts: accounts, log: log, now: time.Now}, nil
}

// WithClock returns a copy of s reading the time from now.
func (s *Service) WithClock(now func() time.Time) *Service {
	c := *s
	c.now = now
	return &c
}

// MaxPerAccount is the cap of passkeys per account.
func (s *Service) MaxPerAccount() int { return s.cfg.MaxPerAccount }

// user is an account as go-webauthn sees it.
type user struct {
	handle      []byte
	name, shown string
	creds       []Credential
}

func (u *user) WebAuthnID() []byte          { return u.handle }
func (u *user) WebAuthnName() string        { return u.name }
func (u *user) WebAuthnDisplayName() string { return u.shown }
func (u *user) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(u.creds))
	for _, c := range u.creds {
		if !c.CloneDetectedAt.IsZero() {
			continue // refused since its clone was seen
		}
		out = append(out, c.webauthn())
	}
	return out
}

func (c Credential) webauthn() webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: c.CredentialID, PublicKey: c.PublicKey, AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
		Transport: tr, Flags: webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(c.Flags)),
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}

// loadUser builds the WebAuthn user of an account (creating its handle when needed).
func (s *Service) loadUser(ctx context.Context, a account.Account) (*user, error) {
	candidate := make([]byte, handleLen)
	if _, err := rand.Read(candidate); err != nil {
		return nil, fmt.Errorf("user handle: %w", err)
	}
	handle, err := s.store.UserHandle(ctx, a.ID, candidate)
	if err != nil {
		return nil, err
	}
	creds, err := s.store.List(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	name := a.Email
	if name == "" {
		name = a.Username
	}
	if name == "" {
		name = a.Phone
	}
	shown := a.Username
	if shown == "" {
		shown = name
	}
	return &user{handle: handle, name: name, shown: shown, creds: creds}, nil
}

func (s *Service) putCeremony(ctx context.Context, key, kind, accountID string, sd *webauthn.SessionData) error {
	raw, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("encode ceremony: %w", err)
	}
	return s.store.PutCeremony(ctx, Ceremony{Key: key, Kind: kind, AccountID: accountID, Session: raw, ExpiresAt: s.now().Add(s.cfg.CeremonyTTL).UTC()})
}

func (s *Service) takeCeremony(ctx context.Context, key, kind string) (webauthn.SessionData, Ceremony, error) {
	c, err := s.store.TakeCeremony(ctx, key, kind, s.now().UTC())
	if err != nil {
		return webauthn.SessionData{}, Ceremony{}, err
	}
	var sd webauthn.SessionData // a fresh one, as go-webauthn asks
	if err := json.Unmarshal(c.Session, &sd); err != nil {
		return webauthn.SessionData{}, Ceremony{}, fmt.Errorf("decode ceremony: %w", err)
	}
	return sd, c, nil
}

// ceremonyKey is the store key of a ceremony: its kind, the account and what it is bound to.
func ceremonyKey(kind, accountID, binding string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + accountID + "\x00" + binding))
	return kind + ":" + hex.EncodeToString(sum[:])
}

// Registration is a registration answer.
type Registration struct {
	Response json.RawMessage // the PublicKeyCredential (attestation) JSON
	Name     string
}

// BeginRegistration starts registering a passkey for the account, bound to the owner's session (sessionID):
// the CredentialCreation JSON ({"publicKey": {...}}) for navigator.credentials.create. The passkey
// must be discoverable (resident key required), user verification is preferred, and the account's
// passkeys are excluded. ErrTooMany when the account is full.
func (s *Service) BeginRegistration(ctx context.Context, accountID, sessionID string) (json.RawMessage, error) {
	a, err := s.owner(ctx, accountID)
	if err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(u.creds) >= s.cfg.MaxPerAccount {
		return nil, ErrTooMany
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(u.creds))
	for _, c := range u.creds {
		wc := c.webauthn()
		exclude = append(exclude, wc.Descriptor())
	}
	creation, sd, err := s.wa.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, fmt.Errorf("begin registration: %w", err)
	}
	if err := s.putCeremony(ctx, ceremonyKey(KindRegistration, a.ID, sessionID), KindRegistration, a.ID, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishRegistration checks the attestation against the ceremony of the owner's session (consuming
// it), stores the passkey and alerts the owner. ErrInvalid when it does not verify or there is no
// live ceremony; ErrTooMany; ErrAlreadyRegistered.
func (s *Service) FinishRegistration(ctx context.Context, accountID, sessionID string, r Registration) (Credential, error) {
	a, err := s.owner(ctx, accountID)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(r.Response)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	sd, _, err := s.takeCeremony(ctx, ceremonyKey(KindRegistration, a.ID, sessionID), KindRegistration)
	if err != nil {
		return Credential{}, err
	}
	u, err := s.loadUser(ctx, a)
	if err != nil {
		return Credential{}, err
	}
	if len(u.creds) >= s.cfg.MaxPerAccount {
		return Credential{}, ErrTooMany
	}
	wc, err := s.wa.CreateCredential(u, sd, parsed)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	now := s.now().UTC()
	name := CleanName(r.Name)
	if name == "" {
		name = fmt.Sprintf("Passkey %d", len(u.creds)+1)
	}
	c := Credential{
		ID: events.NewID(), AccountID: a.ID, CredentialID: wc.ID, PublicKey: wc.PublicKey, SignCount: wc.Authenticator.SignCount,
		AAGUID: wc.Authenticator.AAGUID, Flags: byte(wc.Flags.ProtocolValue()), BackupEligible: wc.Flags.BackupEligible,
		BackupState: wc.Flags.BackupState, UserVerified: wc.Flags.UserVerified, AttestationType: wc.AttestationType,
		AttestationFormat: wc.AttestationFormat, Name: name, CreatedAt: now,
	}
	for _, t := range wc.Transport {
		c.Transports = append(c.Transports, string(t))
	}
	if err := s.store.Insert(ctx, c); err != nil {
		return Credential{}, err
	}
	s.alert(ctx, a, events.AlertPasskeyAdded, c.Name)
	return c, nil
}

// CleanName trims a passkey name and cuts it to MaxNameLen characters.
func CleanName(n string) string {
	n = strings.TrimSpace(n)
	if utf8.RuneCountInString(n) > MaxNameLen {
		n = strings.TrimSpace(string([]rune(n)[:MaxNameLen]))
	}
	return n
}

// List returns the account's passkeys.
func (s *Service) List(ctx context.Context, accountID string) ([]Credential, error) {
	return s.store.List(ctx, accountID)
}

// Rename names the account's passkey id; ErrNotFound.
func (s *Service) Rename(ctx context.Context, accountID, id, name string) (Credential, error) {
	c, err := s.store.Rename(ctx, accountID, id, CleanName(name))
	if err == nil {
		s.recordChange(ctx, accountID, "renamed", c.Name)
	}
	return c, err
}

// Delete removes the account's passkey id and alerts the owner; ErrNotFound.
func (s *Service) Delete(ctx context.Context, accountID, id string) (Credential, error) {
	c, err := s.store.Delete(ctx, accountID, id)
	if err != nil {
		return Credential{}, err
	}
	if a, err := s.accounts.ByID(ctx, accountID); err == nil {
		s.alert(ctx, a, events.AlertPasskeyRemoved, c.Name)
	}
	return c, nil
}

// Count implements auth.Passkeys: the passkeys that can still answer an assertion (a credential
// flagged as cloned does not count).
func (s *Service) Count(ctx context.Context, accountID string) (int, error) {
	return s.store.Count(ctx, accountID)
}

// BeginAssertion implements auth.Passkeys: an assertion over the account's passkeys (user
// verification preferred) bound to binding. ErrNoPasskeys when the account has none usable.
func (s *Service) BeginAssertion(ctx context.Context, accountID, binding string) (json.RawMessage, error) {
	a, err := s.accounts.ByID(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	u, err := s.loadUser(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(u.WebAuthnCredentials()) == 0 {
		return nil, ErrNoPasskeys
	}
	assertion, sd, err := s.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin assertion: %w", err)
	}
	if err := s.putCeremony(ctx, ceremonyKey(KindAssertion, accountID, binding), KindAssertion, accountID, sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// FinishAssertion implements auth.Passkeys. ok is false for anything that does not verify (no live
// ceremony, a foreign or unknown credential, a bad signature, a cloned credential); err is a store
// failure.
func (s *Service) FinishAssertion(ctx context.Context, accountID, binding string, assertion json.RawMessage) ([]string, bool, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(assertion)
	if err != nil {
		return nil, false, nil
	}
	sd, _, err := s.takeCeremony(ctx, ceremonyKey(KindAssertion, accountID, binding), KindAssertion)
	if errors.Is(err, ErrInvalid) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	a, err := s.accounts.ByID(ctx, accountID)
	if err != nil {
		return nil, false, fmt.Errorf("load account: %w", err)
	}
	u, err := s.loadUser(ctx, a)
	if err != nil {
		return nil, false, err
	}
	wc, err := s.wa.ValidateLogin(u, sd, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "passkey assertion refused", "account_id", accountID, "reason", describe(err))
		return nil, false, nil
	}
	amr, err := s.used(ctx, u, accountID, wc, parsed)
	if errors.Is(err, ErrInvalid) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return amr, true, nil
}

// BeginSignIn starts a passwordless sign-in with a discoverable passkey (no account named; user
// verification required).
func (s *Service) BeginSignIn(ctx context.Context) (options json.RawMessage, token string, expiresIn time.Duration, err error) {
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", 0, fmt.Errorf("begin sign-in: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", 0, fmt.Errorf("ceremony token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	if err := s.putCeremony(ctx, ceremonyKey(KindSignIn, "", token), KindSignIn, "", sd); err != nil {
		return nil, "", 0, err
	}
	raw, err := json.Marshal(assertion)
	if err != nil {
		return nil, "", 0, err
	}
	return raw, token, s.cfg.CeremonyTTL, nil
}

// FinishSignIn checks a passwordless assertion against the ceremony of token (consuming it) and
// returns the account it proves and the amr values. ErrInvalid for anything that does not verify,
// user verification missing included.
func (s *Service) FinishSignIn(ctx context.Context, token string, assertion json.RawMessage) (accountID string, amr []string, err error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return "", nil, ErrInvalid
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(assertion)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	sd, _, err := s.takeCeremony(ctx, ceremonyKey(KindSignIn, "", token), KindSignIn)
	if err != nil {
		return "", nil, err
	}
	var storeErr error
	var owner string
	lookup := func(rawID, handle []byte) (webauthn.User, error) {
		id, err := s.store.AccountByHandle(ctx, handle)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				storeErr = err
			}
			return nil, err
		}
		a, err := s.accounts.ByID(ctx, id)
		if err != nil {
			if !errors.Is(err, account.ErrNotFound) {
				storeErr = err
			}
			return nil, err
		}
		u, err := s.loadUser(ctx, a)
		if err != nil {
			storeErr = err
			return nil, err
		}
		owner = id
		return u, nil
	}
	u, wc, err := s.wa.ValidatePasskeyLogin(lookup, sd, parsed)
	if storeErr != nil {
		return "", nil, storeErr
	}
	if err != nil {
		s.log.InfoContext(ctx, "passkey sign-in refused", "reason", describe(err))
		return "", nil, fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return "", nil, fmt.Errorf("%w: user not verified", ErrInvalid) // go-webauthn checks it too (required)
	}
	amr, err = s.used(ctx, u.(*user), owner, wc, parsed)
	if err != nil {
		return "", nil, err
	}
	return owner, amr, nil
}

// used records a verified assertion of wc: a clone is flagged and refused (ErrInvalid), otherwise
// the counter, flags and last use are stored — only while the counter is still the one checked, so
// that of two concurrent uses of one counter value one is refused. It returns the amr values.
func (s *Service) used(ctx context.Context, u *user, accountID string, wc *webauthn.Credential, parsed *protocol.ParsedCredentialAssertionData) ([]string, error) {
	var stored *Credential
	for i := range u.creds {
		if string(u.creds[i].CredentialID) == string(wc.ID) {
			stored = &u.creds[i]
			break
		}
	}
	if stored == nil {
		return nil, fmt.Errorf("%w: credential vanished", ErrInvalid)
	}
	now := s.now().UTC()
	if wc.Authenticator.CloneWarning {
		s.log.WarnContext(ctx, "passkey signature counter did not advance: credential flagged as cloned",
			"account_id", accountID, "passkey_id", stored.ID, "stored_count", stored.SignCount, "count", parsed.Response.AuthenticatorData.Counter)
		if err := s.store.FlagClone(ctx, accountID, stored.ID, now); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: cloned credential", ErrInvalid)
	}
	flags := parsed.Response.AuthenticatorData.Flags
	ok, err := s.store.RecordUse(ctx, accountID, stored.ID, stored.SignCount, wc.Authenticator.SignCount, byte(flags), now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: counter moved concurrently", ErrInvalid)
	}
	amr := []string{auth.AMRHardwareKey}
	if stored.BackupEligible {
		amr[0] = auth.AMRSoftwareKey // a synced passkey
	}
	if flags.HasUserVerified() {
		amr = append(amr, auth.AMRUser)
	}
	return amr, nil
}

// describe is a go-webauthn error's detail for logs (never secrets: it names the failed check).
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.DevInfo != "" {
			return pe.Details + ": " + pe.DevInfo
		}
		return pe.Details
	}
	return err.Error()
}
