package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

// maxSearchPage bounds the page number of a search: deep pages cost a skip over every earlier
// result, and nobody pages through thousands of people four at a time.
const maxSearchPage = 500

// Messages of the username endpoints (account-api.txt items 10–14).
const (
	msgUsernameChangeLimit = "Username change limit reached"
	msgUsernameUnchanged   = "New username must be different from the current one"
	msgUserNotFound        = "User not found"
)

// RegisterUsernames mounts the username endpoints of the account API (items 10–14, envelope style).
// The fixed paths come before /username/{username}, which would otherwise swallow them. requireAuth
// guards can-change and change; check, search and lookup are public, each request counted by
// publicLimit (see LimitPerIP) so that nobody scrapes the directory of usernames.
func RegisterUsernames(app *fiber.App, requireAuth, publicLimit fiber.Handler, svc *username.Service) {
	h := &usernameHandler{svc: svc}
	app.Get("/api/v1/account/username/check", publicLimit, h.check)          // item 10
	app.Get("/api/v1/account/username/can-change", requireAuth, h.canChange) // item 11
	app.Post("/api/v1/account/username/change", requireAuth, h.change)       // item 12
	app.Get("/api/v1/account/username/search", publicLimit, h.search)        // item 13
	app.Get("/api/v1/account/username/:username", publicLimit, h.lookup)     // item 14
}

// ScopeUsernameLookupIP counts the public username requests (check, search, lookup) per client IP.
const ScopeUsernameLookupIP = "username_lookup_ip"

// LimitPerIP returns a handler that counts every request against lim per client IP, in limiter's
// shared store (so the limit holds across replicas), reports the standing in X-RateLimit-* headers,
// and answers 429 with Retry-After in the path's wire style once it is reached. Addresses on allow
// are not limited.
func LimitPerIP(limiter *throttle.Limiter, scope string, lim throttle.Limit, allow throttle.AllowList) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ip := client(c).IP
		if allow.Contains(ip) {
			return c.Next()
		}
		st, err := limiter.Take(c.UserContext(), scope, ip, lim)
		if err != nil {
			return failure(err, "", nil)
		}
		if st.Limit > 0 {
			wire.SetRateLimit(c, wire.RateLimit(st))
		}
		return c.Next()
	}
}

type usernameHandler struct{ svc *username.Service }

type availabilityBody struct {
	Username    string   `json:"username"`
	Available   bool     `json:"available"`
	Reason      *string  `json:"reason"` // why not, when not available (additive to the document)
	Suggestions []string `json:"suggestions"`
}

// GET /api/v1/account/username/check?username= — item 10.
func (h *usernameHandler) check(c *fiber.Ctx) error {
	raw := c.Query("username")
	v := &wire.Checker{Loc: "query"}
	if v.Required("username", raw) {
		v.MaxLen("username", raw, maxUsernameText)
	}
	if err := v.Err(); err != nil {
		return err
	}
	res, err := h.svc.Check(c.UserContext(), raw)
	if err != nil {
		return failure(err, "password", wire.BadRequest(msgInvalidCode))
	}
	body := availabilityBody{Username: res.Username, Available: res.Available, Reason: optional(res.Reason)}
	msg := "Username available"
	if !res.Available {
		msg = "Username not available"
		body.Suggestions = res.Suggestions
		if body.Suggestions == nil {
			body.Suggestions = []string{}
		}
	}
	return wire.OK(c, http.StatusOK, msg, body)
}

type canChangeBody struct {
	CanChange       bool    `json:"canChange"`
	CurrentUsername *string `json:"currentUsername"`
	NextChangeAt    *string `json:"nextChangeAt"` // when canChange is false (additive to the document)
}

// GET /api/v1/account/username/can-change — item 11.
func (h *usernameHandler) canChange(c *fiber.Ctx) error {
	res, err := h.svc.CanChange(c.UserContext(), authn.MustPrincipal(c).AccountID)
	if err != nil {
		return usernameFailure(err)
	}
	body := canChangeBody{CanChange: res.CanChange, CurrentUsername: optional(res.CurrentUsername)}
	msg := "You can change your username"
	if !res.CanChange {
		msg = "You cannot change your username yet"
		next := wire.ActionTime(res.NextChangeAt)
		body.NextChangeAt = &next
	}
	return wire.OK(c, http.StatusOK, msg, body)
}

type changeUsernameRequest struct {
	Username string `json:"username"`
}

type changeUsernameBody struct {
	OldUsername *string `json:"oldUsername"`
	NewUsername string  `json:"newUsername"`
}

