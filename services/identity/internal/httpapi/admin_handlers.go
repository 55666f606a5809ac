package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/admin"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// Limits of the admin API's inputs.
const (
	maxAdminID       = 128
	maxAdminQuery    = 254
	maxAdminReason   = 200
	maxAdminPageSize = 100
	defAdminPageSize = 20
	maxAdminPage     = 10_000
)

// Messages of the admin API.
const (
	msgAdminForbidden   = "Not allowed"
	msgAdminNotFound    = "Account not found"
	msgAdminKeyNotFound = "API key not found"
	msgAdminSelf        = "Operators cannot do this to their own account"
	msgAdminSelfAdmin   = "Admins cannot remove their own admin role"
	msgAdminNoDeletion  = "Account deletion is not available"
)

type adminHandler struct {
	*Handler
	adm *admin.Service
}

// RegisterAdmin mounts the admin API (/api/v1/admin/..., plain style) on app. Each route runs, in
// order: requireAuth with API keys refused (authn.SignedInOnly, 403), the operator gate (the roles
// stored on the caller's account, read now: 403 before any account is looked up, so a caller who is
// no operator learns nothing about ids), step-up (X-Reauth-Token, 401) for every write, then the
// handler. Support may read and lock/unlock; everything else is admin only.
func RegisterAdmin(app *fiber.App, requireAuth fiber.Handler, svc *auth.Service, adm *admin.Service, log *slog.Logger) {
	h := &adminHandler{Handler: &Handler{auth: svc, log: log}, adm: adm}
	signedIn := authn.SignedInOnly(requireAuth)
	read := func(last fiber.Handler) []fiber.Handler {
		return []fiber.Handler{signedIn, h.operator(false), last}
	}
	write := func(adminOnly bool, last fiber.Handler) []fiber.Handler {
		return []fiber.Handler{signedIn, h.operator(adminOnly), h.requireStepUp, last}
	}
	app.Get("/api/v1/admin/accounts", read(h.search)...)
	app.Get("/api/v1/admin/accounts/:id", read(h.account)...)
	app.Post("/api/v1/admin/accounts/:id/lock", write(false, h.lock)...)
	app.Post("/api/v1/admin/accounts/:id/unlock", write(false, h.unlock)...)
	app.Post("/api/v1/admin/accounts/:id/reactivate", write(true, h.reactivate)...)
	app.Post("/api/v1/admin/accounts/:id/sign-out", write(true, h.signOut)...)
	app.Post("/api/v1/admin/accounts/:id/reset-2fa", write(true, h.resetTwoFactor)...)
	app.Put("/api/v1/admin/accounts/:id/roles", write(true, h.setRoles)...)
	app.Delete("/api/v1/admin/accounts/:id/api-keys/:keyId", write(true, h.revokeKey)...)
	app.Delete("/api/v1/admin/accounts/:id", write(true, h.deleteAccount)...)
}

func operatorOf(c *fiber.Ctx) admin.Operator {
	cl := client(c)
	return admin.Operator{AccountID: authn.MustPrincipal(c).AccountID, IP: cl.IP, UserAgent: cl.UserAgent}
}

// operator is the route gate: the caller's account must hold the role the route needs.
func (h *adminHandler) operator(adminOnly bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := h.adm.Authorize(c.UserContext(), operatorOf(c), adminOnly); err != nil {
			return adminFailure(err)
		}
		return c.Next()
	}
}

func adminFailure(err error) error {
	var state *admin.StateError
	switch {
	case errors.Is(err, admin.ErrForbidden):
		return wire.Forbidden(msgAdminForbidden)
	case errors.Is(err, admin.ErrNotFound):
		return wire.NotFound(msgAdminNotFound)
	case errors.Is(err, admin.ErrSelf):
		return wire.Conflict(msgAdminSelf)
	case errors.As(err, &state):
		return wire.Conflict(state.Message)
	case errors.Is(err, admin.ErrDeletionUnavailable):
		return wire.New(http.StatusNotImplemented, msgAdminNoDeletion)
	case errors.Is(err, auth.ErrDeletionScheduled):
		return wire.Conflict("The account's deletion is already scheduled")
	case errors.Is(err, auth.ErrAccountGone):
		return wire.NotFound(msgAdminNotFound)
	}
	return failure(err, "password", wire.Unauthorized(msgInvalidCode))
}

// pathID reads and checks an id path parameter.
func pathID(c *fiber.Ctx, param string) (string, error) {
	id := strings.TrimSpace(c.Params(param))
	v := wire.NewChecker()
	v.Loc = "path"
	v.MaxLen(param, id, maxAdminID)
	v.PlainText(param, id)
	v.Check(id != "", param, "Field required", "missing")
	return id, v.Err()
}

