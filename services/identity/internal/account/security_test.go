package account_test

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

func TestScoreSecurity(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 19, 10, 0, 0, 0, time.UTC)
	recent := now.Add(-30 * 24 * time.Hour)
	old := now.Add(-400 * 24 * time.Hour)
	tests := []struct {
		name      string
		facts     account.SecurityFacts
		wantScore int
		wantLevel account.StrengthLevel
		wantRecs  []string
	}{
		{"nothing at all", account.SecurityFacts{TrustedDevices: 9}, 0, account.LevelVeryWeak, []string{
			account.RecommendTwoFactor, account.RecommendSetPassword, account.RecommendVerifyEmail,
			account.RecommendVerifyPhone, account.RecommendReviewDevices, account.RecommendLinkProvider,
		}},
		{"everything", account.SecurityFacts{EmailVerified: true, PhoneVerified: true, TwoFactorEnabled: true, Passkeys: 1, HasPassword: true,
			PasswordChangedAt: recent, LinkedProviders: 1, TrustedDevices: 2}, 100, account.LevelStrong, nil},
		{"everything but a passkey: an authenticator app", account.SecurityFacts{EmailVerified: true, PhoneVerified: true, TOTP: true, TwoFactorEnabled: true, HasPassword: true,
			PasswordChangedAt: recent, LinkedProviders: 1, TrustedDevices: 2}, 95, account.LevelStrong, []string{account.RecommendPasskey}},
		{"everything but a passkey or an app: codes", account.SecurityFacts{EmailVerified: true, PhoneVerified: true, TwoFactorEnabled: true, HasPassword: true,
			PasswordChangedAt: recent, LinkedProviders: 1, TrustedDevices: 2}, 90, account.LevelStrong, []string{account.RecommendStrongerThanCodes}},
		{"codes by SMS only", account.SecurityFacts{PhoneVerified: true, TwoFactorEnabled: true, HasPassword: true,
			PasswordChangedAt: recent, LinkedProviders: 1, TrustedDevices: 2}, 70, account.LevelMedium, []string{account.RecommendStrongerThanCodes, account.RecommendVerifyEmail}},
		{"the account API's example: verified email and phone, a password, no 2FA", account.SecurityFacts{EmailVerified: true, PhoneVerified: true,
			HasPassword: true, PasswordChangedAt: recent, TrustedDevices: 1}, 60, account.LevelMedium,
			[]string{account.RecommendTwoFactor, account.RecommendLinkProvider}},
		{"old password", account.SecurityFacts{EmailVerified: true, HasPassword: true, PasswordChangedAt: old, TwoFactorEnabled: true},
			65, account.LevelMedium, []string{account.RecommendVerifyPhone, account.RecommendStrongerThanCodes, account.RecommendChangePassword, account.RecommendLinkProvider}},
		{"passwordless with a provider", account.SecurityFacts{EmailVerified: true, LinkedProviders: 2, TrustedDevices: 1}, 30, account.LevelWeak,
			[]string{account.RecommendTwoFactor, account.RecommendSetPassword, account.RecommendVerifyPhone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := account.ScoreSecurity(tc.facts, now)
			if got.Score != tc.wantScore || got.Level != tc.wantLevel || got.Description != tc.wantLevel.Description() {
				t.Errorf("score %d %s, want %d %s", got.Score, got.Level, tc.wantScore, tc.wantLevel)
			}
			var texts []string
			for i, r := range got.Recommendations {
				texts = append(texts, r.Text)
				if i > 0 && r.Points > got.Recommendations[i-1].Points {
					t.Errorf("recommendations not ranked by points: %+v", got.Recommendations)
				}
			}
			if len(texts) != len(tc.wantRecs) {
				t.Fatalf("recommendations = %q, want %q", texts, tc.wantRecs)
			}
			for i := range texts {
				if texts[i] != tc.wantRecs[i] {
					t.Errorf("recommendations = %q, want %q", texts, tc.wantRecs)
					break
				}
			}
			weights, points := 0, 0
			for _, f := range got.Factors {
				weights += f.Weight
				points += f.Points
				// A factor short of its weight says how to earn the rest (two_factor is graded).
				if (f.Points < f.Weight) != (f.Recommendation != "") || f.State == "" {
					t.Errorf("factor %+v: points and recommendation disagree, or no state", f)
				}
			}
			if weights != 100 || points != got.Score {
				t.Errorf("weights add to %d and points to %d, want 100 and %d", weights, points, got.Score)
			}
		})
	}
}