// POST /api/v1/account/username/change — item 12.
func (h *usernameHandler) change(c *fiber.Ctx) error {
	var req changeUsernameRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	if v.Required("username", req.Username) {
		v.MaxLen("username", req.Username, maxUsernameText)
	}
	if err := v.Err(); err != nil {
		return err
	}
	res, err := h.svc.Change(c.UserContext(), authn.MustPrincipal(c).AccountID, req.Username)
	if err != nil {
		return usernameFailure(err)
	}
	return wire.OK(c, http.StatusOK, "Username changed successfully", changeUsernameBody{
		OldUsername: optional(res.OldUsername), NewUsername: res.NewUsername,
	})
}

type userCardBody struct {
	ID          string  `json:"id"`
	UserName    string  `json:"userName"`
	DisplayName *string `json:"displayName"`
	AvatarURL   *string `json:"avatarUrl"`
}

func cardBody(c username.Card) userCardBody {
	return userCardBody{ID: c.ID, UserName: c.Username, DisplayName: optional(c.DisplayName), AvatarURL: optional(c.AvatarURL)}
}

type searchBody struct {
	Users      []userCardBody `json:"users"`
	TotalCount int            `json:"totalCount"`
	HasMore    bool           `json:"hasMore"`
}

// intQuery reads an optional integer query parameter within [min, max].
func intQuery(c *fiber.Ctx, v *wire.Checker, name string, def, min, max int) int {
	raw := strings.TrimSpace(c.Query(name))
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	switch {
	case err != nil:
		v.Fail(name, "Input should be a valid integer", "int_parsing")
	case n < min:
		v.Fail(name, "Input should be greater than or equal to "+strconv.Itoa(min), "greater_than_equal")
	case n > max:
		v.Fail(name, "Input should be less than or equal to "+strconv.Itoa(max), "less_than_equal")
	}
	return n
}

// GET /api/v1/account/username/search?q=&page=&size= — item 13.
func (h *usernameHandler) search(c *fiber.Ctx) error {
	q := c.Query("q")
	v := &wire.Checker{Loc: "query"}
	if v.Required("q", q) {
		n := utf8.RuneCountInString(username.NormalizeQuery(q))
		v.Check(n >= username.SearchMinQuery, "q", "Search query must be at least 2 characters", "string_too_short")
		v.Check(n <= username.SearchMaxQuery, "q", "Search query must be at most 64 characters", "string_too_long")
	}
	page := intQuery(c, v, "page", 0, 0, maxSearchPage)
	size := intQuery(c, v, "size", username.SearchDefaultSize, 1, username.SearchMaxSize)
	if err := v.Err(); err != nil {
		return err
	}
	res, err := h.svc.Search(c.UserContext(), q, page, size)
	if err != nil {
		return failure(err, "password", wire.BadRequest(msgInvalidCode))
	}
	body := searchBody{Users: make([]userCardBody, len(res.Users)), TotalCount: res.TotalCount, HasMore: res.HasMore}
	for i, u := range res.Users {
		body.Users[i] = cardBody(u)
	}
	msg := "Users found"
	if res.TotalCount == 0 {
		msg = "No users found"
	}
	return wire.OK(c, http.StatusOK, msg, body)
}

// GET /api/v1/account/username/{username} — item 14. Accounts that are not active, locked or not
// done with primary onboarding answer the same 404 as unknown names.
func (h *usernameHandler) lookup(c *fiber.Ctx) error {
	raw, err := url.PathUnescape(c.Params("username")) // "%40ada" is "@ada"
	if err != nil || utf8.RuneCountInString(raw) > maxUsernameText {
		return wire.NotFound(msgUserNotFound)
	}
	card, err := h.svc.Lookup(c.UserContext(), raw)
	if err != nil {
		return usernameFailure(err)
	}
	return wire.OK(c, http.StatusOK, "User found", cardBody(card))
}

// usernameFailure maps the username flows' errors to the envelope (400 for business rules, as the
// account API's error table says, 422 for a username that breaks the rules).
func usernameFailure(err error) error {
	switch {
	case errors.Is(err, username.ErrNotFound):
		return wire.NotFound(msgUserNotFound)
	case errors.Is(err, username.ErrTaken):
		return wire.BadRequest(msgUsernameTaken)
	case errors.Is(err, username.ErrChangeLimit):
		return wire.BadRequest(msgUsernameChangeLimit)
	case errors.Is(err, username.ErrUnchanged):
		return wire.BadRequest(msgUsernameUnchanged)
	}
	var ue *account.UsernameError
	if errors.As(err, &ue) {
		return wire.Invalid(wire.Body("username", ue.Message, "value_error"))
	}
	return failure(err, "password", wire.BadRequest(msgInvalidCode))
}
