package username_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/phone"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// published records the accounts whose account.updated was asked for.
type published struct {
	mu  sync.Mutex
	ids []string
}

func (p *published) PublishSnapshot(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, id)
	return nil
}

type world struct {
	store *store.Usernames
	pub   *published
	svc   *username.Service
	now   time.Time
}

var policy = username.Config{ChangeInterval: 30 * 24 * time.Hour, Reservation: 90 * 24 * time.Hour}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	db := testenv.New(t).Database("identity")
	if err := store.EnsureIndexes(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureUsernameIndexes(ctx, db); err != nil {
		t.Fatal(err)
	}
	w := &world{store: store.NewUsernames(db), pub: &published{}, now: time.Now().UTC()}
	w.svc = username.NewService(policy, w.store, w.pub, slog.New(slog.DiscardHandler)).WithClock(func() time.Time { return w.now })
	return w
}

// add creates an account and, when displayName is set, applies a profile snapshot as the profile
// service would publish it.
func (w *world) add(t testing.TB, id, name, first, displayName string, status account.Status) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	a := account.Account{ID: id, Email: id + "@example.com", EmailVerified: true, Username: name, FirstName: first,
		Status: status, CreatedAt: now, UpdatedAt: now}
	if err := w.store.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if displayName != "" {
		if _, err := w.store.ApplyProfile(ctx, id, events.ProfileSnapshot{Version: 1, FirstName: first, DisplayName: displayName, OnboardingComplete: first != ""}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.add(t, "a1", "john_doe", "John", "", account.StatusActive)
	for _, tc := range []struct {
		raw, want         string
		available, reason bool
	}{
		{"Fresh.Name", "fresh.name", true, false},
		{"@JOHN_DOE", "john_doe", false, true},
		{"root", "root", false, true},
		{"x", "x", false, true},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := w.svc.Check(context.Background(), tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != tc.want || got.Available != tc.available || (got.Reason != "") != tc.reason {
				t.Errorf("Check(%q) = %+v", tc.raw, got)
			}
		})
	}
	got, _ := w.svc.Check(context.Background(), "john_doe")
	if len(got.Suggestions) == 0 || len(got.Suggestions) > 3 {
		t.Fatalf("suggestions = %v, want 1 to 3", got.Suggestions)
	}
	for _, s := range got.Suggestions {
		if account.ValidateUsername(s) != nil || s == "john_doe" {
			t.Errorf("suggestion %q is not a valid new name", s)
		}
	}
}

func TestChangeHistoryReservationAndLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	w.add(t, "a1", "", "Ada", "", account.StatusActive)
	w.add(t, "b1", "bob", "Bob", "", account.StatusActive)

	// The first username is not a change: no limit afterwards... until the next one.
	if r, err := w.svc.Change(ctx, "a1", "ada"); err != nil || r.OldUsername != "" || r.NewUsername != "ada" {
		t.Fatalf("first username: %+v, %v", r, err)
	}
	if e, _ := w.svc.CanChange(ctx, "a1"); !e.CanChange {
		t.Fatalf("after the first username: %+v, want allowed", e)
	}
	w.now = w.now.Add(time.Minute)
	if _, err := w.svc.Change(ctx, "a1", "ada_l"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Change(ctx, "a1", "ada_m"); !errors.Is(err, username.ErrChangeLimit) {
		t.Fatalf("second change at once: %v, want ErrChangeLimit", err)
	}
	if e, _ := w.svc.CanChange(ctx, "a1"); e.CanChange || e.NextChangeAt.Sub(w.now.Add(policy.ChangeInterval)).Abs() > time.Second || e.CurrentUsername != "ada_l" {
		t.Fatalf("can-change = %+v", e)
	}
	// The old name is reserved for its owner only.
	if _, err := w.svc.Change(ctx, "b1", "ada"); !errors.Is(err, username.ErrTaken) {
		t.Fatalf("another account taking the reserved name: %v, want ErrTaken", err)
	}
	w.now = w.now.Add(policy.ChangeInterval + time.Hour)
	if _, err := w.svc.Change(ctx, "a1", "ada"); err != nil {
		t.Fatalf("the owner taking her old name back: %v", err)
	}
	// Once the reservation ends, anybody may have a given-up name.
	w.now = w.now.Add(policy.ChangeInterval + time.Hour)
	if _, err := w.svc.Change(ctx, "a1", "countess"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Change(ctx, "b1", "ada_l"); !errors.Is(err, username.ErrTaken) {
		t.Fatalf("ada_l within its reservation: %v", err)
	}
	w.now = w.now.Add(policy.Reservation)
	if _, err := w.svc.Change(ctx, "b1", "ada_l"); err != nil {
		t.Fatalf("ada_l after its reservation: %v", err)
	}

	hist, err := w.store.History(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for i := len(hist) - 1; i >= 0; i-- {
		trail = append(trail, hist[i].OldUsername+">"+hist[i].NewUsername)
	}
	if want := []string{">ada", "ada>ada_l", "ada_l>ada", "ada>countess"}; !slices.Equal(trail, want) {
		t.Errorf("history = %v, want %v", trail, want)
	}
	if len(w.pub.ids) != 5 {
		t.Errorf("account.updated published %d times, want 5 (one per change)", len(w.pub.ids))
	}
	for _, tc := range []struct {
		name string
		err  error
	}{{"countess", username.ErrUnchanged}, {"admin", nil}} {
		_, err := w.svc.Change(ctx, "a1", tc.name)
		var ue *account.UsernameError
		if tc.err != nil && !errors.Is(err, tc.err) || tc.err == nil && !errors.As(err, &ue) {
			t.Errorf("Change(%q) = %v", tc.name, err)
		}
	}
}

func TestLookupOnlyVisibleAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	w.add(t, "a1", "ada", "Ada", "Countess", account.StatusActive)
	w.add(t, "l1", "locked", "Lee", "", account.StatusLocked)
	w.add(t, "d1", "gone", "Dee", "", account.StatusDeactivated)
	w.add(t, "n1", "noname", "", "", account.StatusActive)
	card, err := w.svc.Lookup(ctx, "@ADA")
	if err != nil || card.ID != "a1" || card.DisplayName != "Countess" || card.Username != "ada" {
		t.Fatalf("Lookup(@ADA) = %+v, %v", card, err)
	}
	for _, name := range []string{"locked", "gone", "noname", "nobody", "x"} {
		if _, err := w.svc.Lookup(ctx, name); !errors.Is(err, username.ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	w.add(t, "a1", "ada", "Ada", "Countess of Lovelace", account.StatusActive)
	w.add(t, "a2", "adam", "Adam", "Adam Smith", account.StatusActive)
	w.add(t, "a3", "lovelace_fan", "Fan", "Fan", account.StatusActive)
	w.add(t, "l1", "ada_locked", "Ada", "Ada", account.StatusLocked)
	w.add(t, "n1", "ada_noname", "", "", account.StatusActive)

	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"ada", []string{"ada", "adam"}},
		{"@Ada", []string{"ada", "adam"}},
		{"lovelace", []string{"ada", "lovelace_fan"}},
		{"countess of", []string{"ada"}},
		{"smith", []string{"adam"}},
		{"a.*", nil}, // a regex in the query is text, not a pattern
		{"zz", nil},
	} {
		t.Run(tc.q, func(t *testing.T) {
			p, err := w.svc.Search(ctx, tc.q, 0, 20)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range p.Users {
				got = append(got, u.Username)
			}
			if !slices.Equal(got, tc.want) || p.TotalCount != len(tc.want) || p.HasMore {
				t.Errorf("Search(%q) = %v (total %d, more %v), want %v", tc.q, got, p.TotalCount, p.HasMore, tc.want)
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		var got []string
		for page := 0; ; page++ {
			p, err := w.svc.Search(ctx, "a", page, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range p.Users {
				got = append(got, u.Username)
			}
			if !p.HasMore {
				break
			}
		}
		if !slices.Equal(got, []string{"ada", "adam"}) {
			t.Errorf("pages = %v", got)
		}
	})
}

func TestApplyProfileKeepsTheNewest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	w.add(t, "a1", "ada", "Ada", "", account.StatusActive)
	for _, s := range []events.ProfileSnapshot{
		{Version: 3, FirstName: "Ada", DisplayName: "New", OnboardingComplete: true},
		{Version: 2, FirstName: "Old", DisplayName: "Old", OnboardingComplete: true},
	} {
		if _, err := w.store.ApplyProfile(ctx, "a1", s); err != nil {
			t.Fatal(err)
		}
	}
	card, err := w.svc.Lookup(ctx, "ada")
	if err != nil || card.DisplayName != "New" {
		t.Fatalf("Lookup = %+v, %v; want the version-3 display name", card, err)
	}
	a, _ := w.store.ByID(ctx, "a1")
	if a.FirstName != "Ada" || !a.PrimaryComplete() {
		t.Errorf("account first name = %q", a.FirstName)
	}
	// A cleared first name undoes primary onboarding.
	if _, err := w.store.ApplyProfile(ctx, "a1", events.ProfileSnapshot{Version: 4}); err != nil {
		t.Fatal(err)
	}
	if a, _ := w.store.ByID(ctx, "a1"); a.PrimaryComplete() {
		t.Error("still primary complete without a first name")
	}
}

func TestSetPendingPhone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	w.add(t, "a1", "ada", "Ada", "", account.StatusActive)
	w.add(t, "b1", "bob", "Bob", "", account.StatusActive)
	phones := phone.NewService(w.store.Accounts, w.pub)

	a, err := phones.SetPending(ctx, "a1", "+254712345678", "")
	if err != nil || a.PendingPhone != "+254712345678" || a.Phone != "" || a.PhoneVerified || a.Version < 2 {
		t.Fatalf("SetPending = %+v, %v", a, err)
	}
	// A pending number blocks nobody: bob may set the same one, ada keeps hers.
	if b, err := phones.SetPending(ctx, "b1", "+254712345678", ""); err != nil || b.PendingPhone != "+254712345678" {
		t.Fatalf("second claim = %+v, %v", b, err)
	}
	if a, _ := w.store.ByID(ctx, "a1"); a.PendingPhone != "+254712345678" {
		t.Errorf("ada lost her pending number: %+v", a)
	}
	// Bob verifies it; ada setting it again is answered as before (no clash is told), and changes
	// nothing of bob's.
	if _, err := w.store.SetVerifiedPhone(ctx, "b1", "+254712345678"); err != nil {
		t.Fatal(err)
	}
	if a, err := phones.SetPending(ctx, "a1", "+254712345678", ""); err != nil || a.Phone != "" {
		t.Errorf("verified elsewhere = %+v, %v; want the same answer as for any number", a, err)
	}
	// Bob's verified phone stays his phone while a new number is pending.
	b, err := phones.SetPending(ctx, "b1", "+254712345999", "")
	if err != nil || b.Phone != "+254712345678" || !b.PhoneVerified || b.PendingPhone != "+254712345999" {
		t.Errorf("pending over verified = %+v, %v", b, err)
	}
	for _, bad := range []string{"0712345678", "+0123", ""} {
		if _, err := phones.SetPending(ctx, "a1", bad, ""); !errors.Is(err, phone.ErrInvalid) {
			t.Errorf("SetPending(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := phones.SetPending(ctx, "nobody", "+14155550123", ""); !errors.Is(err, phone.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

func bsonSet(key string, value any) bson.D { return bson.D{{Key: key, Value: value}} }
