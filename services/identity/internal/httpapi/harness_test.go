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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/recovery"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const internalToken = config.Secret("internal-token-for-tests-0123456789")

// sessionService is a stand-in for the session service's internal API (POST /internal/v1/sessions),
// implementing the small contract of docs/architecture.md.
type sessionService struct {
	srv  *httptest.Server
	keys *authntest.Keys // signs real access tokens, verified by the app's authn middleware
	mu   sync.Mutex
	reqs []map[string]string
	down bool
	// live maps the session ids handed out and not revoked to their account; revokes records the
	// revoke calls received.
	live    map[string]string
	revokes []revokeCall
}

// revokeCall is one call of POST /internal/v1/accounts/{accountId}/sessions/revoke.
type revokeCall struct {
	AccountID, ExceptSessionID, Reason string
	Revoked                            int
}

// revoke implements the session service's revoke contract: end the account's sessions except
// exceptSessionId, answer {"revoked": n}.
func (s *sessionService) revoke(w http.ResponseWriter, r *http.Request) {
	accountID := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/internal/v1/accounts/"), "/sessions/revoke")
	var body struct {
		ExceptSessionID string `json:"exceptSessionId"`
		SessionID       string `json:"sessionId"` // one session only
		Reason          string `json:"reason"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Reason == "" {
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	n := 0
	for sid, acc := range s.live {
		if acc == accountID && sid != body.ExceptSessionID && (body.SessionID == "" || sid == body.SessionID) {
			delete(s.live, sid)
			n++
		}
	}
	s.revokes = append(s.revokes, revokeCall{AccountID: accountID, ExceptSessionID: body.ExceptSessionID, Reason: body.Reason, Revoked: n})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"revoked": n})
}

// revokeCalls returns the revoke calls received so far.
func (s *sessionService) revokeCalls() []revokeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]revokeCall(nil), s.revokes...)
}

// liveSessions returns the account's session ids that were not revoked.
func (s *sessionService) liveSessions(accountID string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for sid, acc := range s.live {
		if acc == accountID {
			out[sid] = true
		}
	}
	return out
}

func newSessionService(t testing.TB) *sessionService {
	s := &sessionService{keys: authntest.New(t), live: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+internalToken.Value() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/internal/v1/accounts/") && strings.HasSuffix(r.URL.Path, "/sessions/revoke") {
			s.revoke(w, r)
			return
		}
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/internal/v1/accounts/") && strings.HasSuffix(r.URL.Path, "/sessions") {
			s.list(w, r) // admin_test.go
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/internal/v1/sessions" {
			http.NotFound(w, r)
			return
		}
		body, err := sessionRequestBody(r.Body)
		if err != nil || body["accountId"] == "" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		sid := events.NewID()
		s.reqs = append(s.reqs, body)
		s.live[sid] = body["accountId"]
		n := len(s.reqs)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"sessionId": sid, "accessToken": s.keys.Token(t, body["accountId"], sid, nil), "refreshToken": "refresh-" + string(rune('a'+n)),
			"tokenType": "Bearer", "expiresIn": 900,
		})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// sessionRequestBody reads a session request's fields as strings: lists (amr) space-separated,
// numbers (authTime) as written.
func sessionRequestBody(r io.Reader) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, err
	}
	body := map[string]string{}
	for k, v := range raw {
		var s string
		var list []string
		switch {
		case json.Unmarshal(v, &s) == nil:
			body[k] = s
		case json.Unmarshal(v, &list) == nil:
			body[k] = strings.Join(list, " ")
		default:
			body[k] = string(v)
		}
	}
	return body, nil
}

func (s *sessionService) setDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func (s *sessionService) requests() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.reqs...)
}

// harness is the identity public API on a fresh database, with the real stores, outbox and flows.
type harness struct {
	app         *fiber.App
	db          *mongo.Database
	env         *testenv.Env
	sessions    *sessionService
	svc         *auth.Service
	hasher      *password.Hasher
	outbox      *kafkax.Outbox
	internal    *fiber.App
	deny        *authn.DenyList
	internalAPI *fiber.App // the internal-port app (API-key verification and the re-authentication gate)
	passkeys    *passkey.Service
	activity    *activity.Store // the activity log's store (no consumer runs: tests read the outbox or record directly)
}

type setup struct {
	otp    otp.Config
	login  auth.Config
	argon2 password.Params
	db     *mongo.Database // use this database (e.g. on a client the test disconnects)
	oauth  []oauth.ProviderConfig
	// userInfo says where access tokens are proven (a local GitHub API, the OIDC issuer's user-info).
	userInfo oauth.UserInfoConfig
	// usernameLookups limits the public username endpoints per IP (zero: no limit).
	usernameLookups throttle.Limit

	// hashing bounds concurrent argon2id derivations (zero fields: the defaults).
	hashing password.Concurrency
	// captcha, when set, verifies CAPTCHA tokens (login.Registration.CaptchaAfter says when they are asked).
	captcha auth.Captcha
	// recoveryCodes and passkeys, when set, are the second factors beside codes and TOTP.
	recoveryCodes auth.RecoveryCodes
	passkeys      auth.Passkeys
}

// cheap argon2id parameters keep handler tests fast; the password package tests the real ones.
var cheap = password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func defaults() setup {
	return setup{
		otp: otp.DefaultConfig,
		login: auth.Config{
			// The production defaults (see the config package).
			LoginPerIP: throttle.Limit{Max: 100, Window: 24 * time.Hour}, LoginFailuresPerAccount: throttle.Limit{Max: 100, Window: time.Hour},
			LoginBackoff:    throttle.Backoff{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour},
			CodeVerifyPerIP: throttle.Limit{Max: 100, Window: time.Hour}, CodeFailuresPerAccount: throttle.Limit{Max: 10, Window: 15 * time.Minute},
			CodeSendPerIP: throttle.Limit{Max: 100, Window: time.Hour},
			Registration: auth.RegistrationLimits{
				PerIP: throttle.Limit{Max: 50, Window: time.Minute}, PerEmail: throttle.Limit{Max: 10, Window: 24 * time.Hour},
				PerDomain: throttle.Limit{Max: 1000, Window: time.Hour}, Global: throttle.Limit{Max: 10000, Window: time.Hour},
				CaptchaAfter: throttle.Limit{Max: 10, Window: time.Hour},
			},
		},
		argon2: cheap,
	}
}

func newHarness(t testing.TB, mods ...func(*setup)) *harness {
	t.Helper()
	o := defaults()
	for _, m := range mods {
		m(&o)
	}
	env := testenv.New(t)
	db := o.db
	if db == nil {
		db = env.Database("identity")
	}
	ctx := context.Background()
	if err := store.EnsureIndexes(ctx, db); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	t.Cleanup(func() { _ = producer.Close() })
	outbox := kafkax.NewOutbox(db, producer, log)
	if err := outbox.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewBoundedHasher(o.argon2, o.hashing)
	if err != nil {
		t.Fatal(err)
	}
	// A test that fills a limit must not see it refill midway (a slow machine can take seconds), so
	// the limiter's clock stands still for the test (codes and tokens keep real time).
	frozen := time.Now()
	limiter := throttle.New(store.NewCounters(db)).WithClock(func() time.Time { return frozen })
	codes := otp.NewService(o.otp, otp.Pepper("pepper-for-tests-0123456789abcdef"), store.NewChallenges(db), limiter, outbox)
	sessions := newSessionService(t)
	svc := auth.NewService(o.login, auth.Deps{
		Accounts: store.NewAccounts(db), Devices: store.NewDevices(db), Codes: codes, Hasher: hasher, Limiter: limiter,
		Sessions: sessionclient.New(sessions.srv.URL, internalToken, nil), Outbox: outbox, Logger: log,
		Providers: store.NewProviders(db), IDTokens: oauth.NewVerifier(o.oauth, nil), Captcha: o.captcha,
		AccessTokens: oauth.NewUserInfo(o.userInfo, nil),
		StepUps:      store.NewStepUps(db),
		// Authenticator apps with a public test key; recovery codes and passkeys as tests set them.
		Authenticators: totp.New(store.NewAuthenticators(db), testTOTPKeyring(t), ""),
		RecoveryCodes:  o.recoveryCodes,
		Passkeys:       o.passkeys,
	})
	app, err := httpx.NewApp(httpx.Options{Service: "identity", Logger: log, BodyLimit: 64 << 10, TrustedProxies: []string{"0.0.0.0/32"}, LocationHeader: geoHeader})
	if err != nil {
		t.Fatal(err)
	}
	keys := apikey.NewService(apikey.Config{}, store.NewAPIKeys(db), store.NewAccounts(db), outbox, log)
	svc.APIKeys = keys
	keys.SetActivity(svc)
	svc.Deletion = auth.Deletion{Store: store.NewDeletions(db), Grace: time.Hour, UsernameReservation: time.Hour}
	if o.recoveryCodes == nil {
		svc.RecoveryCodes = recovery.New(recovery.KeyFrom("pepper-for-tests-0123456789abcdef"), store.NewRecoveryCodes(db))
	}
	// A key's request budget well above what one test spends (the key-policy test asks every route
	// with one key); the limit itself is tested in libs/platform/authn.
	verifier := authn.NewVerifier(authn.VerifierConfig{JWKSURL: sessions.keys.JWKSURL, Issuer: authntest.Issuer, Audience: authntest.Audience, APIKeys: keys.Verify,
		APIKeyRatePerMinute: 100_000})
	deny := authn.NewDenyList()
	keys.DenyLocally(deny)
	httpapi.Register(app, authn.Middleware(verifier, deny), svc, keys, log)
	activityLog := activity.NewStore(db, 0)
	if err := activityLog.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	httpapi.RegisterActivity(app, authn.Middleware(verifier, deny), activityLog)
	passkeys := newTestPasskeys(t, db, svc)
	registerAdmin(t, app, authn.Middleware(verifier, deny), svc, keys, sessions, db, deny) // admin_test.go
	if o.passkeys != nil {                                                                 // a test's fake answers the sign-in and step-up flows; the routes keep the real one
		svc.Passkeys = o.passkeys
	}
	httpapi.RegisterPasskeys(app, authn.Middleware(verifier, deny), svc, passkeys, log)
	httpapi.RegisterUsernames(app, authn.Middleware(verifier, deny), httpapi.LimitPerIP(limiter, httpapi.ScopeUsernameLookupIP, o.usernameLookups, o.login.AllowIPs),
		username.NewService(username.Config{}, store.NewUsernames(db), svc, log))
	internal, err := httpx.NewInternalApp(httpx.Options{Service: "identity", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.RegisterInternal(internal, httpx.RequireToken(internalToken), keys)
	httpapi.RegisterReauthentication(internal, httpx.RequireToken(internalToken), svc)
	h := &harness{app: app, internal: internal, internalAPI: internal, db: db, env: env, sessions: sessions, svc: svc, hasher: hasher, outbox: outbox, deny: deny, passkeys: passkeys, activity: activityLog}
	harnessOf.Store(app, h) // for helpers that only have the app (see withStepUp)
	registerTestExports(h, authn.Middleware(verifier, deny), limiter)
	return h
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// str returns the string at a dotted path of the body ("user.id"), or "".
func (r response) str(path string) string {
	v, _ := r.at(path).(string)
	return v
}

func (r response) at(path string) any {
	var cur any = r.body
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

type request struct {
	method, path string
	body         string
	ip           string
	userAgent    string
	token        string // access token, sent as a Bearer
}

func (h *harness) do(t testing.TB, r request) response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json")
	if r.ip == "" {
		r.ip = "198.51.100.7"
	}
	req.Header.Set("X-Forwarded-For", r.ip)
	if r.userAgent != "" {
		req.Header.Set("User-Agent", r.userAgent)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := h.app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, []byte(r.body), resp.StatusCode, resp.Header, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", r.method, r.path, raw)
		}
	}
	return out
}

func (h *harness) post(t testing.TB, path string, body any) response {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return h.do(t, request{path: path, body: string(raw)})
}

func jsonBody(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// queued returns the envelopes queued in the outbox for topic, oldest first.
func (h *harness) queued(t testing.TB, topic string) []events.Envelope {
	t.Helper()
	return outboxEvents(t, h.db, topic)
}

// dispatches returns the otp.dispatch payloads queued for destination, oldest first.
func (h *harness) dispatches(t testing.TB, destination string) []events.OTPDispatch {
	t.Helper()
	var out []events.OTPDispatch
	for _, ev := range h.queued(t, events.TopicOTPDispatch) {
		if ev.Type != events.TypeOTPDispatch {
			t.Fatalf("event of type %s on %s", ev.Type, events.TopicOTPDispatch)
		}
		var p events.OTPDispatch
		if err := ev.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Destination == destination {
			out = append(out, p)
		}
	}
	return out
}

// lastCode returns the code of the last dispatch to destination.
func (h *harness) lastCode(t testing.TB, destination string) string {
	t.Helper()
	d := h.dispatches(t, destination)
	if len(d) == 0 || d[len(d)-1].Code == "" {
		t.Fatalf("no code dispatched to %s (dispatches: %+v)", destination, d)
	}
	return d[len(d)-1].Code
}

const goodPassword = "Tr4vel-Lamp-Orbit"

// register runs initiate + verify registration and returns the 201 answer.
func (h *harness) register(t testing.TB, email string, extra map[string]any) response {
	t.Helper()
	if r := h.post(t, "/api/v1/auth/initiate-registration", map[string]any{"email": email}); r.status != http.StatusAccepted {
		t.Fatalf("initiate-registration = %d %s", r.status, r.raw)
	}
	body := map[string]any{"email": email, "otp_code": h.lastCode(t, account.NormalizeEmail(email)), "password": goodPassword}
	for k, v := range extra {
		body[k] = v
	}
	r := h.post(t, "/api/v1/auth/verify-registration", body)
	if r.status != http.StatusCreated {
		t.Fatalf("verify-registration = %d %s", r.status, r.raw)
	}
	return r
}

// mongoClient returns a client of its own on the test's server, for tests that disconnect it.
func mongoClient(t *testing.T, env *testenv.Env) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(context.Background(), options.Client().ApplyURI(env.MongoURI).SetServerSelectionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// accountFor is an active account with a verified e-mail, as if registered elsewhere.
func accountFor(email, username string) account.Account {
	now := time.Now().UTC()
	return account.Account{ID: events.NewID(), Email: email, EmailVerified: true, Username: username,
		Status: account.StatusActive, CreatedAt: now, UpdatedAt: now}
}

// otherCode returns a well-formed code different from code.
func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// outboxEvents reads the envelopes queued in db's outbox for topic, oldest first.
func outboxEvents(t testing.TB, db *mongo.Database, topic string) []events.Envelope {
	t.Helper()
	ctx := context.Background()
	// Documents a silent send stored as discarded (never published) are not events anyone gets.
	cur, err := db.Collection(kafkax.OutboxCollection).Find(ctx, bson.D{{Key: "topic", Value: topic}, {Key: "discarded", Value: bson.D{{Key: "$ne", Value: true}}}},
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Event []byte `bson:"event"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]events.Envelope, len(docs))
	for i, d := range docs {
		if err := json.Unmarshal(d.Event, &out[i]); err != nil {
			t.Fatalf("outbox event is not an envelope: %s", d.Event)
		}
	}
	return out
}

// serve runs the app on a local port until the test ends and returns its base URL.
func (h *harness) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.app.Listener(ln)
	}()
	t.Cleanup(func() {
		_ = h.app.ShutdownWithTimeout(5 * time.Second)
		<-done
	})
	return "http://" + ln.Addr().String()
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// equalJSON compares decoded JSON values.
func equalJSON(a, b any) bool {
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	return bytes.Equal(ra, rb)
}

func statusName(code int) string {
	return strings.ToUpper(strings.ReplaceAll(http.StatusText(code), " ", "_"))
}