type adminReasonRequest struct {
	Reason string `json:"reason"`
}

// reason reads the optional body {"reason": "..."}: a short plain text, or no body at all.
func reason(c *fiber.Ctx) (string, error) {
	if len(strings.TrimSpace(string(c.Body()))) == 0 {
		return "", nil
	}
	var req adminReasonRequest
	if err := wire.Decode(c, &req); err != nil {
		return "", err
	}
	r := strings.TrimSpace(req.Reason)
	v := wire.NewChecker()
	v.MaxLen("reason", r, maxAdminReason)
	v.PlainText("reason", r)
	return r, v.Err()
}

// ---- reads ----

type adminAccountSummary struct {
	ID            string   `json:"id"`
	Email         *string  `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Phone         *string  `json:"phone"`
	PhoneVerified bool     `json:"phone_verified"`
	Username      *string  `json:"username"`
	FirstName     *string  `json:"first_name"`
	LastName      *string  `json:"last_name"`
	Status        string   `json:"status"`
	Roles         []string `json:"roles"`
	CreatedAt     string   `json:"created_at"`
}

func summaryOf(a account.Account) adminAccountSummary {
	return adminAccountSummary{
		ID: a.ID, Email: optional(a.Email), EmailVerified: a.IsEmailVerified(), Phone: optional(a.Phone),
		PhoneVerified: a.IsPhoneVerified(), Username: optional(a.Username), FirstName: optional(a.FirstName),
		LastName: optional(a.LastName), Status: string(a.Status), Roles: a.EffectiveRoles(), CreatedAt: adminTime(a.CreatedAt),
	}
}

// adminTime renders a time as RFC 3339 in UTC; "" for the zero time (callers use adminTimePtr for
// optional ones).
func adminTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func adminTimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := adminTime(t)
	return &s
}

type adminSearchResponse struct {
	Accounts []adminAccountSummary `json:"accounts"`
	Page     int                   `json:"page"`
	Size     int                   `json:"size"`
	Total    int64                 `json:"total"`
}

func queryInt(c *fiber.Ctx, v *wire.Checker, name string, def, lo, hi int) int {
	raw := strings.TrimSpace(c.Query(name))
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		v.Fail(name, "Input should be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi), "int_parsing")
		return def
	}
	return n
}

// search is GET /api/v1/admin/accounts?q=&page=&size=.
func (h *adminHandler) search(c *fiber.Ctx) error {
	v := wire.NewChecker()
	v.Loc = "query"
	q := strings.TrimSpace(c.Query("q"))
	if v.Required("q", q) {
		v.MaxLen("q", q, maxAdminQuery)
		v.PlainText("q", q)
	}
	page := queryInt(c, v, "page", 0, 0, maxAdminPage)
	size := queryInt(c, v, "size", defAdminPageSize, 1, maxAdminPageSize)
	if err := v.Err(); err != nil {
		return err
	}
	res, err := h.adm.Search(c.UserContext(), operatorOf(c), q, page, size)
	if err != nil {
		return adminFailure(err)
	}
	out := adminSearchResponse{Accounts: make([]adminAccountSummary, 0, len(res.Accounts)), Page: page, Size: size, Total: res.Total}
	for _, a := range res.Accounts {
		out.Accounts = append(out.Accounts, summaryOf(a))
	}
	return c.JSON(out)
}

type adminDeactivation struct {
	DeactivatedAt string  `json:"deactivated_at"`
	Reason        *string `json:"reason"`
}

type adminFactors struct {
	TwoFactorByCode        bool `json:"two_factor_by_code"`
	TOTPEnrolled           bool `json:"totp_enrolled"`
	Passkeys               int  `json:"passkeys"`
	RecoveryCodesRemaining int  `json:"recovery_codes_remaining"`
}

type adminDevice struct {
	ID         string  `json:"id"`
	DeviceID   string  `json:"device_id"`
	DeviceName *string `json:"device_name"`
	Platform   *string `json:"platform"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
}

type adminProvider struct {
	Provider  string  `json:"provider"`
	Email     *string `json:"email"`
	LinkedAt  *string `json:"linked_at"`
	SubjectID string  `json:"provider_account_id"`
}

type adminAPIKey struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Scopes     []string `json:"scopes"`
	CreatedAt  string   `json:"created_at"`
	LastUsedAt *string  `json:"last_used_at"`
	ExpiresAt  *string  `json:"expires_at"`
}

