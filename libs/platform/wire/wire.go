// Package wire renders Latchkey's two wire styles and maps every error to one of them.
//
// Paths of the account API (/api/v1/account/...) answer in the envelope
// {success, httpStatus, message, action_time, data}; every other path answers plain JSON with
// FastAPI-style errors ({"detail": "..."} and, for 422, {"detail": [{loc, msg, type}]}). Handlers return
// *Error values (or plain errors, which become a 500 with nothing of the cause shown); the one
// ErrorHandler picks the style from the request path.
package wire

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Style is a wire style.
type Style int

const (
	// Plain is bare JSON with FastAPI-style errors (/api/v1/me*, /api/v1/auth/*, everything new).
	Plain Style = iota
	// Envelope is the account API's {success, httpStatus, message, action_time, data}.
	Envelope
)

const envelopePrefix = "/api/v1/account"

// StyleFor returns the wire style of a request path.
func StyleFor(path string) Style {
	if path == envelopePrefix || strings.HasPrefix(path, envelopePrefix+"/") {
		return Envelope
	}
	return Plain
}

// FieldError is one failed validation rule. Loc is FastAPI's location, e.g. ["body", "email"].
type FieldError struct {
	Loc  []string
	Msg  string
	Type string
}

// Body returns a FieldError located in the request body.
func Body(field, msg, typ string) FieldError {
	return FieldError{Loc: []string{"body", field}, Msg: msg, Type: typ}
}

// Query returns a FieldError located in the query string.
func Query(field, msg, typ string) FieldError {
	return FieldError{Loc: []string{"query", field}, Msg: msg, Type: typ}
}

// PathParam returns a FieldError located in the path.
func PathParam(field, msg, typ string) FieldError {
	return FieldError{Loc: []string{"path", field}, Msg: msg, Type: typ}
}

// Header returns a FieldError located in a header.
func Header(field, msg, typ string) FieldError {
	return FieldError{Loc: []string{"header", field}, Msg: msg, Type: typ}
}

func (f FieldError) field() string {
	if len(f.Loc) == 0 {
		return ""
	}
	return f.Loc[len(f.Loc)-1]
}

// Error is an error with an HTTP status and a message that is safe to show the client.
type Error struct {
	Status     int
	Message    string
	Fields     []FieldError  // set for 422
	RetryAfter time.Duration // set for 429 and some 503s
	RateLimit  *RateLimit    // set for 429s of a known limit; see SetRateLimit
}

// RateLimit describes a client's standing against a rate limit, as the X-RateLimit-* headers report
// it (see SetRateLimit).
type RateLimit struct {
	Limit     int           // the events allowed at once
	Remaining int           // the events still allowed now
	Reset     time.Duration // until the whole allowance is back
}

// Rate-limit response headers.
const (
	HeaderRateLimitLimit     = "X-RateLimit-Limit"
	HeaderRateLimitRemaining = "X-RateLimit-Remaining"
	HeaderRateLimitReset     = "X-RateLimit-Reset"
)

// SetRateLimit sets X-RateLimit-Limit (the allowance), X-RateLimit-Remaining (what is left of it now)
// and X-RateLimit-Reset. Reset is in delta seconds — how long until the whole allowance is back,
// rounded up — as in the IETF RateLimit header draft, not GitHub's epoch seconds.
func SetRateLimit(c *fiber.Ctx, rl RateLimit) {
	c.Set(HeaderRateLimitLimit, strconv.Itoa(max(rl.Limit, 0)))
	c.Set(HeaderRateLimitRemaining, strconv.Itoa(max(rl.Remaining, 0)))
	c.Set(HeaderRateLimitReset, strconv.Itoa(ceilSeconds(rl.Reset)))
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		parts := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			parts[i] = strings.Join(f.Loc, ".") + ": " + f.Msg
		}
		return fmt.Sprintf("%d %s: %s", e.Status, e.Message, strings.Join(parts, "; "))
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

// New returns an *Error with the given status and client-safe message.
func New(status int, msg string) *Error { return &Error{Status: status, Message: msg} }

// BadRequest is a 400.
func BadRequest(msg string) *Error { return New(http.StatusBadRequest, msg) }

// Unauthorized is a 401.
func Unauthorized(msg string) *Error { return New(http.StatusUnauthorized, msg) }

// Forbidden is a 403.
func Forbidden(msg string) *Error { return New(http.StatusForbidden, msg) }

// NotFound is a 404.
func NotFound(msg string) *Error { return New(http.StatusNotFound, msg) }

// Conflict is a 409.
func Conflict(msg string) *Error { return New(http.StatusConflict, msg) }

