package config

import (
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// loadBreachedPasswords reads the breached-password check (Have I Been Pwned's Pwned Passwords
// range API; only the first five hex characters of a password's SHA-1 are sent):
//
//	BREACHED_PASSWORDS_ONLINE [true]       ask the range API; false: the embedded offline list only
//	                                       (air-gapped installs)
//	BREACHED_PASSWORDS_API_URL [https://api.pwnedpasswords.com]
//	                                       the API's base URL (GET {url}/range/{prefix}); a mirror or
//	                                       a proxy speaking the same protocol
//	BREACHED_PASSWORDS_TIMEOUT [1500ms]    per request, 100ms to 10s; past it (and on a 5xx or a bad
//	                                       answer) the offline list answers instead
//	BREACHED_PASSWORDS_CACHE_TTL [1h]      how long a range answer is reused, 0 (no cache) to 24h
//	BREACHED_PASSWORDS_CACHE_SIZE [1000]   range answers kept (about 18 KiB each), 1 to 100000
//	BREACHED_PASSWORDS_MIN_COUNT [1]       breaches a password must appear in to be refused, at least 1
func loadBreachedPasswords(l *config.Loader) (password.BreachConfig, []error) {
	d := password.DefaultBreachConfig
	c := password.BreachConfig{
		Online:    l.Bool("BREACHED_PASSWORDS_ONLINE", d.Online),
		APIURL:    l.String("BREACHED_PASSWORDS_API_URL", d.APIURL),
		Timeout:   l.Duration("BREACHED_PASSWORDS_TIMEOUT", d.Timeout),
		CacheTTL:  l.Duration("BREACHED_PASSWORDS_CACHE_TTL", d.CacheTTL),
		CacheSize: l.Int("BREACHED_PASSWORDS_CACHE_SIZE", d.CacheSize),
		MinCount:  l.Int("BREACHED_PASSWORDS_MIN_COUNT", d.MinCount),
		UserAgent: d.UserAgent,
	}
	var errs []error
	if err := password.ValidateBreachURL(c.APIURL); err != nil {
		errs = append(errs, fmt.Errorf("BREACHED_PASSWORDS_API_URL=%q: %w", c.APIURL, err))
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > 10*time.Second {
		errs = append(errs, fmt.Errorf("BREACHED_PASSWORDS_TIMEOUT=%s: want 100ms to 10s", c.Timeout))
	}
	if c.CacheTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("BREACHED_PASSWORDS_CACHE_TTL=%s: want 0 to 24h", c.CacheTTL))
	}
	if c.CacheSize < 1 || c.CacheSize > 100000 {
		errs = append(errs, fmt.Errorf("BREACHED_PASSWORDS_CACHE_SIZE=%d: want 1 to 100000", c.CacheSize))
	}
	if c.MinCount < 1 {
		errs = append(errs, fmt.Errorf("BREACHED_PASSWORDS_MIN_COUNT=%d: want at least 1", c.MinCount))
	}
	return c, errs
}

// breachedPasswordsLog describes the check for the start-up log line.
func breachedPasswordsLog(c password.BreachConfig) string {
	if !c.Online {
		return "offline list only"
	}
	return fmt.Sprintf("%s timeout=%s cache=%s×%d min_count=%d", c.APIURL, c.Timeout, c.CacheTTL, c.CacheSize, c.MinCount)
}
