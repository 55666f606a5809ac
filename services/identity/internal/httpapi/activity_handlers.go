package httpapi

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// withActivityClient puts the request's client (IP, user agent, location) into its context, where
// auth.RecordChange finds it for the activity entries the request causes.
func withActivityClient(c *fiber.Ctx) error {
	c.SetUserContext(auth.WithClient(c.UserContext(), client(c)))
	return c.Next()
}

// maxActivityPage bounds the page number of the activity log (skip stays cheap).
const maxActivityPage = 10000

// RegisterActivity mounts the owner's activity log: GET /api/v1/account/activity (envelope style).
//
// It is for signed-in sessions only (authn.SignedInOnly): a security log says when and from where the
// owner signs in, which devices they use and what was changed — with a leaked API key it would tell
// an attacker whether they have been noticed and how to blend in. No integration needs it.
func RegisterActivity(app *fiber.App, requireAuth fiber.Handler, log activity.Reader) {
	h := &activityHandler{log: log}
	app.Get("/api/v1/account/activity", authn.SignedInOnly(requireAuth), h.list)
}

type activityHandler struct {
	log activity.Reader
}

type activityDeviceBody struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
}

type activityActorBody struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

type activityItemBody struct {
	ID         string             `json:"id"`
	Kind       string             `json:"kind"`
	Outcome    string             `json:"outcome"`
	Reason     string             `json:"reason"`
	OccurredAt string             `json:"occurredAt"`
	SessionID  string             `json:"sessionId"`
	Device     activityDeviceBody `json:"device"`
	IPAddress  string             `json:"ipAddress"`
	UserAgent  string             `json:"userAgent"`
	Location   string             `json:"location"`
	Actor      activityActorBody  `json:"actor"`
	Details    map[string]string  `json:"details"`
	NotMe      bool               `json:"notMe"`
}

type activityPageBody struct {
	Items      []activityItemBody `json:"items"`
	Page       int                `json:"page"`
	Size       int                `json:"size"`
	Total      int64              `json:"total"`
	TotalPages int64              `json:"totalPages"`
}

// GET /api/v1/account/activity?page=&size=&kind= — the owner's log, newest first.
func (h *activityHandler) list(c *fiber.Ctx) error {
	p := authn.MustPrincipal(c)
	v := &wire.Checker{Loc: "query"}
	page := intQuery(c, v, "page", 0, 0, maxActivityPage)
	size := intQuery(c, v, "size", activity.DefaultSize, 1, activity.MaxSize)
	kind := c.Query("kind")
	if kind != "" {
		v.OneOf("kind", kind, activity.Kinds...)
	}
	if err := v.Err(); err != nil {
		return err
	}
	res, err := h.log.List(c.UserContext(), p.AccountID, activity.Query{Kind: kind, Page: page, Size: size})
	if err != nil {
		return err
	}
	body := activityPageBody{Items: make([]activityItemBody, len(res.Entries)), Page: page, Size: size, Total: res.Total,
		TotalPages: (res.Total + int64(size) - 1) / int64(size)}
	for i, e := range res.Entries {
		body.Items[i] = activityItem(e)
	}
	return wire.OK(c, http.StatusOK, "Activity retrieved", body)
}

func activityItem(e activity.Entry) activityItemBody {
	outcome := e.Outcome
	if outcome == "" {
		outcome = "succeeded"
	}
	details := e.Details
	if details == nil {
		details = map[string]string{}
	}
	return activityItemBody{
		ID: e.ID, Kind: e.Kind, Outcome: outcome, Reason: e.Reason, OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339),
		SessionID: e.SessionID, Device: activityDeviceBody{ID: e.DeviceID, Name: e.DeviceName, Platform: e.Platform},
		IPAddress: e.IPAddress, UserAgent: e.UserAgent, Location: e.Location,
		// An operator's id is shown as is: the owner may know who acted on their account.
		Actor:   activityActorBody{Type: e.Actor.Type, ID: e.Actor.ID},
		Details: details, NotMe: !e.NotMeAt.IsZero(),
	}
}
