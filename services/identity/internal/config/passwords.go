package config

import (
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// loadPasswordSettings reads the hashing bound and the password length rules:
//
//	ARGON2_MAX_CONCURRENT [0]             argon2id hashes at once; 0: GOMAXPROCS (one per core). Each runs in
//	                                      a workspace of ARGON2_MEMORY_KIB allocated once and kept, so the
//	                                      process holds up to this many: it bounds hashing memory
//	ARGON2_MAX_QUEUE [0]                  hashes waiting for a slot; 0: 32 per slot. Beyond it, or after
//	ARGON2_MAX_WAIT [3s]                  waiting this long, the request answers 503 with Retry-After
//	PASSWORD_MIN_LENGTH [8]               minimum password length for accounts with 2FA on (NIST floor: 8)
//	PASSWORD_MIN_LENGTH_WITHOUT_2FA [8]   minimum for accounts where the password is the only factor, and
//	                                      at registration; NIST SP 800-63B-4 asks 15 (set it to 15 to follow it)
func loadPasswordSettings(l *config.Loader) (password.Concurrency, password.Policy, []error) {
	var errs []error
	c := password.Concurrency{
		MaxHashes: l.Int("ARGON2_MAX_CONCURRENT", 0),
		MaxQueue:  l.Int("ARGON2_MAX_QUEUE", 0),
		MaxWait:   l.Duration("ARGON2_MAX_WAIT", password.DefaultMaxWait),
	}
	if c.MaxHashes < 0 || c.MaxQueue < 0 {
		errs = append(errs, fmt.Errorf("ARGON2_MAX_CONCURRENT=%d, ARGON2_MAX_QUEUE=%d: want 0 (default) or more", c.MaxHashes, c.MaxQueue))
	}
	if c.MaxWait < time.Millisecond || c.MaxWait > time.Minute {
		errs = append(errs, fmt.Errorf("ARGON2_MAX_WAIT=%s: want 1ms to 1m", c.MaxWait))
	}
	p := password.Policy{
		MinLength:                    l.Int("PASSWORD_MIN_LENGTH", password.DefaultPolicy.MinLength),
		MinLengthWithoutSecondFactor: l.Int("PASSWORD_MIN_LENGTH_WITHOUT_2FA", password.DefaultPolicy.MinLengthWithoutSecondFactor),
	}
	for key, n := range map[string]int{"PASSWORD_MIN_LENGTH": p.MinLength, "PASSWORD_MIN_LENGTH_WITHOUT_2FA": p.MinLengthWithoutSecondFactor} {
		if n < password.MinLength || n > password.MaxLength {
			errs = append(errs, fmt.Errorf("%s=%d: want %d to %d", key, n, password.MinLength, password.MaxLength))
		}
	}
	if p.MinLengthWithoutSecondFactor < p.MinLength {
		errs = append(errs, fmt.Errorf("PASSWORD_MIN_LENGTH_WITHOUT_2FA=%d: want at least PASSWORD_MIN_LENGTH (%d)", p.MinLengthWithoutSecondFactor, p.MinLength))
	}
	return c, p, errs
}
