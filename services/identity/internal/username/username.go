// Package username runs the username endpoints of the account API (items 10–14): availability with
// suggestions, the change-frequency limit, changes with history and reservation of the old name,
// search by username or display name, and the public user card.
//
// Usernames are identity's facts (account.Account.Username, lower-cased, rules in
// account.ValidateUsername). Display name, avatar and the profile's half of onboarding are the profile
// service's facts; identity keeps them as a projection of profile.updated inside each account document
// (see store.Accounts.ApplyProfile), so search and lookup read one collection through its indexes and
// never the profile service's data.
package username

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// Errors of the username flows; *account.UsernameError reports a username that breaks the rules.
var (
	// ErrNotFound: no visible account (lookup), or no such account (change).
	ErrNotFound = errors.New("user not found")
	// ErrTaken: another account has the username, or had it recently (reserved).
	ErrTaken = errors.New("username already taken")
	// ErrChangeLimit: the account changed its username too recently.
	ErrChangeLimit = errors.New("username change limit reached")
	// ErrUnchanged: the new username is the current one.
	ErrUnchanged = errors.New("username unchanged")
)

// Search limits, as account-api.txt item 13 states them.
const (
	SearchMinQuery    = 2
	SearchMaxQuery    = 64
	SearchDefaultSize = 4
	SearchMaxSize     = 20
)

// Card is the public face of an account: what search and lookup return.
type Card struct {
	ID          string
	Username    string
	DisplayName string // may be empty
	AvatarURL   string // may be empty
}

// Public is what the store knows about an account for the public endpoints.
type Public struct {
	Card
	Status    account.Status
	FirstName string // the profile's first name, as projected
}

// Visible reports whether the account may be shown to the public: active (neither locked nor
// deactivated) and done with primary onboarding (a username and a first name).
func (p Public) Visible() bool {
	return p.Status == account.StatusActive && p.Username != "" && p.FirstName != ""
}

// Change is one entry of an account's username history.
type Change struct {
	ID            string
	AccountID     string
	OldUsername   string // empty for the first username
	NewUsername   string
	ChangedAt     time.Time
	ReservedUntil time.Time // the old name is kept for this account until then (zero: not reserved)
}

// Store is what the flows need of the accounts and the username history.
type Store interface {
	ByID(ctx context.Context, id string) (account.Account, error)
	ByUsername(ctx context.Context, username string) (account.Account, error)
	// LastUsernameChange returns when the account last changed (not first set) its username; zero
	// when never.
	LastUsernameChange(ctx context.Context, accountID string) (time.Time, error)
	// ReservedFor returns the account for which username is reserved at now (the owner that gave it
	// up recently), or "" when it is not reserved.
	ReservedFor(ctx context.Context, username string, now time.Time) (string, error)
	// RecordChange stores a history entry; DeleteChange removes one whose change did not happen.
	RecordChange(ctx context.Context, c Change) error
	DeleteChange(ctx context.Context, id string) error
	// SetUsername replaces the account's username old ("" for none) with new, in one conditional
	// write that also refuses when the last change is after notBefore (the frequency limit, enforced
	// atomically), and marks the account.updated snapshot pending. It reports whether it matched;
	// account.ErrUsernameTaken when new belongs to another account.
	SetUsername(ctx context.Context, id, old, new string, now, notBefore time.Time) (bool, error)
	// PublicByUsername returns the public view of the account with username, or ErrNotFound.
	PublicByUsername(ctx context.Context, username string) (Public, error)
	// Search returns a page of visible accounts whose username, or a word of whose names, starts with
	// prefix (lower-cased), ordered by username, and how many there are in all.
	Search(ctx context.Context, prefix string, skip, limit int) ([]Card, int, error)
}

// Snapshots publishes account.updated after a change (auth.Service.PublishSnapshot).
type Snapshots interface {
	PublishSnapshot(ctx context.Context, accountID string) error
}

// ActivityLog records changes in the owner's activity log (auth.Service.RecordChange); the
// Snapshots given to NewService is used when it is one.
type ActivityLog interface {
	RecordChange(ctx context.Context, accountID string, act events.Activity)
}

// Config holds the username policy.
type Config struct {
	// ChangeInterval is the least time between two changes of one account's username
	// (USERNAME_CHANGE_INTERVAL). The first username of an account is not a change.
	ChangeInterval time.Duration
	// Reservation is how long an old username stays reserved for its previous owner
	// (USERNAME_RESERVATION_PERIOD): nobody else can take it meanwhile, so links and mentions of the
	// old name cannot be hijacked at once.
	Reservation time.Duration
}

