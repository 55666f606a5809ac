package password

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"crypto/sha1" //nolint:gosec // the range API keys passwords by SHA-1; nothing here relies on its collision resistance
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// RuleBreached is the rule a password breaks when it has appeared in a data breach (the
// breached-password check, BreachChecker); its message says nothing more than that.
const RuleBreached Rule = "breached"

// msgBreached is the whole refusal: no count, no source.
const msgBreached = "This password has appeared in a data breach; choose another"

// BreachConfig configures the breached-password check against Have I Been Pwned's Pwned Passwords
// range API (NIST SP 800-63B-4 §3.1.1.2, ASVS v5 6.2.12: refuse passwords known from breaches).
type BreachConfig struct {
	// Online asks the range API; false checks the embedded offline list only (air-gapped installs).
	Online bool
	// APIURL is the API's base URL: GET {APIURL}/range/{prefix}.
	APIURL string
	// Timeout bounds one request to the API; past it the offline list answers.
	Timeout time.Duration
	// CacheTTL is how long a range answer is reused; 0 caches nothing.
	CacheTTL time.Duration
	// CacheSize is how many range answers (by prefix) are kept at most; the least recently used go first.
	CacheSize int
	// MinCount is how many times a password must have been seen in breaches to be refused (at least 1).
	MinCount int
	// UserAgent is sent with every request (the API asks for one naming the application).
	UserAgent string
}

// DefaultBreachConfig is the production default: online, at the public API, 1.5 s, an hour's cache of
// 1,000 ranges (about 18 KiB each), any appearance refused.
var DefaultBreachConfig = BreachConfig{
	Online: true, APIURL: "https://api.pwnedpasswords.com", Timeout: 1500 * time.Millisecond,
	CacheTTL: time.Hour, CacheSize: 1000, MinCount: 1, UserAgent: "Latchkey-identity (breached-password check)",
}

// Sources of a breach verdict, and reasons the API could not answer (metric labels).
const (
	sourceAPI     = "api"
	sourceCache   = "cache"
	sourceOffline = "offline"

	failTimeout = "timeout"
	failNetwork = "network"
	failStatus  = "status"
	failBody    = "body"
)

// suffixLen is the length of a SHA-1 hex suffix after the five-character prefix; suffixBytes its
// size as stored (a zero nibble in front).
const (
	prefixLen   = 5
	suffixLen   = 40 - prefixLen
	suffixBytes = (suffixLen + 1) / 2
	// maxRangeBody bounds a range answer: the API's are 30-40 KB with padding.
	maxRangeBody = 1 << 20
)

// BreachChecker tells whether a password has appeared in a data breach. Only the first five hex
// characters of the password's SHA-1 leave the process (k-anonymity), with Add-Padding so that the
// answer's size says nothing either; the answers are cached by prefix. When the API cannot be
// reached, answers an error status or a body that is not a range, the embedded list of common
// passwords answers instead: the check fails open to that list, never to nothing.
type BreachChecker struct {
	cfg    BreachConfig
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	// flight makes the concurrent checks of one prefix share one request.
	flight singleflight.Group

	mu    sync.Mutex
	cache map[string]*list.Element // prefix → element of lru holding a *rangeEntry
	lru   *list.List               // most recently used first

	lastOutageLog atomic.Int64 // unix nanoseconds of the last outage log line
}

// rangeEntry is a cached range answer: the sorted suffixes seen at least MinCount times.
type rangeEntry struct {
	prefix   string
	suffixes []byte // suffixBytes per suffix, sorted
	expires  time.Time
}

