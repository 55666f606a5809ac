package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/segmentio/kafka-go"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const internalToken = "test-internal-token-0123456789"

// stack is the session service assembled as main assembles it, on the test's own database and topics:
// real MongoDB-compatible server, real Kafka broker, the outbox relay running.
type stack struct {
	env         *testenv.Env
	public      *fiber.App
	internal    *fiber.App
	internalURL string // the internal app, listening, for fetching the JWKS over HTTP
	deny        *authn.DenyList
	topic       string // prefixed session.events.v1
	apiKeys     *authntest.APIKeys
}

func newStack(t testing.TB, opts session.Options) *stack {
	t.Helper()
	return newStackWith(t, opts, httpapi.Config{}, nil)
}

// newStackWith is newStack with the handlers' configuration and the public app's trusted proxies.
func newStackWith(t testing.TB, opts session.Options, cfg httpapi.Config, trustedProxies []string) *stack {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = authntest.Issuer // as main passes JWT_ISSUER
	}
	ctx, cancel := context.WithCancel(context.Background())
	env := testenv.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := env.Database("session")

	sessions := store.NewSessions(db)
	if err := sessions.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := token.LoadKeyring(ctx, store.NewSigningKeys(db))
	if err != nil {
		t.Fatal(err)
	}
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, 1, events.TopicSessionEvents); err != nil {
		t.Fatal(err)
	}
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	outbox := kafkax.NewOutbox(db, producer, log)
	if err := outbox.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = outbox.Run(ctx) }()

	if opts.AccessTokenTTL == 0 {
		opts.AccessTokenTTL = 15 * time.Minute
	}
	if opts.IdleTTL == 0 {
		opts.IdleTTL = 720 * time.Hour
	}
	if opts.AbsoluteTTL == 0 {
		opts.AbsoluteTTL = 2160 * time.Hour
	}
	opts.Logger = log
	deny := authn.NewDenyList()
	issuer := token.NewIssuer(keys, token.IssuerConfig{Issuer: authntest.Issuer, Audience: "latchkey", TTL: opts.AccessTokenTTL})
	service := session.NewService(sessions, issuer, outbox, deny, opts)
	apiKeys := authntest.NewAPIKeys()
	verifier := authn.NewVerifier(authn.VerifierConfig{Issuer: authntest.Issuer, Audience: "latchkey", Logger: log, Source: keys.Source, APIKeys: apiKeys.Lookup})

	// The ingress's location header, believed from trustedProxies only.
	appOpts := httpx.Options{Service: "session", Logger: log, BodyLimit: 64 << 10, TrustedProxies: trustedProxies, LocationHeader: "X-Client-Geo"}
	public, err := httpx.NewApp(appOpts)
	if err != nil {
		t.Fatal(err)
	}
	internal, err := httpx.NewInternalApp(appOpts)
	if err != nil {
		t.Fatal(err)
	}
	httpapi.Routes(public, internal, httpapi.NewHandler(service, keys.JWKSJSON, log, cfg),
		authn.Middleware(verifier, deny), httpx.RequireToken(config.Secret(internalToken)))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = internal.Listener(ln) }()

	t.Cleanup(func() {
		_ = internal.ShutdownWithTimeout(time.Second)
		cancel()
		<-relayDone
		_ = producer.Close()
	})
	return &stack{
		env: env, public: public, internal: internal, internalURL: "http://" + ln.Addr().String(), deny: deny, apiKeys: apiKeys,
		topic: kafkax.Topic(env.TopicPrefix, events.TopicSessionEvents),
	}
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t testing.TB, app *fiber.App, method, path, auth, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	apispectest.Check(t, req, []byte(body), resp.StatusCode, resp.Header, raw)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
		}
	}
	return r
}

// createdSession is the internal API's answer.
type createdSession struct {
	SessionID    string `json:"sessionId"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

func (s *stack) createSession(t testing.TB, accountID string) createdSession {
	t.Helper()
	return s.createSessionAs(t, accountID, "Firefox on Linux", "web", "Mozilla/5.0")
}

func (s *stack) refresh(t *testing.T, refreshToken string) response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"refresh_token": refreshToken})
	return do(t, s.public, http.MethodPost, "/api/v1/auth/refresh", "", string(body))
}

// waitForEvent reads the session events topic from the beginning with kafka-go until match accepts
// an event or the timeout passes.
func (s *stack) waitForEvent(t *testing.T, timeout time.Duration, match func(events.Envelope) bool) events.Envelope {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.env.Brokers, Topic: s.topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("no matching event on %s within %s: %v", s.topic, timeout, err)
		}
		var ev events.Envelope
		if err := json.Unmarshal(msg.Value, &ev); err != nil {
			t.Fatalf("event %q: %v", msg.Value, err)
		}
		if match(ev) {
			if got := string(msg.Key); got != ev.AccountID {
				t.Errorf("message key = %q, want the account id %q", got, ev.AccountID)
			}
			return ev
		}
	}
}