// Service runs the username flows.
type Service struct {
	cfg       Config
	store     Store
	snapshots Snapshots
	now       func() time.Time
	log       logger
}

type logger interface {
	WarnContext(ctx context.Context, msg string, args ...any)
}

// NewService returns a Service.
func NewService(cfg Config, store Store, snapshots Snapshots, log logger) *Service {
	return &Service{cfg: cfg, store: store, snapshots: snapshots, now: func() time.Time { return time.Now().UTC() }, log: log}
}

// WithClock returns a copy of s that reads the time from now.
func (s *Service) WithClock(now func() time.Time) *Service {
	c := *s
	c.now = func() time.Time { return now().UTC() }
	return &c
}

// Availability is the answer to a username check.
type Availability struct {
	Username    string // normalized
	Available   bool
	Reason      string   // why not, when it is not
	Suggestions []string // free alternatives, when it is taken
}

// Check says whether a username is valid and free. A taken (or reserved) name comes with up to three
// free suggestions.
func (s *Service) Check(ctx context.Context, raw string) (Availability, error) {
	name := account.NormalizeUsername(raw)
	out := Availability{Username: name}
	if err := account.ValidateUsername(name); err != nil {
		var ue *account.UsernameError
		if errors.As(err, &ue) {
			out.Reason = ue.Message
		}
		return out, nil
	}
	free, err := s.free(ctx, name, "")
	if err != nil {
		return Availability{}, err
	}
	if free {
		out.Available = true
		return out, nil
	}
	out.Reason = "Username already taken"
	out.Suggestions, err = s.suggest(ctx, name)
	return out, err
}

// free reports whether name can be given to the account self ("" for anyone): nobody has it, and it
// is not reserved for another account.
func (s *Service) free(ctx context.Context, name, self string) (bool, error) {
	a, err := s.store.ByUsername(ctx, name)
	switch {
	case err == nil:
		return a.ID == self && self != "", nil
	case !errors.Is(err, account.ErrNotFound):
		return false, fmt.Errorf("look up username: %w", err)
	}
	holder, err := s.store.ReservedFor(ctx, name, s.now())
	if err != nil {
		return false, fmt.Errorf("look up reservation: %w", err)
	}
	return holder == "" || holder == self, nil
}

// suggest proposes up to three free usernames close to name.
func (s *Service) suggest(ctx context.Context, name string) ([]string, error) {
	base := strings.TrimRight(name, "._")
	candidates := [][2]string{ // stem, suffix
		{base, "1"}, {base, digits(2)}, {base, "_"}, {base, digits(3)},
		{strings.ReplaceAll(base, "_", ""), "_"}, {base, "_" + digits(2)}, {base, digits(4)},
	}
	var out []string
	seen := map[string]bool{name: true}
	for _, cand := range candidates {
		stem, suffix := cand[0], cand[1]
		if len(stem)+len(suffix) > account.UsernameMaxLength {
			stem = stem[:account.UsernameMaxLength-len(suffix)]
		}
		c := stem + suffix
		if seen[c] || account.ValidateUsername(c) != nil {
			continue
		}
		seen[c] = true
		ok, err := s.free(ctx, c, "")
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
			if len(out) == 3 {
				break
			}
		}
	}
	return out, nil
}

func digits(n int) string {
	max := big.NewInt(1)
	for range n {
		max.Mul(max, big.NewInt(10))
	}
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		return strings.Repeat("7", n)
	}
	return fmt.Sprintf("%0*d", n, v)
}

// Eligibility says whether an account may change its username now.
type Eligibility struct {
	CanChange       bool
	CurrentUsername string
	NextChangeAt    time.Time // when CanChange is false
}

// CanChange applies the frequency limit.
func (s *Service) CanChange(ctx context.Context, accountID string) (Eligibility, error) {
	a, err := s.account(ctx, accountID)
	if err != nil {
		return Eligibility{}, err
	}
	next, err := s.nextChange(ctx, a)
	if err != nil {
		return Eligibility{}, err
	}
	return Eligibility{CanChange: next.IsZero(), CurrentUsername: a.Username, NextChangeAt: next}, nil
}

// nextChange returns when a may change its username next; zero when it may now.
func (s *Service) nextChange(ctx context.Context, a account.Account) (time.Time, error) {
	if a.Username == "" {
		return time.Time{}, nil
	}
	last, err := s.store.LastUsernameChange(ctx, a.ID)
	if err != nil {
		return time.Time{}, fmt.Errorf("last username change: %w", err)
	}
	if next := last.Add(s.cfg.ChangeInterval); !last.IsZero() && s.now().Before(next) {
		return next, nil
	}
	return time.Time{}, nil
}