// NewBreachChecker returns a checker with cfg (zero fields other than Online take the defaults).
// client nil means a client of its own.
func NewBreachChecker(cfg BreachConfig, client *http.Client, log *slog.Logger) *BreachChecker {
	d := DefaultBreachConfig
	if cfg.APIURL == "" {
		cfg.APIURL = d.APIURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = d.Timeout
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = d.CacheSize
	}
	if cfg.MinCount < 1 {
		cfg.MinCount = d.MinCount
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = d.UserAgent
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if client == nil {
		client = &http.Client{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &BreachChecker{cfg: cfg, client: client, log: log, now: time.Now, cache: map[string]*list.Element{}, lru: list.New()}
}

// ValidateBreachURL checks a range API base URL: http(s) with a host, no query or fragment.
func ValidateBreachURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("want an http(s) URL without query, fragment or credentials")
	}
	return nil
}

// Check returns a *PolicyError (RuleBreached) when pw, in its NFKC form, has appeared in a breach at
// least MinCount times, or — when the API cannot answer — a *PolicyError (RuleCommon) when it is on
// the offline list; nil otherwise. It never fails for want of the API.
func (b *BreachChecker) Check(ctx context.Context, pw string) error {
	pw = Normalize(pw)
	breached, source := b.breached(ctx, pw)
	outcome := "clean"
	if breached {
		outcome = "breached"
	}
	breachChecks.WithLabelValues(source, outcome).Inc()
	if !breached {
		return nil
	}
	if source == sourceOffline {
		return &PolicyError{RuleCommon, "Password is too common; choose a less predictable one"}
	}
	return &PolicyError{RuleBreached, msgBreached}
}

// breached answers for the normalized pw and says where the answer came from.
func (b *BreachChecker) breached(ctx context.Context, pw string) (bool, string) {
	if !b.cfg.Online {
		return IsCommon(strings.ToLower(pw)), sourceOffline
	}
	sum := sha1.Sum([]byte(pw)) //nolint:gosec // the API's key
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := digest[:prefixLen], digest[prefixLen:]
	if e, ok := b.cached(prefix); ok {
		return e.has(suffix), sourceCache
	}
	// Concurrent checks of one prefix wait for one request, which no single caller's cancellation cuts
	// short (the timeout bounds it).
	v, err, _ := b.flight.Do(prefix, func() (any, error) {
		e, reason, err := b.fetch(context.WithoutCancel(ctx), prefix)
		if err != nil {
			breachAPIFailures.WithLabelValues(reason).Inc()
			b.logOutage(ctx, reason, err)
			return nil, err
		}
		b.store(e)
		return e, nil
	})
	if err != nil {
		return IsCommon(strings.ToLower(pw)), sourceOffline
	}
	return v.(*rangeEntry).has(suffix), sourceAPI
}

// fetch asks the API for the range of prefix. On failure it says why (failTimeout...).
func (b *BreachChecker) fetch(ctx context.Context, prefix string) (*rangeEntry, string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.APIURL+"/range/"+prefix, nil)
	if err != nil {
		return nil, failNetwork, err
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", b.cfg.UserAgent)
	resp, err := b.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, failTimeout, fmt.Errorf("no answer within %s", b.cfg.Timeout)
		}
		return nil, failNetwork, errors.New(redactURL(err.Error(), prefix))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRangeBody))
		return nil, failStatus, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRangeBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, failTimeout, fmt.Errorf("no complete answer within %s", b.cfg.Timeout)
		}
		return nil, failNetwork, errors.New("reading the answer failed")
	}
	if len(body) > maxRangeBody {
		return nil, failBody, fmt.Errorf("answer larger than %d bytes", maxRangeBody)
	}
	suffixes, err := parseRange(body, b.cfg.MinCount)
	if err != nil {
		return nil, failBody, err
	}
	return &rangeEntry{prefix: prefix, suffixes: suffixes, expires: b.now().Add(b.cfg.CacheTTL)}, "", nil
}

// redactURL removes the request URL (it holds the prefix) from a transport error's text.
func redactURL(msg, prefix string) string {
	return strings.ReplaceAll(msg, "/range/"+prefix, "/range/…")
}

