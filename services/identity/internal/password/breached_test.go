package password_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/hibptest"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// Passwords of these tests: breached is known to the range server only (the policy accepts it),
// common is on the offline list, strong is on neither.
const (
	breached = "Lantern-Quarry-58"
	common   = "Password123"
	strong   = "Mauve-Orbit-Thimble-91"
)

// checker returns a checker of the server with cfg's non-zero fields.
func checker(srv *hibptest.Server, cfg password.BreachConfig, log *slog.Logger) *password.BreachChecker {
	cfg.Online = true
	cfg.APIURL = srv.URL
	return password.NewBreachChecker(cfg, nil, log)
}

// rule is the rule a Check error names, "" for nil.
func rule(t *testing.T, err error) password.Rule {
	t.Helper()
	if err == nil {
		return ""
	}
	var pe *password.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("Check error %v is not a *PolicyError", err)
	}
	return pe.Rule
}

var upperHexPrefix = regexp.MustCompile(`^/range/[0-9A-F]{5}$`)

func TestBreachCheckSendsOnlyAFiveCharacterPrefix(t *testing.T) {
	t.Parallel()
	srv := hibptest.New(t, breached)
	b := checker(srv, password.BreachConfig{}, nil)
	err := b.Check(context.Background(), breached)
	if got := rule(t, err); got != password.RuleBreached {
		t.Fatalf("Check(breached) = %v, want RuleBreached", err)
	}
	if msg := err.Error(); msg != "This password has appeared in a data breach; choose another" {
		t.Errorf("message = %q", msg)
	}
	if got := rule(t, b.Check(context.Background(), strong)); got != "" {
		t.Errorf("Check(strong) = %q, want accepted", got)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	hash := hibptest.Hash(breached)
	if reqs[0].Path != "/range/"+hash[:5] {
		t.Errorf("path = %q, want /range/%s", reqs[0].Path, hash[:5])
	}
	for _, r := range reqs {
		if !upperHexPrefix.MatchString(r.Path) {
			t.Errorf("path %q is not /range/ and five upper-case hex characters", r.Path)
		}
		if strings.Contains(r.Path, hash[5:10]) || strings.Contains(strings.ToLower(r.Path), "lantern") {
			t.Errorf("path %q carries more than the prefix", r.Path)
		}
		if !r.Padding {
			t.Errorf("request %q without Add-Padding: true", r.Path)
		}
		if r.UserAgent == "" {
			t.Errorf("request %q without a User-Agent", r.Path)
		}
	}
}

func TestBreachCheckHashesTheNFKCForm(t *testing.T) {
	t.Parallel()
	precomposed := "Caf\u00e9-Lantern-58"
	srv := hibptest.New(t, precomposed)
	b := checker(srv, password.BreachConfig{}, nil)
	if got := rule(t, b.Check(context.Background(), "Cafe\u0301-Lantern-58")); got != password.RuleBreached {
		t.Errorf("the decomposed spelling = %q, want RuleBreached (the NFKC form is hashed)", got)
	}
}

func TestBreachCheckIgnoresPaddingLines(t *testing.T) {
	t.Parallel()
	hash := hibptest.Hash(breached)
	// An answer in which the password's own suffix is a padding line (count 0).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("0018A45C4D1DEF81644B54AB7F969B88D65:3\r\n" + hash[5:] + ":0\r\nFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0"))
	}))
	t.Cleanup(srv.Close)
	b := password.NewBreachChecker(password.BreachConfig{Online: true, APIURL: srv.URL}, nil, nil)
	if got := rule(t, b.Check(context.Background(), breached)); got != "" {
		t.Errorf("Check = %q, want accepted: a count of 0 is padding", got)
	}
}

func TestBreachCheckThreshold(t *testing.T) {
	t.Parallel()
	srv := hibptest.New(t)
	srv.Add(breached, 3)
	for _, tc := range []struct {
		minCount int
		want     password.Rule
	}{{1, password.RuleBreached}, {3, password.RuleBreached}, {4, ""}, {100, ""}} {
		b := checker(srv, password.BreachConfig{MinCount: tc.minCount}, nil)
		if got := rule(t, b.Check(context.Background(), breached)); got != tc.want {
			t.Errorf("seen 3 times, MinCount %d: %q, want %q", tc.minCount, got, tc.want)
		}
	}
}

