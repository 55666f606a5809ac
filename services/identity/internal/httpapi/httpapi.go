// Package httpapi is the identity service's public HTTP API: the routes, the request shapes and
// their validation, and the mapping of domain outcomes to the two wire styles. Handlers decode and
// validate, call the auth flows, and render; they hold no business rules.
package httpapi

import (
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/captcha"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// Messages shown to clients.
const (
	msgInvalidCode        = "Invalid or expired code"
	msgInvalidCredentials = "Invalid credentials"
	msgTooMany            = "Too many attempts"
	msgUsernameTaken      = "Username already taken"
	msgUnavailable        = "Service temporarily unavailable"
	msgAccountLocked      = "This account is locked; contact support"
)

// Field limits (characters). Identifiers longer than any real one are refused before they reach
// the database or argon2id.
const (
	maxEmail        = 254
	maxIdentifier   = 254
	maxLoginPass    = 1024 // login accepts what the policy never would, but not megabytes
	maxName         = 100
	maxDeviceID     = 128
	maxDeviceName   = 100
	maxPlatform     = 32
	maxToken        = 256
	maxUserAgent    = 512
	maxUsernameText = 64 // the username rules proper are account.ValidateUsername's
)

var platformPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Handler serves the identity endpoints.
type Handler struct {
	auth *auth.Service
	log  *slog.Logger
}

// Register mounts every public route of the identity service on app, with the paths spelled as in
// the API documents. requireAuth (authn.Middleware) guards the protected routes: it answers 401 in the
// path's wire style for a missing, invalid, expired or revoked access token (503 while no signing keys
// can be fetched) before their handler runs, and leaves the caller for authn.PrincipalFrom.
//
// API keys: requireAuth alone lets a key read with its read scope and refuses it every write, so
// none of identity's writes (credentials, contacts, factors, devices, usernames, providers, keys,
// deactivation, re-authentication) is open to keys; reads that are sensitive too are closed with
// authn.SignedInOnly. TestAPIKeyRoutePolicy holds the decision for every route.
func Register(app *fiber.App, requireAuth fiber.Handler, svc *auth.Service, keys APIKeys, log *slog.Logger) {
	h := &Handler{auth: svc, log: log}
	app.Use(withActivityClient) // every route after this one: the activity log knows where a change came from

	// Plain style (audiopod-account-management.txt namespace; DESIGN.md: new auth endpoints).
	app.Post("/api/v1/auth/initiate-registration", h.initiateRegistration)
	app.Post("/api/v1/auth/verify-registration", h.verifyRegistration)
	app.Post("/api/v1/auth/login", h.login)
	registerAPIKeys(app, requireAuth, h.requireStepUp, keys)
	app.Post("/api/v1/auth/verify-2fa", h.verifyTwoFactor)
	app.Post("/api/v1/auth/forgot-password", h.forgotPassword)
	app.Post("/api/v1/auth/reset-password", h.resetPassword)
	app.Post("/api/v1/auth/reauth/send-otp", requireAuth, h.sendReauthCode)
	app.Post("/api/v1/auth/reauth", requireAuth, h.issueStepUp)                  // step-up token for X-Reauth-Token
	app.Post("/api/v1/auth/email-change/revert", h.revertEmailChange)            // the link sent to the previous address
	app.Post("/api/v1/auth/change-password", requireAuth, h.plainChangePassword) // AudioPod
	app.Post("/api/v1/me/password", requireAuth, h.plainChangePassword)          // profile-api.txt

	// Envelope style (account-api.txt).
	app.Get("/api/v1/account/security-info", requireAuth, h.securityInfo)                                // item 1
	app.Post("/api/v1/account/2fa/enable", requireAuth, h.twoFactor(true))                               // item 2
	app.Post("/api/v1/account/2fa/disable", requireAuth, h.twoFactor(false))                             // item 3
	app.Delete("/api/v1/account/deactivate", requireAuth, h.deactivate)                                  // item 4
	app.Post("/api/v1/account/password/change", requireAuth, h.changePassword)                           // item 5
	app.Post("/api/v1/account/password/change-with-otp/send-otp", requireAuth, h.sendPasswordChangeCode) // item 6
	app.Post("/api/v1/account/password/change-with-otp/verify", requireAuth, h.changePasswordWithCode)   // item 7
	app.Get("/api/v1/account/password/can-set", authn.SignedInOnly(requireAuth), h.canSetPassword)       // item 8
	app.Post("/api/v1/account/password/set", requireAuth, h.setPassword)                                 // item 9
	app.Post("/api/v1/account/device/verify", h.verifyDevice)                                            // item 20

	registerLinking(app, requireAuth, h)
	registerRecoveryCodes(app, requireAuth, h)
	registerSecondFactors(app, requireAuth, h)
	registerNotMe(app, requireAuth, h)
	registerDeletion(app, requireAuth, h)
}

func client(c *fiber.Ctx) auth.Client {
	ua := wire.CleanText(c.Get(fiber.HeaderUserAgent)) // recorded with the device: no invisible text
	if utf8.RuneCountInString(ua) > maxUserAgent {
		ua = string([]rune(ua)[:maxUserAgent])
	}
	return auth.Client{IP: httpx.ClientIP(c), UserAgent: ua, Location: httpx.ClientLocation(c)}
}

// checkDevice validates the optional device fields shared by the sign-in endpoints and returns them
// normalized (platform upper-cased).
func checkDevice(v *wire.Checker, idField, nameField, platformField string, d device.Info) device.Info {
	v.MaxLen(idField, d.DeviceID, maxDeviceID)
	v.MaxLen(nameField, d.DeviceName, maxDeviceName)
	v.PlainText(idField, d.DeviceID)
	v.PlainText(nameField, d.DeviceName)
	if d.Platform != "" {
		v.MaxLen(platformField, d.Platform, maxPlatform)
		v.Check(platformPattern.MatchString(d.Platform), platformField, "Platform may contain only letters, digits, '_' and '-'", "string_pattern_mismatch")
	}
	return device.Info{
		DeviceID:   strings.TrimSpace(d.DeviceID),
		DeviceName: strings.TrimSpace(d.DeviceName),
		Platform:   strings.ToUpper(strings.TrimSpace(d.Platform)),
		Timezone:   checkTimezone(v, "timezone", d.Timezone),
	}
}

// checkEmail validates a required e-mail field and returns it normalized (trimmed, lower-cased).
func checkEmail(v *wire.Checker, field, raw string) string {
	email := account.NormalizeEmail(raw)
	if v.Required(field, email) {
		v.MaxLen(field, email, maxEmail)
		v.Email(field, email)
	}
	return email
}

// failure maps a domain error to the wire. passwordField names the body field a password-policy
// failure is reported on. Errors it does not know pass through and become a logged 500.
func failure(err error, passwordField string, invalidCode *wire.Error) error {
	var (
		we       *wire.Error
		limited  *throttle.ExceededError
		busy     *password.BusyError
		policy   *password.PolicyError
		username *account.UsernameError
	)
	switch {
	case errors.As(err, &we):
		return we
	case errors.As(err, &limited):
		return tooMany(limited)
	case errors.As(err, &busy): // argon2id saturated: shed the load, the client retries shortly
		return &wire.Error{Status: fiber.StatusServiceUnavailable, Message: msgUnavailable, RetryAfter: busy.RetryAfter}
	case errors.Is(err, auth.ErrCaptchaRequired), errors.Is(err, auth.ErrCaptchaInvalid), errors.Is(err, captcha.ErrUnavailable):
		return captchaFailure(err)
	case errors.As(err, &policy):
		return wire.Invalid(wire.Body(passwordField, policy.Message, "value_error"))
	case errors.As(err, &username):
		return wire.Invalid(wire.Body("username", username.Message, "value_error"))
	case errors.Is(err, auth.ErrInvalidCode):
		return invalidCode
	case errors.Is(err, auth.ErrInvalidCredentials):
		return wire.Unauthorized(msgInvalidCredentials)
	case errors.Is(err, auth.ErrAccountLocked):
		return &wire.Error{Status: fiber.StatusLocked, Message: msgAccountLocked}
	case errors.Is(err, auth.ErrNoSecondFactor):
		return wire.Forbidden(msgNoSecondFactor)
	case errors.Is(err, auth.ErrNoDeviceVerification):
		return wire.Forbidden(msgNoDeviceVerification)
	case errors.Is(err, auth.ErrUsernameTaken):
		return wire.Conflict(msgUsernameTaken)
	case errors.Is(err, auth.ErrSessionUnavailable), store.IsUnavailable(err):
		return &unavailableError{err}
	}
	return err
}

// unavailableError renders as a 503 (wire.From finds the *wire.Error first) while the error handler
// still logs the cause.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return msgUnavailable + ": " + e.cause.Error() }

func (e *unavailableError) Unwrap() []error {
	return []error{wire.Unavailable(msgUnavailable), e.cause}
}
