package deploy_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/deploy/render"
	"github.com/latchkey/latchkey/devstack/gateway"
	"github.com/latchkey/latchkey/devstack/routes"
	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/devinfra/hibptest"
	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
	"github.com/latchkey/latchkey/libs/devinfra/mongoserver"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/providerfake"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// The chart-driven run: the chart's own configuration, started. A release named "acme" in the
// namespace "auth" (so no name the chart renders can be assumed), one stack per values file.
const (
	runRelease   = "acme"
	runNamespace = "auth"
	runPassword  = "correct-Horse-42"
)

var (
	runBinOnce sync.Once
	runBinDir  string
	runBinErr  error
)

// serviceBinaries builds the four services once per test binary with the local stack's builder, into
// a folder of this checkout's own.
func serviceBinaries(t *testing.T) string {
	t.Helper()
	runBinOnce.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			runBinErr = err
			return
		}
		sum := sha256.Sum256([]byte(wd))
		runBinDir = filepath.Join(os.TempDir(), fmt.Sprintf("latchkey-chartrun-bin-%x", sum[:6]))
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		runBinErr = stack.Build(ctx, runBinDir, stack.BuildOptions{})
	})
	if runBinErr != nil {
		t.Fatalf("build services: %v", runBinErr)
	}
	return runBinDir
}

// TestChartRun renders the chart with the default and the production values, starts the four real
// binaries with each Deployment's environment exactly as rendered (cluster addresses mapped to
// loopback, MONGODB_URI and KAFKA_BROKERS in the test Secret pointing at the embedded servers), and
// runs a journey through the rendered Ingress's routes. Then it breaks the rendered environment one
// variable at a time and shows each break fails the run.
func TestChartRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the four services")
	}
	for _, vs := range []valueSet{valueSets[0], valueSets[2]} {
		t.Run(vs.name, func(t *testing.T) {
			r := startRelease(t, vs)
			r.journey(t)
			t.Run("broken variants", func(t *testing.T) { r.brokenVariants(t) })
		})
	}
}

// release is a running rendered release.
type release struct {
	cluster *cluster
	table   *routes.Table
	bin     string
	procs   map[string]*proc
	gateway string // base URL of the gateway routing like the rendered Ingress
	codes   *codeReader
	http    *http.Client
	logs    *syncBuffer
	vs      valueSet
	secrets secretStore
	// healthyAccess is an access token issued while every service had its rendered environment.
	healthyAccess string
	mu            sync.Mutex // guards procs
}