func TestBreachCheckCache(t *testing.T) {
	t.Parallel()
	srv := hibptest.New(t, breached)
	now := time.Date(2026, 5, 19, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := checker(srv, password.BreachConfig{CacheTTL: time.Hour, CacheSize: 2}, nil)
	b.SetClockForTest(clock)
	ctx := context.Background()

	for i := range 3 {
		if got := rule(t, b.Check(ctx, breached)); got != password.RuleBreached {
			t.Fatalf("check %d = %q, want RuleBreached", i, got)
		}
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests for three checks of one password, want 1 (cache hits)", n)
	}
	// A cached range keeps answering while the API is down.
	srv.SetMode(hibptest.Fail)
	if got := rule(t, b.Check(ctx, breached)); got != password.RuleBreached {
		t.Errorf("cached check with the API down = %q, want RuleBreached", got)
	}
	srv.SetMode(hibptest.Normal)
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want still 1", n)
	}

	// Past the TTL the range is asked again.
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	_ = b.Check(ctx, breached)
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests after the TTL, want 2", n)
	}

	// The cache is bounded: two more prefixes push the least recently used one out.
	_ = b.Check(ctx, strong)
	_ = b.Check(ctx, "Velvet-Canyon-31")
	if n := b.CachedRanges(); n != 2 {
		t.Errorf("cache holds %d ranges, want its size 2", n)
	}
	before := len(srv.Requests())
	_ = b.Check(ctx, breached) // evicted: asked again
	if n := len(srv.Requests()); n != before+1 {
		t.Errorf("%d requests, want %d: the evicted range must be asked again", n, before+1)
	}
}

func TestBreachCheckFallsBackToTheOfflineList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		reason string
		mode   hibptest.Mode
		closed bool
	}{
		{"server error", "status", hibptest.Fail, false},
		{"timeout", "timeout", hibptest.Hang, false},
		{"not a range body", "body", hibptest.Garbage, false},
		{"unreachable", "network", hibptest.Normal, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := hibptest.New(t, breached, common)
			srv.SetMode(tc.mode)
			if tc.closed {
				srv.Close()
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, nil))
			// The configured timeout is what ends a hanging request.
			b := checker(srv, password.BreachConfig{Timeout: 200 * time.Millisecond}, log)
			ctx := context.Background()
			if got := rule(t, b.Check(ctx, common)); got != password.RuleCommon {
				t.Errorf("offline-list password = %q, want refused (RuleCommon)", got)
			}
			if got := rule(t, b.Check(ctx, strong)); got != "" {
				t.Errorf("strong password = %q, want accepted", got)
			}
			// Fail open to the list: what only the API knows is not refused while it is away.
			if got := rule(t, b.Check(ctx, breached)); got != "" {
				t.Errorf("API-only breached password = %q, want accepted while the API is away", got)
			}
			if b.CachedRanges() != 0 {
				t.Errorf("a failed answer was cached")
			}
			out := logs.String()
			if !strings.Contains(out, "breached-password API unavailable") || !strings.Contains(out, `"reason":"`+tc.reason+`"`) {
				t.Errorf("log = %s, want one outage line with reason %s", out, tc.reason)
			}
			if n := strings.Count(out, "breached-password API unavailable"); n != 1 {
				t.Errorf("%d outage lines for three checks, want 1 (rate-limited)", n)
			}
			for _, pw := range []string{common, strong, breached} {
				h := hibptest.Hash(pw)
				if strings.Contains(out, pw) || strings.Contains(out, h[:5]) || strings.Contains(strings.ToLower(out), strings.ToLower(h[:5])) {
					t.Errorf("log carries a password, hash or prefix: %s", out)
				}
			}
		})
	}
}

func TestBreachCheckOfflineOnly(t *testing.T) {
	t.Parallel()
	srv := hibptest.New(t, breached)
	b := password.NewBreachChecker(password.BreachConfig{Online: false, APIURL: srv.URL}, nil, nil)
	ctx := context.Background()
	if got := rule(t, b.Check(ctx, common)); got != password.RuleCommon {
		t.Errorf("offline-list password = %q, want RuleCommon", got)
	}
	if got := rule(t, b.Check(ctx, breached)); got != "" {
		t.Errorf("API-only breached password = %q, want accepted offline", got)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests with the online check off, want none", n)
	}
}

func TestValidateBreachURL(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://api.pwnedpasswords.com": true, "http://127.0.0.1:8089": true, "https://proxy.internal/hibp/": true,
		"": false, "api.pwnedpasswords.com": false, "ftp://x": false, "https://x/?q=1": false, "https://user:pw@x": false,
	} {
		if err := password.ValidateBreachURL(raw); (err == nil) != ok {
			t.Errorf("ValidateBreachURL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}

// syncWriter serializes writes of concurrent log calls.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestBreachCheckSharesOneRequestPerPrefix: checks of passwords with one prefix, at the same moment,
// wait for one request (a burst of sign-ups does not become a burst to the API) and, with the API
// hanging, all fall back to the offline list after the one timeout.
func TestBreachCheckSharesOneRequestPerPrefix(t *testing.T) {
	t.Parallel()
	srv := hibptest.New(t, breached)
	srv.SetMode(hibptest.Hang)
	b := checker(srv, password.BreachConfig{Timeout: 300 * time.Millisecond}, nil)
	var wg sync.WaitGroup
	rules := make([]password.Rule, 8)
	for i := range rules {
		wg.Go(func() {
			var pe *password.PolicyError
			if err := b.Check(context.Background(), "password"); errors.As(err, &pe) {
				rules[i] = pe.Rule
			}
		})
	}
	wg.Wait()
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests for 8 concurrent checks of one prefix, want 1", n)
	}
	for i, r := range rules {
		if r != password.RuleCommon {
			t.Errorf("check %d = rule %q, want the offline list's %q", i, r, password.RuleCommon)
		}
	}
}
