package account

// The two-factor line of the score is graded by the strongest second factor: a passkey resists
// phishing (the key answers only its own site) and earns the whole weight; an authenticator app's
// codes can be phished but never travel over a network; codes sent by e-mail or WhatsApp earn less,
// and codes by SMS only (NIST 800-63B restricts the PSTN) the least.
const (
	PointsPasskey   = WeightTwoFactor
	PointsTOTP      = 30
	PointsCodes     = 25
	PointsCodesSMS  = 20
	statePasskeys   = "enabled: passkey"
	stateTOTP       = "enabled: authenticator app"
	stateCodes      = "enabled: codes by email"
	stateCodesSMS   = "enabled: codes by SMS"
	stateNoneActive = "disabled"
)

// Recommendations for a stronger second factor.
const (
	RecommendStrongerThanCodes = "Add a passkey or an authenticator app: they are safer than codes sent by email or SMS"
	RecommendPasskey           = "Add a passkey: unlike authenticator codes it cannot be phished"
)

func twoFactorFactor(f SecurityFacts) Factor {
	fc := Factor{Name: FactorTwoFactor, Weight: WeightTwoFactor}
	switch {
	case f.Passkeys > 0:
		fc.Points, fc.State = PointsPasskey, statePasskeys
	case f.TOTP:
		fc.Points, fc.State, fc.Recommendation = PointsTOTP, stateTOTP, RecommendPasskey
	case f.TwoFactorEnabled && f.EmailVerified:
		fc.Points, fc.State, fc.Recommendation = PointsCodes, stateCodes, RecommendStrongerThanCodes
	case f.TwoFactorEnabled:
		fc.Points, fc.State, fc.Recommendation = PointsCodesSMS, stateCodesSMS, RecommendStrongerThanCodes
	default:
		fc.State, fc.Recommendation = stateNoneActive, RecommendTwoFactor
	}
	return fc
}