func startRelease(t *testing.T, vs valueSet) *release {
	t.Helper()
	bin := serviceBinaries(t)
	objs, err := render.Chart(chartDir, runRelease, runNamespace, vs.files, vs.set)
	if err != nil {
		t.Fatalf("render chart with %s values: %v", vs.name, err)
	}
	table := routeTable(t)

	// The platform the chart expects: MongoDB and Kafka with the topics (the chart leaves topic
	// creation to the platform or its Job).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mongo, err := mongoserver.Start(ctx, mongoserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mongo.Close() })
	prefix := renderedValue(t, objs, "notification", "KAFKA_TOPIC_PREFIX")
	topics := make([]string, len(events.AllTopics))
	for i, topic := range events.AllTopics {
		topics[i] = prefix + topic
	}
	kafka, err := kafkaserver.Start(kafkaserver.Options{Dir: t.TempDir(), Partitions: 3, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kafka.Close)

	secrets := testSecrets(t, objs, mongo.URI(), strings.Join(kafka.Brokers(), ","))
	c := newCluster(t, objs, runNamespace, secrets)
	for _, name := range services {
		if c.pods[name] == nil {
			t.Fatalf("no Deployment for %s", name)
		}
	}
	r := &release{cluster: c, table: table, bin: bin, procs: map[string]*proc{}, http: &http.Client{Timeout: 30 * time.Second},
		logs: &syncBuffer{}, vs: vs, secrets: secrets}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, p := range r.procs {
			wg.Go(p.stop)
		}
		wg.Wait()
		if t.Failed() {
			t.Logf("service output:\n%s", r.logs.String())
		}
	})

	// Codes: with the outbox driver they are in notification's dev_outbox collection; with live
	// delivery at the providers. Production values send for real, so notification's providers are
	// local stand-ins (Twilio, SMTP); the default values are run as rendered.
	notification := c.pods["notification"]
	r.codes = &codeReader{mongoURI: mongo.URI(), db: notification.env["MONGODB_DATABASE"]}
	if vs.name == "production" || notification.env["DELIVERY_DRIVER"] != "outbox" {
		fakes := providerfake.Start(t)
		maps.Copy(notification.env, fakes.Env())
		r.codes.fakes = fakes
	}
	t.Cleanup(r.codes.close)
	// The breached-password API is a third-party service too: a local range server stands in for it.
	if identity := c.pods["identity"]; identity.env["BREACHED_PASSWORDS_ONLINE"] == "true" {
		identity.env["BREACHED_PASSWORDS_API_URL"] = hibptest.New(t).URL
	}

	// All at once, as a rollout starts them; each awaited on its rendered readiness probe.
	var wg sync.WaitGroup
	errs := make([]error, len(services))
	for i, name := range services {
		wg.Go(func() { errs[i] = r.start(name, c.pods[name].env) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	r.gateway = r.startGateway(t, objs)
	return r
}

// renderedValue is a plain variable of a service's rendered ConfigMap.
func renderedValue(t *testing.T, objs []render.Object, service, key string) string {
	t.Helper()
	for _, cm := range render.Of[*corev1.ConfigMap](objs) {
		if cm.Labels["app.kubernetes.io/name"] == service {
			return cm.Data[key]
		}
	}
	t.Fatalf("no ConfigMap of %s", service)
	return ""
}

// testSecrets is the Secret store: the rendered Secrets plus a value for every key the chart
// references that the test knows; a required key it does not know fails the test, naming it.
func testSecrets(t *testing.T, objs []render.Object, mongoURI, brokers string) secretStore {
	t.Helper()
	store := secretStore{}
	for _, s := range render.Of[*corev1.Secret](objs) {
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		maps.Copy(data, s.StringData)
		store[s.Name] = data
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]string{
		"mongodb-uri":          mongoURI,
		"kafka-brokers":        brokers,
		"internal-api-token":   randomHex(t, 32),
		"otp-pepper":           randomHex(t, 32),
		"totp-encryption-keys": "k1:" + base64.StdEncoding.EncodeToString([]byte(randomHex(t, 16))),
		"jwt-signing-key.pem":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		// Provider credentials (production values): the stand-ins' own; notification's provider
		// settings are pointed at the stand-ins in startRelease anyway.
		"twilio-account-sid": providerfake.TwilioAccountSID,
		"twilio-auth-token":  providerfake.TwilioAuthToken,
		"smtp-username":      providerfake.SMTPUsername,
		"smtp-password":      providerfake.SMTPPassword,
	}
	for ref, optional := range secretRefs(objs) {
		name, k := ref[0], ref[1]
		v, ok := known[k]
		if !ok {
			if !optional {
				t.Fatalf("the chart requires key %q of Secret %s, which this test does not know: add it to testSecrets", k, name)
			}
			continue
		}
		if store[name] == nil {
			store[name] = map[string]string{}
		}
		store[name][k] = v
	}
	return store
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startGateway serves the rendered Ingress's routes: every path goes to the Service and port its
// backend names, mapped to loopback, and each path's backend is the route table's service.
func (r *release) startGateway(t *testing.T, objs []render.Object) string {
	t.Helper()
	ingresses := render.Of[*networkingv1.Ingress](objs)
	if len(ingresses) != 1 {
		t.Fatalf("%d Ingresses rendered, want 1", len(ingresses))
	}
	upstreams := map[string]string{}
	for _, rule := range ingresses[0].Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			route, ok := r.table.Match(p.Path, false)
			if !ok {
				t.Fatalf("Ingress path %s is not in the route table", p.Path)
			}
			b := p.Backend.Service
			port := b.Port.Number
			if b.Port.Name != "" {
				port = r.cluster.portNames[[2]string{b.Name, b.Port.Name}]
			}
			addr, ok := r.cluster.dns[net.JoinHostPort(b.Name, fmt.Sprint(port))]
			if !ok {
				t.Fatalf("Ingress path %s: backend %s port %v is no Service port", p.Path, b.Name, b.Port)
			}
			if prev, seen := upstreams[route.Service]; seen && prev != "http://"+addr {
				t.Fatalf("Ingress sends %s's paths to two backends", route.Service)
			}
			upstreams[route.Service] = "http://" + addr
		}
	}
	gw, err := gateway.New(gateway.Options{Table: r.table, Upstreams: upstreams, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// proc is one running service binary.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// launch starts a service binary with exactly env (a container's environment has nothing else).
func (r *release) launch(name string, env map[string]string, logs io.Writer) (*proc, error) {
	cmd := exec.Command(filepath.Join(r.bin, name))
	cmd.Env = []string{}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	w := prefixWriter{prefix: "[" + name + "] ", out: logs}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	if err := stack.StartChild(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// start launches a service and waits for its rendered readiness probe.
func (r *release) start(name string, env map[string]string) error {
	p, err := r.launch(name, env, r.logs)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.procs[name] = p
	r.mu.Unlock()
	pd := r.cluster.pods[name]
	probe := pd.deployment.Spec.Template.Spec.Containers[0].ReadinessProbe
	if probe == nil || probe.HTTPGet == nil {
		return fmt.Errorf("%s: no HTTP readiness probe", name)
	}
	port, ok := containerPort(pd.deployment, probe.HTTPGet.Port)
	if !ok {
		return fmt.Errorf("%s: readiness probe port %s is no containerPort", name, probe.HTTPGet.Port.String())
	}
	url := "http://" + pd.ports[port] + probe.HTTPGet.Path
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", name, p.err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s within 90s", name, url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restart kills a service (no graceful shutdown or drain delay to wait for: the test only needs the
// next process) and starts it again with env.
func (r *release) restart(t *testing.T, name string, env map[string]string) {
	t.Helper()
	r.procs[name].kill()
	if err := r.start(name, env); err != nil {
		t.Fatal(err)
	}
}

// response is an HTTP answer with its JSON body.
type response struct {
	Status int
	Raw    []byte
	Body   map[string]any
}

func (r *release) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.gateway+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := r.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func (res response) want(t *testing.T, status int, what string) response {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: %d %s, want %d", what, res.Status, res.Raw, status)
	}
	return res
}

func bearerHeader(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func field(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// journey: sign-up, sign-in, a phone set through PATCH /api/v1/auth/me (profile -> identity), an API
// key used on a profile path (profile -> identity), logout refused by every service (session -> Kafka
// -> the others' deny-lists).
func (r *release) journey(t *testing.T) {
	email, device := "ada@example.com", "device-ada"
	r.do(t, "POST", "/api/v1/auth/initiate-registration", map[string]any{"email": email}).want(t, 202, "initiate registration")
	code := r.codes.latest(t, email, 0)
	reg := r.do(t, "POST", "/api/v1/auth/verify-registration", map[string]any{
		"email": email, "otp_code": code, "password": runPassword, "username": "ada",
		"first_name": "Ada", "last_name": "Lovelace", "device_id": device, "device_name": "Test laptop", "platform": "WEB",
	}).want(t, 201, "verify registration")
	if field(reg.Body, "access_token") == "" {
		t.Fatalf("verify registration = %s, want tokens", reg.Raw)
	}

	login := r.do(t, "POST", "/api/v1/auth/login", map[string]any{"identifier": email, "password": runPassword, "device_id": device}).want(t, 200, "sign in")
	access := field(login.Body, "access_token")
	if access == "" {
		t.Fatalf("sign in = %s, want an access token", login.Raw)
	}

	r.setPhone(t, access, "4155550123").want(t, 200, "PATCH /api/v1/auth/me phone (profile calls identity)")
	me := r.do(t, "GET", "/api/v1/auth/me", nil, bearerHeader(access)...).want(t, 200, "GET /api/v1/auth/me")
	if !strings.Contains(string(me.Raw), "4155550123") {
		t.Fatalf("GET /api/v1/auth/me = %s, want the phone number set", me.Raw)
	}

	key := r.apiKey(t, access)
	r.do(t, "GET", "/api/v1/me", nil, "X-API-Key", key).want(t, 200, "GET /api/v1/me with an API key (profile verifies it at identity)")
	r.do(t, "GET", "/api/v1/auth/sessions", nil, "X-API-Key", key).want(t, 200, "GET /api/v1/auth/sessions with an API key (session verifies it at identity)")

	// apiDocs.enabled (on by default) reaches the session service as API_DOCS_ENABLED.
	r.do(t, "GET", "/openapi.json", nil).want(t, 200, "GET /openapi.json (apiDocs.enabled)")

	r.do(t, "GET", "/api/v1/me", nil, bearerHeader(access)...).want(t, 200, "profile before logout")
	r.do(t, "GET", "/api/v1/auth/whoami", nil, bearerHeader(access)...).want(t, 200, "identity before logout")
	r.do(t, "POST", "/api/v1/auth/logout", nil, bearerHeader(access)...).want(t, 200, "logout")
	r.do(t, "POST", "/api/v1/auth/logout", nil, bearerHeader(access)...).want(t, 401, "session refuses the logged-out token")
	eventually(t, 20*time.Second, "profile refuses the logged-out token", func() bool {
		return r.do(t, "GET", "/api/v1/me", nil, bearerHeader(access)...).Status == 401
	})
	eventually(t, 20*time.Second, "identity refuses the logged-out token", func() bool {
		return r.do(t, "GET", "/api/v1/auth/whoami", nil, bearerHeader(access)...).Status == 401
	})
}

// signIn returns a fresh access token of the journey's account.
func (r *release) signIn(t *testing.T) response {
	t.Helper()
	return r.do(t, "POST", "/api/v1/auth/login", map[string]any{"identifier": "ada@example.com", "password": runPassword, "device_id": "device-ada"})
}

func (r *release) setPhone(t *testing.T, access, number string) response {
	t.Helper()
	return r.do(t, "PATCH", "/api/v1/auth/me", map[string]any{"phone_number": number, "country_code": "+1"}, bearerHeader(access)...)
}

// apiKey creates a read/write API key after a password step-up.
func (r *release) apiKey(t *testing.T, access string) string {
	t.Helper()
	step := r.do(t, "POST", "/api/v1/auth/reauth", map[string]any{"password": runPassword}, bearerHeader(access)...).want(t, 200, "step-up")
	created := r.do(t, "POST", "/api/v1/auth/api-keys", map[string]any{"name": "ci", "scopes": []string{"read", "write"}},
		append(bearerHeader(access), "X-Reauth-Token", field(step.Body, "reauth_token"))...).want(t, 201, "create API key")
	key := field(created.Body, "key")
	if key == "" {
		t.Fatalf("create API key = %s, want a key", created.Raw)
	}
	return key
}

// peerVar reports whether an environment variable carries another service's URL.
func peerVar(k string) bool { return k == "JWKS_URL" || strings.HasSuffix(k, "_INTERNAL_URL") }

// brokenVariants breaks the rendered environment one variable at a time. A missing peer URL must
// stop the service at start-up with an error naming it; a peer URL pointing at the wrong port must
// make the journey step that needs the call fail. The healthy environment is restored after each.
func (r *release) brokenVariants(t *testing.T) {
	// Every peer variable the chart renders, removed.
	var removed int
	for _, name := range services {
		for _, k := range slices.Sorted(maps.Keys(r.cluster.pods[name].env)) {
			if !peerVar(k) {
				continue
			}
			removed++
			t.Run("without "+name+" "+k, func(t *testing.T) {
				env := maps.Clone(r.cluster.pods[name].env)
				delete(env, k)
				// Other listen ports: a service that did start must not fail on a busy port instead.
				for _, addr := range []string{"HTTP_ADDR", "INTERNAL_ADDR"} {
					env[addr] = freeAddr(t)
				}
				var out syncBuffer
				p, err := r.launch(name, env, &out)
				if err != nil {
					t.Fatal(err)
				}
				select {
				case <-p.done:
				case <-time.After(30 * time.Second):
					p.stop()
					t.Fatalf("%s kept running without %s", name, k)
				}
				if p.err == nil || !strings.Contains(out.String(), k) {
					t.Fatalf("%s without %s: exit %v, output %s; want a start-up error naming %s", name, k, p.err, out.String(), k)
				}
			})
		}
	}
	// Each declared call of the topology is a variable the chart must render.
	if want := countCalls(r.table); removed != want {
		t.Errorf("%d peer variables rendered, want %d (one per call in routes.yaml)", removed, want)
	}

	// The chart as it was: profile's call to identity missing from the topology, so the chart renders
	// no IDENTITY_INTERNAL_URL for profile. Profile refuses to start instead of calling itself.
	t.Run("chart without profile's call to identity", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "latchkey")
		if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "routes.yaml")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		at := strings.Index(text, "\n  profile:\n")
		call := "      - {service: identity, env: IDENTITY_INTERNAL_URL}\n"
		i := strings.Index(text[at:], call)
		if at < 0 || i < 0 {
			t.Fatalf("routes.yaml: profile's call to identity not found")
		}
		text = text[:at+i] + text[at+i+len(call):]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files := make([]string, len(r.vs.files))
		for i, f := range r.vs.files {
			files[i] = filepath.Join(dir, filepath.Base(f))
		}
		objs, err := render.Chart(dir, runRelease, runNamespace, files, r.vs.set)
		if err != nil {
			t.Fatal(err)
		}
		env := newCluster(t, objs, runNamespace, r.secrets).pods["profile"].env
		if _, ok := env["IDENTITY_INTERNAL_URL"]; ok {
			t.Fatal("the chart still renders IDENTITY_INTERNAL_URL for profile")
		}
		var out syncBuffer
		p, err := r.launch("profile", env, &out)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.stop()
			t.Fatal("profile kept running without IDENTITY_INTERNAL_URL")
		}
		if p.err == nil || !strings.Contains(out.String(), "IDENTITY_INTERNAL_URL") {
			t.Fatalf("profile: exit %v, output %s; want a start-up error naming IDENTITY_INTERNAL_URL", p.err, out.String())
		}
	})

	// A wrong port: the cluster would route nowhere (or to the callee's public port).
	wrongPort := func(name, k string, public bool) map[string]string {
		env := maps.Clone(r.cluster.pods[name].env)
		callee := ""
		for _, c := range r.table.Services[name].Calls {
			if c.Env == k {
				callee = c.Service
			}
		}
		target := r.cluster.dead
		if public {
			target = r.cluster.pods[callee].ports[int32(r.table.Services[callee].Port)]
		}
		env[k] = strings.Replace(env[k], r.cluster.pods[callee].ports[int32(r.table.Services[callee].InternalPort)], target, 1)
		if env[k] == r.cluster.pods[name].env[k] {
			t.Fatalf("%s %s = %s: not the callee's internal address", name, k, env[k])
		}
		return env
	}
	phones := 0
	for _, tc := range []struct {
		service, env string
		public       bool // the callee's public port instead of a closed one
		step         func(t *testing.T) bool
	}{
		{"profile", "IDENTITY_INTERNAL_URL", true, func(t *testing.T) bool {
			access := field(r.signIn(t).Body, "access_token")
			phones++ // a new number each time: an unchanged one needs no call
			return r.setPhone(t, access, fmt.Sprintf("41555502%02d", phones)).Status == 200
		}},
		{"profile", "IDENTITY_INTERNAL_URL", false, func(t *testing.T) bool {
			access := field(r.signIn(t).Body, "access_token")
			return r.do(t, "GET", "/api/v1/me", nil, "X-API-Key", r.apiKey(t, access)).Status == 200
		}},
		{"profile", "JWKS_URL", false, func(t *testing.T) bool {
			access := field(r.signIn(t).Body, "access_token")
			return r.do(t, "GET", "/api/v1/me", nil, bearerHeader(access)...).Status == 200
		}},
		{"session", "IDENTITY_INTERNAL_URL", false, func(t *testing.T) bool {
			access := field(r.signIn(t).Body, "access_token")
			return r.do(t, "GET", "/api/v1/auth/sessions", nil, "X-API-Key", r.apiKey(t, access)).Status == 200
		}},
		{"identity", "SESSION_INTERNAL_URL", true, func(t *testing.T) bool { return r.signIn(t).Status == 200 }},
		{"identity", "JWKS_URL", false, func(t *testing.T) bool {
			// Signed in through a healthy identity first: the token comes from the session service.
			return r.do(t, "GET", "/api/v1/auth/whoami", nil, bearerHeader(r.healthyAccess)...).Status == 200
		}},
	} {
		where := "a closed port"
		if tc.public {
			where = "the callee's public port"
		}
		t.Run(tc.service+" "+tc.env+" at "+where, func(t *testing.T) {
			r.healthyAccess = field(r.signIn(t).Body, "access_token")
			if !tc.step(t) {
				t.Fatal("the step fails with the rendered environment")
			}
			r.restart(t, tc.service, wrongPort(tc.service, tc.env, tc.public))
			defer r.restart(t, tc.service, r.cluster.pods[tc.service].env)
			if tc.step(t) {
				t.Fatalf("the step succeeds with %s %s pointing at %s", tc.service, tc.env, where)
			}
		})
	}
}

func countCalls(t *routes.Table) int {
	n := 0
	for _, s := range t.Services {
		n += len(s.Calls)
	}
	return n
}

// codeReader finds the newest one-time code sent to an address: in notification's dev_outbox
// collection (outbox driver) or at the provider stand-ins (live driver).
type codeReader struct {
	mongoURI, db string
	fakes        *providerfake.Fakes
	once         sync.Once
	client       *mongo.Client
}

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

// codes lists the codes sent to `to`, from both places.
func (c *codeReader) codes(t *testing.T, to string) []string {
	t.Helper()
	var out []string
	if c.fakes != nil {
		for _, m := range c.fakes.SMTP.Mails(to) {
			out = append(out, sixDigits.FindString(m.Text))
		}
		for _, m := range c.fakes.Twilio.Messages(to) {
			out = append(out, sixDigits.FindString(m.Body))
		}
	}
	c.once.Do(func() {
		client, err := mongo.Connect(context.Background(), options.Client().ApplyURI(c.mongoURI))
		if err != nil {
			t.Fatal(err)
		}
		c.client = client
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cur, err := c.client.Database(c.db).Collection("dev_outbox").Find(ctx, bson.M{"to": to},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}}))
	if err == nil {
		var docs []struct {
			Code string `bson:"code"`
		}
		if cur.All(ctx, &docs) == nil {
			for _, d := range docs {
				out = append(out, d.Code)
			}
		}
	}
	return out
}

// latest waits for more than `after` codes to `to` and returns the newest.
func (c *codeReader) latest(t *testing.T, to string, after int) string {
	t.Helper()
	var code string
	eventually(t, 30*time.Second, "a one-time code for "+to, func() bool {
		got := c.codes(t, to)
		if len(got) <= after {
			return false
		}
		code = got[len(got)-1]
		return len(code) == 6
	})
	return code
}

func (c *codeReader) close() {
	if c.client != nil {
		_ = c.client.Disconnect(context.Background())
	}
}

// syncBuffer collects the services' output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prefixWriter prefixes each write with the service's name.
type prefixWriter struct {
	prefix string
	out    io.Writer
}

func (w prefixWriter) Write(p []byte) (int, error) {
	if _, err := w.out.Write(append([]byte(w.prefix), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}