// TooManyRequests is a 429 with a Retry-After.
func TooManyRequests(msg string, retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Message: msg, RetryAfter: retryAfter}
}

// TooManyRequestsLimit is a 429 with a Retry-After and the X-RateLimit-* headers of rl.
func TooManyRequestsLimit(msg string, retryAfter time.Duration, rl RateLimit) *Error {
	return &Error{Status: http.StatusTooManyRequests, Message: msg, RetryAfter: retryAfter, RateLimit: &rl}
}

// UnavailableRetryAfter is the Retry-After of Unavailable: about when a dependency that was down
// (MongoDB electing a primary, a restarting sibling) may answer again.
const UnavailableRetryAfter = 2 * time.Second

// Unavailable is a 503 with Retry-After: a dependency (MongoDB, the session service) is down.
func Unavailable(msg string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Message: msg, RetryAfter: UnavailableRetryAfter}
}

// Invalid is a 422 listing the failed fields.
func Invalid(fields ...FieldError) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Message: "Validation failed", Fields: fields}
}

// StatusName returns the envelope's httpStatus for a code: 404 → "NOT_FOUND".
func StatusName(code int) string {
	text := http.StatusText(code)
	if text == "" {
		return strconv.Itoa(code)
	}
	return strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_", "'", "").Replace(text))
}

// ActionTime formats a time as the envelope's action_time (ISO 8601, UTC, seconds).
func ActionTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

// EnvelopeBody is the account API's response shape.
type EnvelopeBody struct {
	Success    bool   `json:"success"`
	HTTPStatus string `json:"httpStatus"`
	Message    string `json:"message"`
	ActionTime string `json:"action_time"`
	Data       any    `json:"data"`
}

// OK writes a success answer in the path's style: the envelope with message and data, or data alone.
func OK(c *fiber.Ctx, status int, message string, data any) error {
	if StyleFor(c.Path()) == Envelope {
		return c.Status(status).JSON(EnvelopeBody{
			Success: true, HTTPStatus: StatusName(status), Message: message,
			ActionTime: ActionTime(time.Now()), Data: data,
		})
	}
	if data == nil {
		data = fiber.Map{"message": message}
	}
	return c.Status(status).JSON(data)
}

// Render writes err in the path's style. Unknown errors become a bare 500.
func Render(c *fiber.Ctx, err error) error {
	e := From(err)
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	}
	if e.Status == http.StatusTooManyRequests {
		// Every 429 carries the X-RateLimit-* headers; a limit that did not describe itself is
		// reported as an allowance of 1, exhausted until Retry-After.
		rl := RateLimit{Limit: 1, Reset: e.RetryAfter}
		if e.RateLimit != nil {
			rl = *e.RateLimit
			rl.Remaining = 0
			rl.Limit = max(rl.Limit, 1)
			rl.Reset = max(rl.Reset, e.RetryAfter)
		}
		SetRateLimit(c, rl)
	}
	if StyleFor(c.Path()) == Envelope {
		var data any = e.Message
		if len(e.Fields) > 0 {
			m := make(map[string]string, len(e.Fields))
			for _, f := range e.Fields {
				if _, seen := m[f.field()]; !seen {
					m[f.field()] = f.Msg
				}
			}
			data = m
		}
		return c.Status(e.Status).JSON(EnvelopeBody{
			Success: false, HTTPStatus: StatusName(e.Status), Message: e.Message,
			ActionTime: ActionTime(time.Now()), Data: data,
		})
	}
	if len(e.Fields) > 0 {
		detail := make([]fiber.Map, len(e.Fields))
		for i, f := range e.Fields {
			detail[i] = fiber.Map{"loc": f.Loc, "msg": f.Msg, "type": f.Type}
		}
		return c.Status(e.Status).JSON(fiber.Map{"detail": detail})
	}
	return c.Status(e.Status).JSON(fiber.Map{"detail": e.Message})
}

// From converts any error to an *Error: an *Error as is, a *fiber.Error with a client-safe message,
// anything else a 500 that reveals nothing.
func From(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			return NotFound("Not Found")
		case fiber.StatusMethodNotAllowed:
			return New(fe.Code, "Method Not Allowed")
		case fiber.StatusRequestEntityTooLarge:
			return New(fe.Code, "Request body too large")
		case fiber.StatusRequestHeaderFieldsTooLarge:
			return New(fe.Code, "Request headers too large")
		case fiber.StatusRequestTimeout:
			return New(fe.Code, "Request timeout")
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return New(fe.Code, http.StatusText(fe.Code))
		}
	}
	return New(http.StatusInternalServerError, "Internal server error")
}
