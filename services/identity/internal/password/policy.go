package password

import (
	"bufio"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Length limits of the policy, in characters. The upper bound keeps hashing cost bounded.
const (
	MinLength = 8
	MaxLength = 128
)

// Rule names one rule of the policy.
type Rule string

// The rules, in the order they are checked.
const (
	RuleTooShort         Rule = "too_short"
	RuleTooLong          Rule = "too_long"
	RuleNoLetter         Rule = "no_letter"
	RuleNoDigit          Rule = "no_digit"
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
// contain the username or the local part of the e-mail address.
type Owner struct {
	Username string
	Email    string
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

// Check applies the policy: 8–128 characters, at least one letter and one digit, not a common
// password, not equal to nor containing the username or the e-mail's local part (case-insensitive).
// It returns a *PolicyError naming the first rule broken, or nil.
func Check(pw string, owner Owner) error {
	n := utf8.RuneCountInString(pw)
	if n < MinLength {
		return &PolicyError{RuleTooShort, fmt.Sprintf("Password must be at least %d characters", MinLength)}
	}
	if n > MaxLength {
		return &PolicyError{RuleTooLong, fmt.Sprintf("Password must be at most %d characters", MaxLength)}
	}
	if !strings.ContainsFunc(pw, unicode.IsLetter) {
		return &PolicyError{RuleNoLetter, "Password must contain at least one letter"}
	}
	if !strings.ContainsFunc(pw, unicode.IsDigit) {
		return &PolicyError{RuleNoDigit, "Password must contain at least one digit"}
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
