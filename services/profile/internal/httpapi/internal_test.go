package httpapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/profile/internal/httpapi"
)

func TestInternalAccountEvents(t *testing.T) {
	t.Parallel()
	const token = config.Secret("internal-token-for-tests-0123456789")
	var applied []events.Envelope
	fail := false
	app, err := httpx.NewInternalApp(httpx.Options{Service: "profile", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.RegisterInternal(app, httpx.RequireToken(token), func(_ context.Context, ev events.Envelope) error {
		if fail {
			return errors.New("store down")
		}
		applied = append(applied, ev)
		return nil
	})
	event := `{"eventId":"e1","type":"account.updated","occurredAt":"2026-12-01T00:00:00Z","accountId":"a1","payload":{"version":2,"username":"ada_king","status":"ACTIVE"}}`
	for _, tc := range []struct {
		name, token, body string
		fail              bool
		status            int
	}{
		{"no token", "", event, false, 401},
		{"applied", token.Value(), event, false, 204},
		{"not an envelope", token.Value(), `{"type":"account.updated"}`, false, 422},
		{"store down", token.Value(), event, true, 503},
	} {
		fail = tc.fail
		req := httptest.NewRequest(http.MethodPost, "/internal/v1/account-events", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d %s, want %d", tc.name, resp.StatusCode, raw, tc.status)
		}
	}
	if len(applied) != 1 || applied[0].EventID != "e1" || applied[0].AccountID != "a1" {
		t.Errorf("applied = %+v, want the one authenticated, well-formed event", applied)
	}
}
