package account

import (
	"sort"
	"strconv"
	"time"
)

// StrengthLevel grades a security score.
type StrengthLevel string

// Strength levels, weakest first.
const (
	LevelVeryWeak StrengthLevel = "VERY_WEAK" // score below 25
	LevelWeak     StrengthLevel = "WEAK"      // below 50
	LevelMedium   StrengthLevel = "MEDIUM"    // below 75
	LevelStrong   StrengthLevel = "STRONG"    // 75 and above
)

// Factor names of the security score.
const (
	FactorEmailVerified   = "email_verified"
	FactorPhoneVerified   = "phone_verified"
	FactorTwoFactor       = "two_factor"
	FactorPasswordSet     = "password_set"
	FactorPasswordAge     = "password_age"
	FactorLinkedProviders = "linked_providers"
	FactorTrustedDevices  = "trusted_devices"
)

// Weights of the factors: the points each adds to the score when it holds. They add up to 100.
// Two-factor authentication weighs most because it still protects the account once the password is
// known; verified e-mail and phone are the recovery channels; a linked provider is a second way in.
// The trusted-device factor rewards a short list of devices (every trusted device skips the
// new-device check), not a long one.
const (
	WeightTwoFactor       = 35
	WeightEmailVerified   = 15
	WeightPhoneVerified   = 15
	WeightPasswordSet     = 15
	WeightPasswordAge     = 5
	WeightLinkedProviders = 5
	WeightTrustedDevices  = 10
)

// Limits behind the password-age and trusted-device factors.
const (
	MaxPasswordAge    = 365 * 24 * time.Hour // a password older than this earns no age points
	MaxTrustedDevices = 5                    // more trusted devices than this earn no device points
)

// SecurityFacts are the inputs of the score. Linked providers and trusted devices live outside the
// account record, so the caller counts them.
type SecurityFacts struct {
	EmailVerified     bool
	PhoneVerified     bool
	TwoFactorEnabled  bool // codes by channel (POST /api/v1/account/2fa/enable)
	TOTP              bool // an authenticator app is enrolled
	Passkeys          int  // passkeys registered
	HasPassword       bool
	PasswordChangedAt time.Time
	LinkedProviders   int
	TrustedDevices    int
}

// Facts returns the score inputs held by the account itself; the caller adds the counts.
func (a Account) Facts() SecurityFacts {
	changed := a.PasswordChangedAt
	if a.HasPassword() && changed.IsZero() {
		changed = a.CreatedAt // stored before the change time was recorded
	}
	if !a.HasPassword() {
		changed = time.Time{}
	}
	return SecurityFacts{
		EmailVerified: a.IsEmailVerified(), PhoneVerified: a.IsPhoneVerified(), TwoFactorEnabled: a.TwoFactorEnabled,
		HasPassword: a.HasPassword(), PasswordChangedAt: changed,
	}
}

// Factor is one line of the score's explanation.
type Factor struct {
	Name           string
	Weight         int    // points when it holds
	Points         int    // points it earned: Weight or 0 (two_factor: graded by the strongest factor)
	State          string // what was found, in words
	Recommendation string // what would earn the points; empty when earned
}

// Strength is a computed grade of how well an account is protected, with its explanation.
type Strength struct {
	Score       int // 0–100, the sum of the factors' points
	Level       StrengthLevel
	Description string
	Factors     []Factor
	// Recommendations lists what would raise the score, the largest gain first; empty (not nil)
	// when nothing is left.
	Recommendations []Recommendation
}

// Recommendation is an action and the points it would add.
type Recommendation struct {
	Factor string
	Text   string
	Points int
}

// Recommendation texts.
const (
	RecommendTwoFactor      = "Enable two-factor authentication"
	RecommendVerifyEmail    = "Verify your email address"
	RecommendVerifyPhone    = "Add and verify a phone number"
	RecommendSetPassword    = "Set a password"
	RecommendChangePassword = "Change your password: it is more than a year old"
	RecommendLinkProvider   = "Link a Google or Apple account as a second way to sign in"
	RecommendReviewDevices  = "Review your trusted devices and remove the ones you no longer use"
)