// parseRange reads a range answer ("SUFFIX:COUNT" lines, CRLF or LF) and returns the suffixes seen
// at least minCount times, decoded and sorted. Padding lines (count 0) are dropped. A line that is not
// of that form, or an answer without any line, is an error: a proxy's error page must not pass for
// "nothing breached".
func parseRange(body []byte, minCount int) ([]byte, error) {
	var out []byte
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		lines++
		suffix, count, ok := strings.Cut(line, ":")
		n, err := strconv.Atoi(count)
		if !ok || len(suffix) != suffixLen || err != nil || n < 0 {
			return nil, fmt.Errorf("line %d is not SUFFIX:COUNT", lines)
		}
		key, err := hex.DecodeString("0" + suffix)
		if err != nil {
			return nil, fmt.Errorf("line %d: suffix is not hex", lines)
		}
		if n >= minCount {
			out = append(out, key...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if lines == 0 {
		return nil, errors.New("empty answer")
	}
	sort.Sort(suffixList(out))
	return out, nil
}

// suffixList sorts the fixed-size keys of a flat byte slice.
type suffixList []byte

func (s suffixList) Len() int { return len(s) / suffixBytes }
func (s suffixList) Less(i, j int) bool {
	return bytes.Compare(s[i*suffixBytes:(i+1)*suffixBytes], s[j*suffixBytes:(j+1)*suffixBytes]) < 0
}
func (s suffixList) Swap(i, j int) {
	var tmp [suffixBytes]byte
	copy(tmp[:], s[i*suffixBytes:(i+1)*suffixBytes])
	copy(s[i*suffixBytes:(i+1)*suffixBytes], s[j*suffixBytes:(j+1)*suffixBytes])
	copy(s[j*suffixBytes:(j+1)*suffixBytes], tmp[:])
}

// has reports whether the upper-case hex suffix is in the entry.
func (e *rangeEntry) has(suffix string) bool {
	key, err := hex.DecodeString("0" + suffix)
	if err != nil {
		return false
	}
	n := len(e.suffixes) / suffixBytes
	i := sort.Search(n, func(i int) bool { return bytes.Compare(e.suffixes[i*suffixBytes:(i+1)*suffixBytes], key) >= 0 })
	return i < n && bytes.Equal(e.suffixes[i*suffixBytes:(i+1)*suffixBytes], key)
}

func (b *BreachChecker) cached(prefix string) (*rangeEntry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.cache[prefix]
	if !ok {
		return nil, false
	}
	e := el.Value.(*rangeEntry)
	if !b.now().Before(e.expires) {
		b.lru.Remove(el)
		delete(b.cache, prefix)
		return nil, false
	}
	b.lru.MoveToFront(el)
	return e, true
}

func (b *BreachChecker) store(e *rangeEntry) {
	if b.cfg.CacheTTL <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.cache[e.prefix]; ok {
		el.Value = e
		b.lru.MoveToFront(el)
		return
	}
	b.cache[e.prefix] = b.lru.PushFront(e)
	for b.lru.Len() > b.cfg.CacheSize {
		last := b.lru.Back()
		b.lru.Remove(last)
		delete(b.cache, last.Value.(*rangeEntry).prefix)
	}
}

// CachedRanges is how many range answers the cache holds.
func (b *BreachChecker) CachedRanges() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}

// outageLogInterval spaces the outage log lines: during an outage every password set would log one.
const outageLogInterval = time.Minute

// logOutage logs that the API did not answer — never the password, its hash or the prefix.
func (b *BreachChecker) logOutage(ctx context.Context, reason string, err error) {
	now := b.now().UnixNano()
	last := b.lastOutageLog.Load()
	if last != 0 && now-last < int64(outageLogInterval) || !b.lastOutageLog.CompareAndSwap(last, now) {
		return
	}
	b.log.WarnContext(ctx, "breached-password API unavailable: checking the offline list instead (logged at most once a minute; see latchkey_identity_breached_password_api_failures_total)",
		"api_url", b.cfg.APIURL, "reason", reason, "err", err.Error())
}