type adminSession struct {
	SessionID    string   `json:"session_id"`
	DeviceID     *string  `json:"device_id"`
	DeviceName   *string  `json:"device_name"`
	Platform     *string  `json:"platform"`
	Browser      *string  `json:"browser"`
	OS           *string  `json:"os"`
	IPAddress    *string  `json:"ip_address"`
	UserAgent    *string  `json:"user_agent"`
	Location     *string  `json:"location"`
	AMR          []string `json:"amr"`
	CreatedAt    *string  `json:"created_at"`
	LastActiveAt *string  `json:"last_active_at"`
	ExpiresAt    *string  `json:"expires_at"`
}

type adminActivity struct {
	ID         string            `json:"id"`
	Kind       string            `json:"kind"`
	Outcome    *string           `json:"outcome"`
	Reason     *string           `json:"reason"`
	OccurredAt string            `json:"occurred_at"`
	IPAddress  *string           `json:"ip_address"`
	DeviceName *string           `json:"device_name"`
	Location   *string           `json:"location"`
	ActorType  string            `json:"actor_type"`
	ActorID    *string           `json:"actor_id"`
	Details    map[string]string `json:"details"`
}

type adminAccountResponse struct {
	adminAccountSummary
	PasswordSet     bool               `json:"password_set"`
	UpdatedAt       string             `json:"updated_at"`
	Deactivation    *adminDeactivation `json:"deactivation"`
	Sessions        []adminSession     `json:"sessions"`
	SessionsKnown   bool               `json:"sessions_known"` // false: the session service could not be asked
	TrustedDevices  []adminDevice      `json:"trusted_devices"`
	LinkedProviders []adminProvider    `json:"linked_providers"`
	Factors         adminFactors       `json:"factors"`
	APIKeys         []adminAPIKey      `json:"api_keys"`
	RecentActivity  []adminActivity    `json:"recent_activity"`
}

// account is GET /api/v1/admin/accounts/{id}.
func (h *adminHandler) account(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	d, err := h.adm.Account(c.UserContext(), operatorOf(c), id)
	if err != nil {
		return adminFailure(err)
	}
	a := d.Account
	out := adminAccountResponse{
		adminAccountSummary: summaryOf(a), PasswordSet: a.HasPassword(), UpdatedAt: adminTime(a.UpdatedAt),
		Sessions: []adminSession{}, SessionsKnown: !d.SessionsError, TrustedDevices: []adminDevice{},
		LinkedProviders: []adminProvider{}, APIKeys: []adminAPIKey{}, RecentActivity: []adminActivity{},
		Factors: adminFactors{TwoFactorByCode: d.Factors.TwoFactorByCode, TOTPEnrolled: d.Factors.TOTPEnrolled,
			Passkeys: d.Factors.Passkeys, RecoveryCodesRemaining: d.Factors.RecoveryCodesRemaining},
	}
	if a.Status == account.StatusDeactivated || !a.DeactivatedAt.IsZero() {
		out.Deactivation = &adminDeactivation{DeactivatedAt: adminTime(a.DeactivatedAt), Reason: optional(a.DeactivationReason)}
	}
	for _, s := range d.Sessions {
		out.Sessions = append(out.Sessions, adminSession{
			SessionID: s.ID, DeviceID: optional(s.DeviceID), DeviceName: optional(s.DeviceName), Platform: optional(s.Platform),
			Browser: optional(s.Browser), OS: optional(s.OS), IPAddress: optional(s.IPAddress), UserAgent: optional(s.UserAgent),
			Location: optional(s.Location), AMR: nonNil(s.AMR), CreatedAt: adminTimePtr(s.CreatedAt),
			LastActiveAt: adminTimePtr(s.LastActiveAt), ExpiresAt: adminTimePtr(s.ExpiresAt),
		})
	}
	for _, dv := range d.Devices {
		out.TrustedDevices = append(out.TrustedDevices, adminDevice{ID: dv.ID, DeviceID: dv.DeviceID, DeviceName: optional(dv.DeviceName),
			Platform: optional(dv.Platform), CreatedAt: adminTime(dv.CreatedAt), LastUsedAt: adminTimePtr(dv.LastUsedAt)})
	}
	for _, l := range d.Providers {
		out.LinkedProviders = append(out.LinkedProviders, adminProvider{Provider: l.Provider, Email: optional(l.Email),
			LinkedAt: adminTimePtr(l.LinkedAt), SubjectID: l.Subject})
	}
	for _, k := range d.APIKeys {
		out.APIKeys = append(out.APIKeys, adminAPIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: nonNil(k.Scopes.Names()),
			CreatedAt: adminTime(k.CreatedAt), LastUsedAt: adminTimePtr(k.LastUsedAt), ExpiresAt: adminTimePtr(k.ExpiresAt)})
	}
	for _, e := range d.RecentActivity {
		out.RecentActivity = append(out.RecentActivity, adminActivity{ID: e.ID, Kind: e.Kind, Outcome: optional(e.Outcome),
			Reason: optional(e.Reason), OccurredAt: adminTime(e.OccurredAt), IPAddress: optional(e.IPAddress),
			DeviceName: optional(e.DeviceName), Location: optional(e.Location), ActorType: orOwner(e.Actor.Type),
			ActorID: optional(e.Actor.ID), Details: e.Details})
	}
	return c.JSON(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orOwner(t string) string {
	if t == "" {
		return "owner"
	}
	return t
}

// ---- writes ----

type adminDone struct {
	Message string `json:"message"`
}

// action runs one of the reason-taking writes.
func (h *adminHandler) action(c *fiber.Ctx, run func(op admin.Operator, id, reason string) error, done string) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	r, err := reason(c)
	if err != nil {
		return err
	}
	if err := run(operatorOf(c), id, r); err != nil {
		return adminFailure(err)
	}
	return c.JSON(adminDone{Message: done})
}