func (s *Service) account(ctx context.Context, id string) (account.Account, error) {
	a, err := s.store.ByID(ctx, id)
	if errors.Is(err, account.ErrNotFound) || err == nil && !a.CanSignIn() {
		return account.Account{}, ErrNotFound
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("load account: %w", err)
	}
	return a, nil
}

// Renamed is the outcome of a change.
type Renamed struct {
	OldUsername string
	NewUsername string
}

// Change gives the account a new username: valid, free, not reserved for someone else, and within
// the frequency limit. The change is recorded in the history, the old name is reserved for the
// account for Config.Reservation, and account.updated is published.
func (s *Service) Change(ctx context.Context, accountID, raw string) (Renamed, error) {
	name := account.NormalizeUsername(raw)
	if err := account.ValidateUsername(name); err != nil {
		return Renamed{}, err
	}
	a, err := s.account(ctx, accountID)
	if err != nil {
		return Renamed{}, err
	}
	if name == a.Username {
		return Renamed{}, ErrUnchanged
	}
	if next, err := s.nextChange(ctx, a); err != nil {
		return Renamed{}, err
	} else if !next.IsZero() {
		return Renamed{}, ErrChangeLimit
	}
	free, err := s.free(ctx, name, a.ID)
	if err != nil {
		return Renamed{}, err
	}
	if !free {
		return Renamed{}, ErrTaken
	}

	now := s.now()
	c := Change{ID: events.NewID(), AccountID: a.ID, OldUsername: a.Username, NewUsername: name, ChangedAt: now}
	if a.Username != "" {
		c.ReservedUntil = now.Add(s.cfg.Reservation)
	}
	// The history entry goes first, so the old name is reserved from the moment it is given up; it is
	// taken back if the change does not happen.
	if err := s.store.RecordChange(ctx, c); err != nil {
		return Renamed{}, fmt.Errorf("record username change: %w", err)
	}
	matched, err := s.store.SetUsername(ctx, a.ID, a.Username, name, now, now.Add(-s.cfg.ChangeInterval))
	if err != nil || !matched {
		if derr := s.store.DeleteChange(ctx, c.ID); derr != nil {
			s.log.WarnContext(ctx, "remove history of a username change that did not happen", "account_id", a.ID, "err", derr)
		}
	}
	switch {
	case errors.Is(err, account.ErrUsernameTaken):
		return Renamed{}, ErrTaken
	case err != nil:
		return Renamed{}, fmt.Errorf("set username: %w", err)
	case !matched:
		// Another change of this account won the race; its time now counts against this one.
		return Renamed{}, ErrChangeLimit
	}
	if err := s.snapshots.PublishSnapshot(ctx, a.ID); err != nil {
		s.log.WarnContext(ctx, "queue account.updated failed; the republisher will retry", "account_id", a.ID, "err", err)
	}
	if l, ok := s.snapshots.(ActivityLog); ok {
		l.RecordChange(ctx, a.ID, events.Activity{Kind: events.ActivityUsernameChanged,
			Details: map[string]string{"username": name, "previous": a.Username}})
	}
	return Renamed{OldUsername: a.Username, NewUsername: name}, nil
}

// Lookup returns the card of the visible account with the username ("@name" accepted).
func (s *Service) Lookup(ctx context.Context, raw string) (Card, error) {
	name := account.NormalizeUsername(raw)
	if account.ValidateUsername(name) != nil {
		return Card{}, ErrNotFound
	}
	p, err := s.store.PublicByUsername(ctx, name)
	if errors.Is(err, ErrNotFound) || err == nil && !p.Visible() {
		return Card{}, ErrNotFound
	}
	if err != nil {
		return Card{}, fmt.Errorf("look up %s: %w", name, err)
	}
	return p.Card, nil
}

// Page is a page of search results.
type Page struct {
	Users      []Card
	TotalCount int
	HasMore    bool
}

// NormalizeQuery turns a search query into the prefix searched for: trimmed, without a leading "@",
// lower-cased, inner whitespace collapsed.
func NormalizeQuery(q string) string {
	return strings.ToLower(strings.Join(strings.Fields(strings.TrimPrefix(strings.TrimSpace(q), "@")), " "))
}

// Search finds visible accounts by username or name prefix. page counts from 0; size is 1 to
// SearchMaxSize. The caller validates the bounds.
func (s *Service) Search(ctx context.Context, q string, page, size int) (Page, error) {
	prefix := NormalizeQuery(q)
	cards, total, err := s.store.Search(ctx, prefix, page*size, size)
	if err != nil {
		return Page{}, fmt.Errorf("search %q: %w", prefix, err)
	}
	return Page{Users: cards, TotalCount: total, HasMore: (page+1)*size < total}, nil
}
