package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// tooMany renders a reached limit as a 429 with Retry-After and the X-RateLimit-* headers
// (X-RateLimit-Reset in delta seconds until the whole allowance is back; see wire.SetRateLimit).
func tooMany(limited *throttle.ExceededError) *wire.Error {
	return wire.TooManyRequestsLimit(msgTooMany, limited.RetryAfter, wire.RateLimit(limited.Status))
}

// HeaderCaptchaToken carries a CAPTCHA token when the request body has no captcha_token field.
const HeaderCaptchaToken = "X-Captcha-Token"

// captchaToken returns the CAPTCHA token of a request: the body's field, else the header.
func captchaToken(c *fiber.Ctx, fromBody string) string {
	if t := strings.TrimSpace(fromBody); t != "" {
		return t
	}
	return strings.TrimSpace(c.Get(HeaderCaptchaToken))
}

// captchaFailure renders the CAPTCHA errors: 428 Precondition Required with "captcha required" or
// "captcha invalid" (the client shows the widget and retries with a token), 503 when the provider
// cannot be asked.
func captchaFailure(err error) error {
	switch {
	case errors.Is(err, auth.ErrCaptchaRequired):
		return wire.New(http.StatusPreconditionRequired, "captcha required")
	case errors.Is(err, auth.ErrCaptchaInvalid):
		return wire.New(http.StatusPreconditionRequired, "captcha invalid")
	}
	return &unavailableError{err}
}
