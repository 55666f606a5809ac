package subscriber_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/devoutbox"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
	"github.com/latchkey/latchkey/services/notification/internal/store"
	"github.com/latchkey/latchkey/services/notification/internal/subscriber"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is one test's notification service parts on the shared broker and database server: the real
// consumer, delivery service, dev outbox and HTTP API.
type world struct {
	env      *testenv.Env
	db       *mongo.Database
	app      *fiber.App
	handler  func(context.Context, events.Envelope) error
	producer *kafkax.Producer
	log      *slog.Logger
}

func newWorld(t *testing.T) *world {
	t.Helper()
	env := testenv.New(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db := env.Database("notification")
	deliveries, outbox := store.NewDeliveries(db), devoutbox.New(db)
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := outbox.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, 3, events.TopicOTPDispatch); err != nil {
		t.Fatal(err)
	}
	app, err := httpx.NewApp(httpx.Options{Service: "notification", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.Routes(app, httpapi.NewHandler(outbox, log), true)
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	t.Cleanup(func() { _ = producer.Close() })
	return &world{
		env: env, db: db, app: app, producer: producer, log: log,
		handler: subscriber.OTPDispatch(delivery.NewService(deliveries, outbox, log, delivery.Options{}), log),
	}
}

// consume runs the consumer (group "notification") until the returned stop is called; it records the
// ids of the events it handled.
func (w *world) consume(t *testing.T) (seen func() []string, stop func()) {
	t.Helper()
	var (
		mu  sync.Mutex
		ids []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kafkax.RunConsumer(ctx, kafkax.ConsumerConfig{
			Cluster: kafkax.Cluster{Brokers: w.env.Brokers}, GroupID: "notification", Logger: w.log,
			Topic: kafkax.Topic(w.env.TopicPrefix, events.TopicOTPDispatch),
		}, func(ctx context.Context, env events.Envelope) error {
			mu.Lock()
			ids = append(ids, env.EventID)
			mu.Unlock()
			return w.handler(ctx, env)
		})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("RunConsumer returned %v after cancel, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("RunConsumer did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(ids)
	}, stop
}

func (w *world) publish(t *testing.T, env events.Envelope) {
	t.Helper()
	if err := w.producer.Publish(context.Background(), events.TopicOTPDispatch, env); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func dispatch(t *testing.T, accountID string, p events.OTPDispatch) events.Envelope {
	t.Helper()
	env, err := events.New(events.TypeOTPDispatch, accountID, p)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// outbox reads the dev outbox through the HTTP API, as a developer would.
func (w *world) outbox(t *testing.T, to string) []map[string]any {
	t.Helper()
	resp, err := w.app.Test(httptest.NewRequest(http.MethodGet, "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET outbox: %d %s", resp.StatusCode, raw)
	}
	var body struct {
		Messages []map[string]any `json:"messages"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	return body.Messages
}

// waitFor polls the outbox until it holds n messages for to.
func (w *world) waitFor(t *testing.T, to string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs := w.outbox(t, to)
		if len(msgs) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOTPDispatchOverKafka(t *testing.T) {
	t.Parallel()
	const sentinel = "sentinel@example.com"
	for _, tc := range []struct {
		name      string
		dispatch  events.OTPDispatch
		copies    int // how many times the same event is published
		to        string
		wantCodes []any // codes of the messages, in any order
	}{
		{
			name:     "email code lands in the outbox",
			dispatch: events.OTPDispatch{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: "Jane@Example.com", Code: "481516", ExpiresAt: time.Now().Add(10 * time.Minute)},
			copies:   1, to: "jane@example.com", wantCodes: []any{"481516"},
		},
		{
			name:     "duplicate event gives one message",
			dispatch: events.OTPDispatch{Purpose: events.PurposeTwoFactor, Channel: events.ChannelSMS, Destination: "+15551230001", Code: "234234", ExpiresAt: time.Now().Add(10 * time.Minute)},
			copies:   3, to: "+15551230001", wantCodes: []any{"234234"},
		},
		{
			name:     "expired code gives none",
			dispatch: events.OTPDispatch{Purpose: events.PurposePasswordReset, Channel: events.ChannelEmail, Destination: "late@example.com", Code: "999999", ExpiresAt: time.Now().Add(-time.Minute)},
			copies:   1, to: "late@example.com", wantCodes: nil,
		},
		{
			name:     "sms and whatsapp give two",
			dispatch: events.OTPDispatch{Purpose: events.PurposePhoneVerification, Channel: events.ChannelSMSAndWhatsApp, Destination: "+15551230002", Code: "373737", ExpiresAt: time.Now().Add(10 * time.Minute)},
			copies:   1, to: "+15551230002", wantCodes: []any{"373737", "373737"},
		},
		{
			name:     "existing-account notice has no code",
			dispatch: events.OTPDispatch{Purpose: events.PurposeRegistrationExisting, Channel: events.ChannelEmail, Destination: "known@example.com"},
			copies:   1, to: "known@example.com", wantCodes: []any{nil},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			_, stop := w.consume(t)
			defer stop()
			ev := dispatch(t, "acc-1", tc.dispatch)
			for range tc.copies {
				w.publish(t, ev)
			}
			// Same account, same partition: once the sentinel is delivered, the events before it are done.
			w.publish(t, dispatch(t, "acc-1", events.OTPDispatch{
				Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: sentinel, Code: "000000", ExpiresAt: time.Now().Add(time.Hour),
			}))
			if got := w.waitFor(t, sentinel, 1); len(got) != 1 {
				t.Fatalf("the sentinel never arrived (%d messages)", len(got))
			}

			msgs := w.outbox(t, tc.to)
			var codes []any
			for _, m := range msgs {
				codes = append(codes, m["code"])
				if m["to"] != tc.to || m["purpose"] != tc.dispatch.Purpose || m["body"] == "" {
					t.Errorf("message = %v", m)
				}
			}
			if len(codes) != len(tc.wantCodes) || (len(codes) > 0 && codes[0] != tc.wantCodes[0]) {
				t.Errorf("codes = %v, want %v", codes, tc.wantCodes)
			}
			if tc.dispatch.Channel == events.ChannelSMSAndWhatsApp && len(msgs) == 2 && msgs[0]["channel"] == msgs[1]["channel"] {
				t.Errorf("both messages went to %v", msgs[0]["channel"])
			}

			var rec bson.M
			if err := w.db.Collection(store.Collection).FindOne(context.Background(), bson.M{"_id": ev.EventID}).Decode(&rec); err != nil {
				t.Fatalf("delivery record: %v", err)
			}
			wantStatus := "sent"
			if tc.wantCodes == nil {
				wantStatus = "expired"
			}
			if rec["status"] != wantStatus {
				t.Errorf("delivery status = %v, want %s", rec["status"], wantStatus)
			}
		})
	}
}

func TestConsumerCommitsHandledEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := dispatch(t, "acc-1", events.OTPDispatch{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: "first@example.com", Code: "111111", ExpiresAt: time.Now().Add(10 * time.Minute)})
	second := dispatch(t, "acc-1", events.OTPDispatch{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: "second@example.com", Code: "222222", ExpiresAt: time.Now().Add(10 * time.Minute)})

	seen1, stop1 := w.consume(t)
	w.publish(t, first)
	if got := w.waitFor(t, "first@example.com", 1); len(got) != 1 {
		t.Fatalf("first message: got %d", len(got))
	}
	stop1() // a SIGTERM: the consumer commits what it handled and returns
	if got := seen1(); !slices.Equal(got, []string{first.EventID}) {
		t.Errorf("first consumer handled %v", got)
	}

	seen2, stop2 := w.consume(t)
	defer stop2()
	w.publish(t, second)
	if got := w.waitFor(t, "second@example.com", 1); len(got) != 1 {
		t.Fatalf("second message: got %d", len(got))
	}
	if got := seen2(); !slices.Equal(got, []string{second.EventID}) {
		t.Errorf("restarted consumer handled %v, want only the new event (the first was committed)", got)
	}
	if got := w.outbox(t, "first@example.com"); len(got) != 1 {
		t.Errorf("first@example.com has %d messages, want 1", len(got))
	}
}
