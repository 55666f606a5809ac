package password

import (
	"bufio"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Length limits of the policy, in characters. MinLength is the floor no setting can lower (NIST
// SP 800-63B-4's minimum for a password used with a second factor); the upper bound keeps hashing
// cost bounded while leaving room for long passphrases (NIST asks that at least 64 be allowed).
const (
	MinLength = 8
	MaxLength = 128
)

// Policy is the configurable part of the rules: how long a password must be. NIST SP 800-63B-4
// (§3.1.1.2) and OWASP ASVS v5 (6.2.1) ask for at least 8 characters when the password is one of two
// factors and at least 15 when it is the only one.
type Policy struct {
	MinLength                    int // accounts with two-factor sign-in on; at least MinLength
	MinLengthWithoutSecondFactor int // accounts where the password alone signs in (and registration)
}

// DefaultPolicy is 8 characters for every account: NIST's floor. Set
// MinLengthWithoutSecondFactor to 15 (PASSWORD_MIN_LENGTH_WITHOUT_2FA) for NIST's single-factor rule;
// it is not the default because existing users' and clients' passwords were accepted at 8.
var DefaultPolicy = Policy{MinLength: MinLength, MinLengthWithoutSecondFactor: MinLength}

var policy atomic.Pointer[Policy]

// SetPolicy replaces the length rules Check applies (identity sets it once at start-up from its
// configuration). Lengths below MinLength or above MaxLength are an error.
func SetPolicy(p Policy) error {
	for _, n := range []int{p.MinLength, p.MinLengthWithoutSecondFactor} {
		if n < MinLength || n > MaxLength {
			return fmt.Errorf("password minimum length %d: want %d to %d", n, MinLength, MaxLength)
		}
	}
	policy.Store(&p)
	return nil
}

// CurrentPolicy returns the length rules Check applies.
func CurrentPolicy() Policy {
	if p := policy.Load(); p != nil {
		return *p
	}
	return DefaultPolicy
}

// Normalize is the form a password is checked, hashed and compared in: Unicode NFKC (NIST
// SP 800-63B-4 §3.1.1.2, ASVS v5 6.2.x), so that the same passphrase typed on two keyboards — a
// precomposed "é" or "e" + combining accent, a full-width digit — is the same password.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// Rule names one rule of the policy.
type Rule string

// The rules, in the order they are checked.
const (
	RuleTooShort         Rule = "too_short"
	RuleTooLong          Rule = "too_long"
	RuleCommon           Rule = "common"
	RuleContainsUsername Rule = "contains_username"
	RuleContainsEmail    Rule = "contains_email"
)

// PolicyError says which rule a password broke, in words fit for the client.
type PolicyError struct {
	Rule    Rule
	Message string
}

func (e *PolicyError) Error() string { return e.Message }

// Owner is what the policy knows about the account a password is for: a password may not equal or
// contain the username or the local part of the e-mail address, and its minimum length depends on
// whether the account has a second factor.
type Owner struct {
	Username     string
	Email        string
	SecondFactor bool // two-factor sign-in is on: Policy.MinLength applies instead of MinLengthWithoutSecondFactor
}

// minEmbedded is the shortest username or e-mail local part that a password may not contain; shorter
// ones would forbid half the alphabet, so for them only equality is refused.
const minEmbedded = 3

//go:embed commonpasswords.txt
var commonList string

var common = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 20000)
	sc := bufio.NewScanner(strings.NewReader(commonList))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	return set
})

// IsCommon reports whether pw is on the embedded list of common passwords (case-insensitive).
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}

// Check applies the policy (NIST SP 800-63B-4 §3.1.1.2, OWASP ASVS v5 6.2) to the NFKC form of pw:
// at least the policy's minimum length (8, or the stricter length for accounts without a second
// factor) and at most 128 characters, counted in Unicode characters; not a common password; not
// equal to nor containing the username or the e-mail's local part (case-insensitive). There is no
// composition rule — a long passphrase of letters is a good password. It returns a *PolicyError
// naming the first rule broken, or nil.
func Check(pw string, owner Owner) error {
	pw = Normalize(pw)
	n := utf8.RuneCountInString(pw)
	p := CurrentPolicy()
	min := p.MinLengthWithoutSecondFactor
	if owner.SecondFactor {
		min = p.MinLength
	}
	if n < min {
		return &PolicyError{RuleTooShort, fmt.Sprintf("Password must be at least %d characters", min)}
	}
	if n > MaxLength {
		return &PolicyError{RuleTooLong, fmt.Sprintf("Password must be at most %d characters", MaxLength)}
	}
	lower := strings.ToLower(pw)
	if IsCommon(lower) {
		return &PolicyError{RuleCommon, "Password is too common; choose a less predictable one"}
	}
	if u := strings.ToLower(strings.TrimSpace(owner.Username)); u != "" && embeds(lower, u) {
		return &PolicyError{RuleContainsUsername, "Password must not contain your username"}
	}
	if e := strings.ToLower(strings.TrimSpace(owner.Email)); e != "" {
		local := e
		if at := strings.LastIndexByte(e, '@'); at >= 0 {
			local = e[:at]
		}
		if lower == e || (local != "" && embeds(lower, local)) {
			return &PolicyError{RuleContainsEmail, "Password must not contain your email address"}
		}
	}
	return nil
}

func embeds(pw, s string) bool {
	if pw == s {
		return true
	}
	return utf8.RuneCountInString(s) >= minEmbedded && strings.Contains(pw, s)
}
