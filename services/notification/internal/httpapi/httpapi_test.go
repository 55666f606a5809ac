package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newApp(t *testing.T, enabled bool) (*fiber.App, *devoutbox.Outbox) {
	t.Helper()
	env := testenv.New(t)
	outbox := devoutbox.New(env.Database("notification"))
	if err := outbox.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	app, err := httpx.NewApp(httpx.Options{Service: "notification", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.Routes(app, httpapi.NewHandler(outbox, log), enabled)
	return app, outbox
}

func get(t *testing.T, app *fiber.App, target string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	resp, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.CheckResponse(t, req, nil, resp, raw)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object", target, raw)
	}
	return resp.StatusCode, body
}

func send(t *testing.T, o *devoutbox.Outbox, m delivery.Message) {
	t.Helper()
	if _, err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func TestListOutbox(t *testing.T) {
	t.Parallel()
	app, outbox := newApp(t, true)
	send(t, outbox, delivery.Message{ID: "e1:email", Channel: "EMAIL", To: "jane@example.com", Subject: "Code", Body: "b1", Code: "111111", Purpose: "registration"})
	time.Sleep(5 * time.Millisecond)
	send(t, outbox, delivery.Message{ID: "e2:email", Channel: "EMAIL", To: "jane@example.com", Body: "notice", Purpose: "registration_existing_account"})
	send(t, outbox, delivery.Message{ID: "e3:sms", Channel: "SMS", To: "+15551234567", Body: "b3", Code: "333333", Purpose: "two_factor"})
	send(t, outbox, delivery.Message{ID: "e4:email", Channel: "EMAIL", To: "john@example.com", Body: "b4", Code: "444444", Purpose: "registration"})

	for _, tc := range []struct {
		name    string
		query   string
		wantIDs []string
	}{
		{"email, newest first", "to=jane@example.com", []string{"e2:email", "e1:email"}},
		{"email in another case, padded", "to=%20JANE@Example.COM%20", []string{"e2:email", "e1:email"}},
		{"phone percent-encoded", "to=%2B15551234567", []string{"e3:sms"}},
		{"phone with a bare plus", "to=+15551234567", []string{"e3:sms"}},
		{"phone without the plus is another number", "to=15551234567", nil},
		{"nobody", "to=nobody@example.com", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, app, "/api/v1/dev/outbox?"+tc.query)
			if status != http.StatusOK {
				t.Fatalf("status = %d, body %v", status, body)
			}
			msgs, ok := body["messages"].([]any)
			if !ok {
				t.Fatalf("messages = %#v, want a list", body["messages"])
			}
			var ids []string
			for _, m := range msgs {
				ids = append(ids, m.(map[string]any)["id"].(string))
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tc.wantIDs)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		_, body := get(t, app, "/api/v1/dev/outbox?to=jane@example.com")
		msgs := body["messages"].([]any)
		notice, otp := msgs[0].(map[string]any), msgs[1].(map[string]any)
		want := map[string]any{"id": "e1:email", "channel": "EMAIL", "to": "jane@example.com", "subject": "Code", "body": "b1", "code": "111111", "purpose": "registration"}
		for k, v := range want {
			if otp[k] != v {
				t.Errorf("%s = %#v, want %#v", k, otp[k], v)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, otp["created_at"].(string)); err != nil {
			t.Errorf("created_at = %v: %v", otp["created_at"], err)
		}
		if v, present := notice["code"]; !present || v != nil {
			t.Errorf("notice code = %#v (present %v), want null", v, present)
		}
		if v, present := notice["subject"]; !present || v != nil {
			t.Errorf("subject without one = %#v (present %v), want null", v, present)
		}
	})
}

func TestListOutboxLimit(t *testing.T) {
	t.Parallel()
	app, outbox := newApp(t, true)
	for i := range 55 {
		send(t, outbox, delivery.Message{ID: fmt.Sprintf("e%02d:sms", i), Channel: "SMS", To: "+15550000000", Body: "b", Code: "123456", Purpose: "two_factor"})
	}
	_, body := get(t, app, "/api/v1/dev/outbox?to=%2B15550000000")
	if msgs := body["messages"].([]any); len(msgs) != httpapi.OutboxLimit {
		t.Errorf("got %d messages, want %d", len(msgs), httpapi.OutboxLimit)
	}
}

func TestListOutboxWithoutTo(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, true)
	for _, query := range []string{"", "?to=", "?to=%20%20", "?other=x"} {
		t.Run(query, func(t *testing.T) {
			status, body := get(t, app, "/api/v1/dev/outbox"+query)
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", status)
			}
			detail, _ := body["detail"].([]any)
			if len(detail) != 1 {
				t.Fatalf("detail = %#v, want one FastAPI error", body["detail"])
			}
			d := detail[0].(map[string]any)
			if fmt.Sprint(d["loc"]) != "[query to]" || d["type"] != "missing" || d["msg"] != "Field required" {
				t.Errorf("detail = %v", d)
			}
		})
	}
}

func TestOutboxRouteAbsentWhenDisabled(t *testing.T) {
	t.Parallel()
	app, outbox := newApp(t, false)
	send(t, outbox, delivery.Message{ID: "e1:sms", Channel: "SMS", To: "+15551234567", Body: "b", Code: "123456", Purpose: "two_factor"})
	status, body := get(t, app, "/api/v1/dev/outbox?to=%2B15551234567")
	if status != http.StatusNotFound || body["detail"] != "Not Found" {
		t.Errorf("got %d %v, want the plain 404", status, body)
	}
}

func TestListOutboxMongoDown(t *testing.T) {
	t.Parallel()
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI("mongodb://127.0.0.1:1").SetServerSelectionTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	log := slog.New(slog.DiscardHandler)
	app, err := httpx.NewApp(httpx.Options{Service: "notification", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.Routes(app, httpapi.NewHandler(devoutbox.New(client.Database("notification")), log), true)
	status, body := get(t, app, "/api/v1/dev/outbox?to=a@b.co")
	if status != http.StatusServiceUnavailable || body["detail"] == nil {
		t.Errorf("got %d %v, want 503 with a detail", status, body)
	}
}
