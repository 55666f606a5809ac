package auth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// loginAttempts counts sign-in steps by outcome, for dashboards and the login-failure alert.
var loginAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "latchkey_identity_login_attempts_total",
	Help: "Sign-in steps by step (password, device_code, two_factor_code) and outcome (success, challenge, failure, throttled, captcha, error).",
}, []string{"step", "outcome"})

func init() {
	telemetry.MustRegister(loginAttempts)
	// Every series exists from the start, so rates and alerts see a zero rather than nothing.
	for _, step := range []string{stepPassword, stepDeviceCode, stepTwoFactorCode} {
		for _, o := range []string{outcomeSuccess, outcomeChallenge, outcomeFailure, outcomeThrottled, outcomeCaptcha, outcomeError} {
			if o == outcomeChallenge && step != stepPassword {
				continue
			}
			loginAttempts.WithLabelValues(step, o)
		}
	}
}

// Sign-in steps: the password, then the code of a device challenge or of the second factor.
const (
	stepPassword      = "password"
	stepDeviceCode    = "device_code"
	stepTwoFactorCode = "two_factor_code"
)

// Outcomes of a sign-in step. A challenge is a correct password that asks for a code next.
const (
	outcomeSuccess   = "success"
	outcomeChallenge = "challenge"
	outcomeFailure   = "failure"
	outcomeThrottled = "throttled"
	outcomeCaptcha   = "captcha"
	outcomeError     = "error"
)

// signInOutcome classifies the error a sign-in step ended with.
func signInOutcome(err error) string {
	var exceeded *throttle.ExceededError
	switch {
	case err == nil:
		return outcomeSuccess
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrInvalidCode):
		return outcomeFailure
	case errors.As(err, &exceeded):
		return outcomeThrottled
	case errors.Is(err, ErrCaptchaRequired), errors.Is(err, ErrCaptchaInvalid):
		return outcomeCaptcha
	}
	return outcomeError // the store, the hasher under load, the session service
}

func observeLogin(res LoginResult, err error) {
	outcome := signInOutcome(err)
	if err == nil && res.SignedIn == nil {
		outcome = outcomeChallenge
	}
	loginAttempts.WithLabelValues(stepPassword, outcome).Inc()
}

func observeCodeStep(step string, err error) {
	loginAttempts.WithLabelValues(step, signInOutcome(err)).Inc()
}