// ScoreSecurity grades f at now. It depends only on its inputs, so the same facts always get the
// same grade.
func ScoreSecurity(f SecurityFacts, now time.Time) Strength {
	fresh := f.HasPassword && now.Sub(f.PasswordChangedAt) <= MaxPasswordAge
	ageState := "no password"
	if f.HasPassword {
		days := int(now.Sub(f.PasswordChangedAt).Hours() / 24)
		ageState = "changed " + strconv.Itoa(max(days, 0)) + " days ago"
	}
	ageRec := RecommendChangePassword
	if !f.HasPassword {
		ageRec = RecommendSetPassword
	}
	factors := []Factor{
		twoFactorFactor(f),
		factor(FactorEmailVerified, WeightEmailVerified, f.EmailVerified, onOff(f.EmailVerified, "verified", "not verified"), RecommendVerifyEmail),
		factor(FactorPhoneVerified, WeightPhoneVerified, f.PhoneVerified, onOff(f.PhoneVerified, "verified", "not verified"), RecommendVerifyPhone),
		factor(FactorPasswordSet, WeightPasswordSet, f.HasPassword, onOff(f.HasPassword, "set", "not set"), RecommendSetPassword),
		factor(FactorPasswordAge, WeightPasswordAge, fresh, ageState, ageRec),
		factor(FactorLinkedProviders, WeightLinkedProviders, f.LinkedProviders > 0, strconv.Itoa(f.LinkedProviders)+" linked", RecommendLinkProvider),
		factor(FactorTrustedDevices, WeightTrustedDevices, f.TrustedDevices <= MaxTrustedDevices,
			strconv.Itoa(f.TrustedDevices)+" trusted (at most "+strconv.Itoa(MaxTrustedDevices)+" earn the points)", RecommendReviewDevices),
	}
	st := Strength{Factors: factors, Recommendations: []Recommendation{}}
	gains := map[string]int{} // one text may stand for two factors (Set a password)
	var order []string
	for _, fc := range factors {
		st.Score += fc.Points
		if fc.Recommendation == "" {
			continue
		}
		if _, seen := gains[fc.Recommendation]; !seen {
			order = append(order, fc.Recommendation)
		}
		gains[fc.Recommendation] += fc.Weight - fc.Points
	}
	factorOf := map[string]string{}
	for _, fc := range factors {
		if fc.Recommendation != "" && factorOf[fc.Recommendation] == "" {
			factorOf[fc.Recommendation] = fc.Name
		}
	}
	for _, text := range order {
		st.Recommendations = append(st.Recommendations, Recommendation{Factor: factorOf[text], Text: text, Points: gains[text]})
	}
	sort.SliceStable(st.Recommendations, func(i, j int) bool { return st.Recommendations[i].Points > st.Recommendations[j].Points })
	st.Level = LevelFor(st.Score)
	st.Description = st.Level.Description()
	return st
}

func factor(name string, weight int, holds bool, state, recommendation string) Factor {
	f := Factor{Name: name, Weight: weight, State: state}
	if holds {
		f.Points = weight
	} else {
		f.Recommendation = recommendation
	}
	return f
}

func onOff(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// LevelFor grades a score.
func LevelFor(score int) StrengthLevel {
	switch {
	case score >= 75:
		return LevelStrong
	case score >= 50:
		return LevelMedium
	case score >= 25:
		return LevelWeak
	}
	return LevelVeryWeak
}

// Description is the human-readable summary of a level, in the account API's words.
func (l StrengthLevel) Description() string {
	switch l {
	case LevelStrong:
		return "Your account security is strong"
	case LevelMedium:
		return "Your account security is good but can be improved"
	case LevelWeak:
		return "Your account security is weak and should be improved"
	}
	return "Your account security is very weak and needs attention now"
}