func (h *adminHandler) lock(c *fiber.Ctx) error {
	return h.action(c, func(op admin.Operator, id, r string) error { return h.adm.Lock(c.UserContext(), op, id, r) },
		"Account locked; every session was ended")
}

func (h *adminHandler) unlock(c *fiber.Ctx) error {
	return h.action(c, func(op admin.Operator, id, r string) error { return h.adm.Unlock(c.UserContext(), op, id, r) },
		"Account unlocked")
}

func (h *adminHandler) reactivate(c *fiber.Ctx) error {
	return h.action(c, func(op admin.Operator, id, r string) error { return h.adm.Reactivate(c.UserContext(), op, id, r) },
		"Account reactivated")
}

func (h *adminHandler) signOut(c *fiber.Ctx) error {
	return h.action(c, func(op admin.Operator, id, r string) error { return h.adm.SignOut(c.UserContext(), op, id, r) },
		"Every session of the account was ended")
}

func (h *adminHandler) resetTwoFactor(c *fiber.Ctx) error {
	return h.action(c, func(op admin.Operator, id, r string) error { return h.adm.ResetTwoFactor(c.UserContext(), op, id, r) },
		"Every second factor was turned off and every session ended")
}

type adminRolesRequest struct {
	Roles []string `json:"roles"`
}

type adminRolesResponse struct {
	Roles []string `json:"roles"`
}

// setRoles is PUT /api/v1/admin/accounts/{id}/roles.
func (h *adminHandler) setRoles(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req adminRolesRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	v.Check(req.Roles != nil, "roles", "Field required", "missing")
	v.Check(len(req.Roles) <= len(account.KnownRoles), "roles", "Too many roles", "too_long")
	for _, r := range req.Roles {
		if !account.IsKnownRole(r) {
			v.Fail("roles", "Roles may be "+strings.Join(account.KnownRoles, ", "), "enum")
			break
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	roles, err := h.adm.SetRoles(c.UserContext(), operatorOf(c), id, req.Roles)
	if errors.Is(err, admin.ErrSelf) {
		return wire.Conflict(msgAdminSelfAdmin)
	}
	if err != nil {
		return adminFailure(err)
	}
	return c.JSON(adminRolesResponse{Roles: roles})
}

// revokeKey is DELETE /api/v1/admin/accounts/{id}/api-keys/{keyId}.
func (h *adminHandler) revokeKey(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	keyID, err := pathID(c, "keyId")
	if err != nil {
		return err
	}
	err = h.adm.RevokeAPIKey(c.UserContext(), operatorOf(c), id, keyID)
	if errors.Is(err, admin.ErrNotFound) {
		return wire.NotFound(msgAdminKeyNotFound)
	}
	if err != nil {
		return adminFailure(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

type adminDeletionResponse struct {
	DeleteAt string `json:"delete_at"`
}

// deleteAccount is DELETE /api/v1/admin/accounts/{id}: the deletion starts (grace period first).
func (h *adminHandler) deleteAccount(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	at, err := h.adm.Delete(c.UserContext(), operatorOf(c), id)
	if err != nil {
		return adminFailure(err)
	}
	return c.Status(http.StatusAccepted).JSON(adminDeletionResponse{DeleteAt: adminTime(at)})
}
