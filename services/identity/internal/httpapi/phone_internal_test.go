package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/phone"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// noSnapshots leaves snapshots pending for the republisher; this test looks at the HTTP contract.
type noSnapshots struct{}

func (noSnapshots) PublishSnapshot(context.Context, string) error { return nil }

func TestInternalSetPhone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.New(t).Database("identity")
	if err := store.EnsureIndexes(ctx, db); err != nil {
		t.Fatal(err)
	}
	accounts := store.NewAccounts(db)
	now := time.Now().UTC()
	for _, a := range []account.Account{
		{ID: "a1", Email: "a@example.com", EmailVerified: true, Status: account.StatusActive, CreatedAt: now, UpdatedAt: now},
		{ID: "b1", Email: "b@example.com", EmailVerified: true, Phone: "+14155550100", PhoneVerified: true, Status: account.StatusActive, CreatedAt: now, UpdatedAt: now},
		{ID: "l1", Email: "l@example.com", Status: account.StatusLocked, CreatedAt: now, UpdatedAt: now},
	} {
		if err := accounts.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	app, err := httpx.NewInternalApp(httpx.Options{Service: "identity", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.RegisterPhoneInternal(app, httpx.RequireToken(internalToken), phone.NewService(accounts, noSnapshots{}))

	for _, tc := range []struct {
		name, account, token, body string
		status                     int
		want                       string // a substring of the answer
	}{
		{"no token", "a1", "", `{"phoneNumber":"+14155550123"}`, 401, ""},
		{"wrong token", "a1", "nope", `{"phoneNumber":"+14155550123"}`, 401, ""},
		{"recorded pending, shown unverified", "a1", internalToken.Value(), `{"phoneNumber":"+14155550123"}`, 200, `"phoneNumber":"+14155550123","phoneVerified":false`},
		{"not E.164", "a1", internalToken.Value(), `{"phoneNumber":"0712345678"}`, 422, "invalid_phone"},
		// No clash is told: another account's verified number answers like any number.
		{"verified by another account", "a1", internalToken.Value(), `{"phoneNumber":"+14155550100"}`, 200, `"phoneNumber":"+14155550100","phoneVerified":false`},
		// A verified phone stays the phone until the new number's code is answered.
		{"verified phone stays", "b1", internalToken.Value(), `{"phoneNumber":"+14155550177"}`, 200, `"phoneNumber":"+14155550100","phoneVerified":true`},
		{"own verified number is no change", "b1", internalToken.Value(), `{"phoneNumber":"+14155550100"}`, 200, `"phoneVerified":true`},
		{"locked account", "l1", internalToken.Value(), `{"phoneNumber":"+14155550199"}`, 404, "not_found"},
		{"unknown account", "zz", internalToken.Value(), `{"phoneNumber":"+14155550199"}`, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPut, "/internal/v1/accounts/"+tc.account+"/phone", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := app.Test(req, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(raw), tc.want) {
				t.Fatalf("status %d %s, want %d with %q", resp.StatusCode, raw, tc.status, tc.want)
			}
			if tc.status == 200 {
				var snap map[string]any
				if err := json.Unmarshal(raw, &snap); err != nil || snap["version"] == nil {
					t.Fatalf("answer %s is not an AccountSnapshot", raw)
				}
			}
		})
	}
}
