package httpapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// headerSessionID names the caller's current session on account API items 15–17. The access token's
// sid is authoritative: the header, when sent, must be that same session (400 otherwise), so a client
// cannot sign out one session with the token of another (DELETE /sessions/{id} is for that).
const headerSessionID = "X-Session-Id"

var (
	otpPattern      = regexp.MustCompile(`^[0-9]{6}$`)
	platformPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	reasonPattern   = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// Lengths past which device fields are refused (422).
const (
	maxDeviceID   = 128
	maxDeviceName = 200
	maxPlatform   = 64
	maxPassword   = 128
)

// validSessionID reports whether s is a session id: a UUID in its canonical 36-character form.
func validSessionID(s string) bool {
	return len(s) == 36 && uuid.Validate(s) == nil
}

// Touch records activity of the caller's session; it sits behind authn.Middleware on the session
// routes. Writes are throttled by the domain (SESSION_TOUCH_INTERVAL).
func (h *Handler) Touch(c *fiber.Ctx) error {
	h.sessions.Touch(c.UserContext(), authn.MustPrincipal(c))
	return c.Next()
}

// ---- account API (envelope): items 15–19 ----

// accountSession is a session in the account API's words.
type accountSession struct {
	ID             string  `json:"id"`
	DeviceID       string  `json:"deviceId"`
	DeviceName     string  `json:"deviceName"`
	Platform       string  `json:"platform"`
	Browser        string  `json:"browser"`
	OS             string  `json:"os"`
	IPAddress      string  `json:"ipAddress"`
	Location       *string `json:"location"`
	LastActiveAt   string  `json:"lastActiveAt"`
	CreatedAt      string  `json:"createdAt"`
	ExpiresAt      string  `json:"expiresAt"`
	CurrentSession bool    `json:"currentSession"`
}

type accountSessions struct {
	Sessions       []accountSession `json:"sessions"`
	TotalCount     int              `json:"totalCount"`
	CurrentSession *accountSession  `json:"currentSession"`
}

func toAccountSession(s session.Session, current string) accountSession {
	out := accountSession{
		ID: s.ID, DeviceID: s.DeviceID, DeviceName: s.DeviceName, Platform: s.Platform, Browser: s.Browser,
		OS: s.OS, IPAddress: s.IPAddress, LastActiveAt: wire.ActionTime(s.LastActiveAt),
		CreatedAt: wire.ActionTime(s.CreatedAt), ExpiresAt: wire.ActionTime(s.ExpiresAt), CurrentSession: s.ID == current,
	}
	if s.Location != "" {
		loc := s.Location
		out.Location = &loc
	}
	return out
}

// checkSessionHeader validates X-Session-Id against the access token's session.
func checkSessionHeader(c *fiber.Ctx, p authn.Principal, required bool) error {
	raw := strings.TrimSpace(c.Get(headerSessionID))
	switch {
	case raw == "" && required:
		return wire.BadRequest("X-Session-Id header is required")
	case raw == "":
		return nil
	case !validSessionID(raw):
		return wire.BadRequest("X-Session-Id must be a valid UUID")
	case !strings.EqualFold(raw, p.SessionID):
		return wire.BadRequest("X-Session-Id does not match the session of the access token")
	}
	return nil
}

// ListAccountSessions is account API 15: GET /api/v1/account/sessions.
func (h *Handler) ListAccountSessions(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	if err := checkSessionHeader(c, p, false); err != nil {
		return err
	}
	list, err := h.sessions.List(c.UserContext(), p.AccountID)
	if err != nil {
		return h.fail(c, err)
	}
	out := accountSessions{Sessions: make([]accountSession, 0, len(list)), TotalCount: len(list)}
	for _, s := range list {
		as := toAccountSession(s, p.SessionID)
		out.Sessions = append(out.Sessions, as)
		if as.CurrentSession {
			out.CurrentSession = &as
		}
	}
	return wire.OK(c, http.StatusOK, "Sessions retrieved", out)
}

// SignOut is account API 16: POST /api/v1/account/sessions/sign-out ends the session named by
// X-Session-Id, which must be the caller's own.
func (h *Handler) SignOut(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	if err := checkSessionHeader(c, p, true); err != nil {
		return err
	}
	if err := h.sessions.Revoke(c.UserContext(), p.AccountID, p.SessionID, session.ReasonSignOut); err != nil {
		return h.fail(c, err)
	}
	return wire.OK(c, http.StatusOK, "Signed out successfully", nil)
}

// reauthRequest is the body of account API 17 and 18: exactly one of password and otp.
type reauthRequest struct {
	Password string `json:"password"`
	OTP      string `json:"otp"`
}

func decodeProof(c *fiber.Ctx) (session.Proof, error) {
	step := stepUpToken(c)
	if step != "" && len(strings.TrimSpace(string(c.Body()))) == 0 {
		return session.Proof{ReauthToken: step}, nil
	}
	var req reauthRequest
	if err := wire.Decode(c, &req); err != nil {
		return session.Proof{}, err
	}
	if step != "" && req.Password == "" && req.OTP == "" {
		return session.Proof{ReauthToken: step}, nil
	}
	chk := wire.NewChecker()
	switch {
	case req.Password == "" && req.OTP == "":
		chk.Fail("password", "One of password or otp is required", "missing")
	case req.Password != "" && req.OTP != "":
		chk.Fail("otp", "Provide either password or otp, not both", "value_error")
	case req.OTP != "":
		chk.Check(otpPattern.MatchString(req.OTP), "otp", "OTP must be exactly 6 digits", "string_pattern_mismatch")
	default:
		chk.MaxLen("password", req.Password, maxPassword)
	}
	if err := chk.Err(); err != nil {
		return session.Proof{}, err
	}
	return session.Proof{Password: req.Password, OTP: req.OTP}, nil
}

// SignOutOthers is account API 17: POST /api/v1/account/sessions/sign-out-others ends every session
// but the caller's, after identity accepts the password or code.
func (h *Handler) SignOutOthers(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	if err := checkSessionHeader(c, p, true); err != nil {
		return err
	}
	proof, err := decodeProof(c)
	if err != nil {
		return err
	}
	if _, err := h.sessions.SignOutOthers(c.UserContext(), p, proof); err != nil {
		return h.failReauth(c, err, proof)
	}
	return wire.OK(c, http.StatusOK, "Signed out of other devices", nil)
}

// SignOutAll is account API 18: POST /api/v1/account/sessions/sign-out-all ends every session of the
// account, the caller's included, after identity accepts the password or code.
func (h *Handler) SignOutAll(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	proof, err := decodeProof(c)
	if err != nil {
		return err
	}
	if _, err := h.sessions.SignOutAll(c.UserContext(), p, proof); err != nil {
		return h.failReauth(c, err, proof)
	}
	return wire.OK(c, http.StatusOK, "Signed out of all devices", nil)
}

// RevokeAccountSession is account API 19: DELETE /api/v1/account/sessions/{sessionId}.
func (h *Handler) RevokeAccountSession(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	id := strings.ToLower(c.Params("sessionId"))
	if !validSessionID(id) {
		return wire.BadRequest("Invalid session id")
	}
	reason := session.ReasonRevokedByOwner
	if id == p.SessionID {
		reason = session.ReasonSignOut
	}
	if err := h.sessions.Revoke(c.UserContext(), p.AccountID, id, reason); err != nil {
		return h.fail(c, err)
	}
	return wire.OK(c, http.StatusOK, "Session revoked", nil)
}

// failReauth maps a failed re-authentication to the account API's answers.
func (h *Handler) failReauth(c *fiber.Ctx, err error, proof session.Proof) error {
	var throttled *session.ThrottledError
	switch {
	case errors.Is(err, session.ErrInvalidCredentials) && proof.Password == "" && proof.OTP == "":
		// A step-up token identity did not accept (unknown, expired, another account's or session's).
		c.Set(fiber.HeaderWWWAuthenticate, "ReauthToken")
		return wire.Unauthorized("Re-authentication required")
	case errors.Is(err, session.ErrInvalidCredentials) && proof.OTP != "":
		return wire.Forbidden("Invalid or expired code")
	case errors.Is(err, session.ErrInvalidCredentials):
		return wire.Forbidden("Password is incorrect")
	case errors.As(err, &throttled):
		return wire.TooManyRequestsLimit("Too many attempts. Try again later.", throttled.RetryAfter,
			wire.RateLimit{Limit: throttled.Limit, Reset: max(throttled.Reset, throttled.RetryAfter)})
	case errors.Is(err, session.ErrAccountUnavailable):
		return wire.Unauthorized("Account is not active")
	case errors.Is(err, session.ErrReauthUnavailable):
		h.log.ErrorContext(c.UserContext(), "re-authentication unavailable", "err", err)
		return wire.Unavailable("Verification is temporarily unavailable")
	}
	return h.fail(c, err)
}

// ---- AudioPod paths (plain) ----

type deviceInfo struct {
	DeviceID   string  `json:"device_id"`
	DeviceName string  `json:"device_name"`
	Platform   string  `json:"platform"`
	Browser    string  `json:"browser"`
	OS         string  `json:"os"`
	Location   *string `json:"location"`
}

// authSession is a session in the AudioPod document's words: device_info is its summary string;
// Device (not in the document) keeps the device's details.
type authSession struct {
	SessionID  string     `json:"session_id"`
	UserID     string     `json:"user_id"`
	DeviceInfo string     `json:"device_info"`
	Device     deviceInfo `json:"device"`
	IPAddress  string     `json:"ip_address"`
	UserAgent  string     `json:"user_agent"`
	CreatedAt  time.Time  `json:"created_at"`
	LastActive time.Time  `json:"last_active"`
	ExpiresAt  time.Time  `json:"expires_at"`
	IsCurrent  bool       `json:"is_current"`
}

func toAuthSession(s session.Session, current string) authSession {
	out := authSession{
		SessionID: s.ID, UserID: s.AccountID,
		DeviceInfo: deviceSummary(s),
		Device:     deviceInfo{DeviceID: s.DeviceID, DeviceName: s.DeviceName, Platform: s.Platform, Browser: s.Browser, OS: s.OS},
		IPAddress:  s.IPAddress, UserAgent: s.UserAgent, CreatedAt: s.CreatedAt, LastActive: s.LastActiveAt,
		ExpiresAt: s.ExpiresAt, IsCurrent: s.ID == current,
	}
	if s.Location != "" {
		loc := s.Location
		out.Device.Location = &loc
	}
	return out
}

// ListAuthSessions is GET /api/v1/auth/sessions.
func (h *Handler) ListAuthSessions(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	list, err := h.sessions.List(c.UserContext(), p.AccountID)
	if err != nil {
		return h.fail(c, err)
	}
	out := make([]authSession, 0, len(list))
	for _, s := range list {
		out = append(out, toAuthSession(s, p.SessionID))
	}
	return c.Status(http.StatusOK).JSON(out)
}

type revokeRequest struct {
	SessionID       string `json:"session_id"`
	RevokeAllOthers bool   `json:"revoke_all_others"`
	// Proof for revoke_all_others when X-Reauth-Token is not sent: one of password and otp.
	Password string `json:"password"`
	OTP      string `json:"otp"`
}

type revokeResponse struct {
	Message      string `json:"message"`
	RevokedCount int    `json:"revoked_count"`
}

// RevokeAuthSessions is POST /api/v1/auth/sessions/revoke: {session_id} ends one of the caller's
// sessions ("current" names the caller's own); {revoke_all_others: true} ends every other session
// (session_id is then ignored) and needs a proof: X-Reauth-Token, or password or otp in the body.
func (h *Handler) RevokeAuthSessions(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	var req revokeRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	if req.RevokeAllOthers {
		// Like the account API's sign-out-others: ending every other session needs a fresh proof, or a
		// stolen access token could lock the owner out of all their devices.
		proof, err := revokeAllProof(c, req)
		if err != nil {
			return err
		}
		n, err := h.sessions.SignOutOthers(c.UserContext(), p, proof)
		if err != nil {
			return h.failReauth(c, err, proof)
		}
		return c.JSON(revokeResponse{Message: "Other sessions revoked", RevokedCount: n})
	}
	chk := wire.NewChecker()
	id := strings.ToLower(strings.TrimSpace(req.SessionID))
	if chk.Required("session_id", id) {
		chk.Check(id == "current" || validSessionID(id), "session_id", "Input should be a valid UUID or 'current'", "uuid_parsing")
	}
	if err := chk.Err(); err != nil {
		return err
	}
	reason := session.ReasonRevokedByOwner
	if id == "current" || id == p.SessionID {
		id, reason = p.SessionID, session.ReasonSignOut
	}
	if err := h.sessions.Revoke(c.UserContext(), p.AccountID, id, reason); err != nil {
		return h.fail(c, err)
	}
	return c.JSON(revokeResponse{Message: "Session revoked", RevokedCount: 1})
}

type deviceInfoRequest struct {
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
	Platform   string `json:"platform"`
}

// UpdateDeviceInfo is POST /api/v1/auth/sessions/update-device-info: the caller's session takes the
// request's User-Agent, address and location, and the optional body's device id, name and platform.
func (h *Handler) UpdateDeviceInfo(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	var req deviceInfoRequest
	if len(strings.TrimSpace(string(c.Body()))) > 0 { // the body is optional
		if err := wire.Decode(c, &req); err != nil {
			return err
		}
	}
	chk := wire.NewChecker()
	chk.MaxLen("device_id", req.DeviceID, maxDeviceID)
	chk.MaxLen("device_name", req.DeviceName, maxDeviceName)
	chk.MaxLen("platform", req.Platform, maxPlatform)
	chk.PlainText("device_id", req.DeviceID)
	chk.PlainText("device_name", req.DeviceName)
	chk.Check(req.Platform == "" || platformPattern.MatchString(req.Platform), "platform", "Platform may contain only letters, digits, '-' and '_'", "string_pattern_mismatch")
	if err := chk.Err(); err != nil {
		return err
	}
	updated, err := h.sessions.UpdateDevice(c.UserContext(), p, session.Device{
		DeviceID: strings.TrimSpace(req.DeviceID), DeviceName: strings.TrimSpace(req.DeviceName), Platform: req.Platform,
		IPAddress: httpx.ClientIP(c), UserAgent: truncate(wire.CleanText(c.Get(fiber.HeaderUserAgent)), maxUserAgent), Location: httpx.ClientLocation(c),
	})
	if errors.Is(err, session.ErrNotFound) {
		return wire.Unauthorized("Invalid session")
	}
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(toAuthSession(updated, p.SessionID))
}

// sessionInfo is validate's session_info: the AudioPod document's fields, plus device, ip_address
// and user_agent.
type sessionInfo struct {
	SessionID  string     `json:"session_id"`
	UserID     string     `json:"user_id"`
	DeviceInfo string     `json:"device_info"`
	Device     deviceInfo `json:"device"`
	IPAddress  string     `json:"ip_address"`
	UserAgent  string     `json:"user_agent"`
	CreatedAt  time.Time  `json:"created_at"`
	LastActive time.Time  `json:"last_active"`
	ExpiresAt  time.Time  `json:"expires_at"`
	IsCurrent  bool       `json:"is_current"`
}

type validateUser struct {
	ID         string  `json:"id"`
	Email      *string `json:"email"`
	FullName   *string `json:"full_name"`
	IsVerified *bool   `json:"is_verified"`
}

type validateResponse struct {
	IsValid      bool         `json:"is_valid"`
	SessionInfo  sessionInfo  `json:"session_info"`
	User         validateUser `json:"user"`
	ExpiresIn    int          `json:"expires_in"`
	NeedsRefresh bool         `json:"needs_refresh"`
}

// current returns the caller's live session, or the 401 of an ended one.
func (h *Handler) current(ctx context.Context, p authn.Principal) (session.Session, error) {
	sess, err := h.sessions.Current(ctx, p)
	if errors.Is(err, session.ErrNotFound) {
		return session.Session{}, wire.Unauthorized("Invalid session")
	}
	return sess, err
}

// ValidateSession is GET /api/v1/auth/session/validate. The user's email, verification and full name
// come from the session service's projection of account and profile events; they are null for an
// account it has not heard of yet.
func (h *Handler) ValidateSession(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	sess, err := h.current(c.UserContext(), p)
	if err != nil {
		return h.fail(c, err)
	}
	a := toAuthSession(sess, p.SessionID)
	health := h.sessions.Health(p)
	out := validateResponse{
		IsValid: true,
		SessionInfo: sessionInfo{SessionID: a.SessionID, UserID: a.UserID, DeviceInfo: a.DeviceInfo, Device: a.Device,
			IPAddress: a.IPAddress, UserAgent: a.UserAgent, CreatedAt: a.CreatedAt, LastActive: a.LastActive,
			ExpiresAt: a.ExpiresAt, IsCurrent: a.IsCurrent}, // the caller's own session: is_current is true
		User:         validateUser{ID: p.AccountID},
		ExpiresIn:    int(health.ExpiresIn / time.Second),
		NeedsRefresh: health.ShouldRefresh,
	}
	if h.cfg.Accounts != nil {
		if acc, ok := h.cfg.Accounts.Account(c.UserContext(), p.AccountID); ok {
			out.User.Email, out.User.IsVerified = &acc.Email, &acc.EmailVerified
			if acc.FullName != "" {
				out.User.FullName = &acc.FullName
			}
		}
	}
	return c.JSON(out)
}

type tokenHealthResponse struct {
	Valid            bool   `json:"valid"`
	Expired          bool   `json:"expired"`
	ExpiresInSeconds int    `json:"expires_in_seconds"`
	ExpiresInMinutes int    `json:"expires_in_minutes"`
	ShouldRefresh    bool   `json:"should_refresh"`
	UserID           string `json:"user_id"`
}

// TokenHealth is GET /api/v1/auth/token-health. A token that is expired, forged or of an ended session
// never reaches it: authn.Middleware and the session check answer 401.
func (h *Handler) TokenHealth(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	if _, err := h.current(c.UserContext(), p); err != nil {
		return h.fail(c, err)
	}
	health := h.sessions.Health(p)
	secs := int(health.ExpiresIn / time.Second)
	return c.JSON(tokenHealthResponse{
		Valid: true, Expired: false, ExpiresInSeconds: secs, ExpiresInMinutes: secs / 60,
		ShouldRefresh: health.ShouldRefresh, UserID: p.AccountID,
	})
}

// ---- internal API ----

type revokeAccountRequest struct {
	ExceptSessionID string `json:"exceptSessionId"`
	// SessionID, when set, ends that one session of the account only ("this wasn't me"); it excludes
	// ExceptSessionID.
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason"`
}

type revokeAccountResponse struct {
	Revoked int `json:"revoked"`
}

// RevokeAccountSessions is POST /internal/v1/accounts/{accountId}/sessions/revoke: identity ends the
// sessions of an account after a password change or reset, a 2FA change or a deactivation, or — with
// sessionId — one session of the account (an owner's "this wasn't me"): revoked is then 1, or 0 when
// the session is not the account's or has already ended.
func (h *Handler) RevokeAccountSessions(c *fiber.Ctx) error {
	accountID := c.Params("accountId")
	var req revokeAccountRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(accountID) == "" || len(accountID) > 128 {
		return wire.Invalid(wire.PathParam("accountId", "Invalid account id", "value_error"))
	}
	chk := wire.NewChecker()
	except := strings.ToLower(strings.TrimSpace(req.ExceptSessionID))
	chk.Check(except == "" || validSessionID(except), "exceptSessionId", "Input should be a valid UUID or empty", "uuid_parsing")
	one := strings.ToLower(strings.TrimSpace(req.SessionID))
	chk.Check(one == "" || validSessionID(one), "sessionId", "Input should be a valid UUID or empty", "uuid_parsing")
	chk.Check(one == "" || except == "", "sessionId", "sessionId and exceptSessionId exclude each other", "value_error")
	if chk.Required("reason", req.Reason) {
		chk.MaxLen("reason", req.Reason, 64)
		chk.Check(reasonPattern.MatchString(req.Reason), "reason", "Reason may contain only a-z, 0-9 and '_'", "string_pattern_mismatch")
	}
	if err := chk.Err(); err != nil {
		return err
	}
	if one != "" {
		err := h.sessions.Revoke(c.UserContext(), accountID, one, req.Reason)
		switch {
		case errors.Is(err, session.ErrNotFound):
			return c.JSON(revokeAccountResponse{Revoked: 0})
		case err != nil:
			return h.fail(c, err)
		}
		return c.JSON(revokeAccountResponse{Revoked: 1})
	}
	n, err := h.sessions.RevokeAll(c.UserContext(), accountID, except, req.Reason)
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(revokeAccountResponse{Revoked: n})
}
