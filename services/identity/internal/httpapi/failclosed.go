package httpapi

// Messages of fail-closed sign-in and of the last verified contact (auth.ErrNoSecondFactor,
// auth.ErrNoDeviceVerification, auth.ErrLastVerifiedContact): they say what is missing and what to do.
const (
	msgNoSecondFactor = "Two-factor authentication is on but no verified email or phone can receive a code; " +
		"recover the account (reset the password by email or contact support)"
	msgNoDeviceVerification = "This device is new and no verified email or phone can receive a verification code; " +
		"recover the account (reset the password by email or contact support)"
)
