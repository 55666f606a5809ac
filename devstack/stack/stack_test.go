package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/routes"
)

// reply mirrors internal/fakesvc's answer.
type reply struct {
	Service string            `json:"service"`
	Pid     int               `json:"pid"`
	Path    string            `json:"path"`
	Header  http.Header       `json:"header"`
	Env     map[string]string `json:"env"`
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeConfig is a stack of fake services; the database and broker addresses are never dialled.
func fakeConfig(stdout, stderr io.Writer) Config {
	return Config{
		BinDir:       binDir,
		GatewayAddr:  "127.0.0.1:0",
		MongoURI:     "mongodb://127.0.0.1:1/?directConnection=true",
		Brokers:      []string{"127.0.0.1:2", "127.0.0.1:3"},
		DBPrefix:     "t1_",
		TopicPrefix:  "t1.",
		Stdout:       stdout,
		Stderr:       stderr,
		ReadyTimeout: 30 * time.Second,
	}
}

func startStack(t *testing.T, cfg Config) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return st
}

func fetch(t *testing.T, url string, header http.Header) (int, reply) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("GET %s: decode %q: %v", url, body, err)
		}
	}
	return resp.StatusCode, r
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no /proc: trust kill(0)
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// waitGone waits until none of pids is alive.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still alive", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// children lists the pids of this process's child processes named like a service (Linux only).
func children(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := string(stat[open+1 : closing])
		fields := strings.Fields(string(stat[closing+1:]))
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == os.Getpid() {
			for _, name := range Services {
				if comm == name {
					pids = append(pids, pid)
				}
			}
		}
	}
	return pids
}

func TestServiceEnvironment(t *testing.T) {
	cfg := fakeConfig(nil, nil)
	cfg.DevOutbox = true
	cfg.LogLevel = "debug"
	cfg.ExtraEnv = map[string]map[string]string{
		AllServices: {"JWT_ISSUER": "test-issuer", "SHARED": "all"},
		Identity:    {"JWT_ISSUER": "identity-issuer", "ONLY_IDENTITY": "yes"},
	}
	t.Setenv("DEV_OUTBOX_ENABLED", "true") // left in a developer's shell: must reach notification only
	t.Setenv("SESSION_INTERNAL_URL", "http://elsewhere")
	t.Setenv("IDENTITY_INTERNAL_URL", "http://elsewhere")
	t.Setenv("BREACHED_PASSWORDS_API_URL", "http://elsewhere") // identity gets the stack's own, nobody else any
	st := startStack(t, cfg)

	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(st.InternalToken()) {
		t.Fatalf("InternalToken() = %q, want 64 hex digits", st.InternalToken())
	}
	sessionInternal := st.InternalURL(Session)
	tests := []struct {
		service string
		want    map[string]string // "" = must be unset
	}{
		// Each service gets the URLs of the services it calls (routes.yaml), no others.
		{service: Identity, want: map[string]string{
			"SESSION_INTERNAL_URL": sessionInternal, "PROFILE_INTERNAL_URL": st.InternalURL(Profile), "DEV_OUTBOX_ENABLED": "",
			"JWKS_URL": sessionInternal + "/.well-known/jwks.json", "IDENTITY_INTERNAL_URL": "",
			"JWT_ISSUER": "identity-issuer", "ONLY_IDENTITY": "yes",
			// The local Pwned Passwords range server, never the internet.
			"BREACHED_PASSWORDS_ONLINE": "true", "BREACHED_PASSWORDS_API_URL": st.BreachedPasswordsURL(),
			"WEBAUTHN_RP_ID": "localhost", "WEBAUTHN_RP_ORIGINS": st.WebAuthnOrigin(),
			"NOT_ME_URL": st.WebAuthnOrigin() + "/account/not-me",
		}},
		{service: Session, want: map[string]string{"BREACHED_PASSWORDS_API_URL": "", "IDENTITY_INTERNAL_URL": st.InternalURL(Identity), "JWKS_URL": "", "PROFILE_INTERNAL_URL": "", "SESSION_INTERNAL_URL": "", "OTP_PEPPER": "", "DEV_OUTBOX_ENABLED": "", "JWT_ISSUER": "test-issuer", "ONLY_IDENTITY": "", "API_DOCS_ENABLED": "true", "WEBAUTHN_RP_ID": ""}},
		{service: Profile, want: map[string]string{"IDENTITY_INTERNAL_URL": st.InternalURL(Identity), "JWKS_URL": sessionInternal + "/.well-known/jwks.json",
			"PROFILE_INTERNAL_URL": "", "SESSION_INTERNAL_URL": "", "OTP_PEPPER": "", "DEV_OUTBOX_ENABLED": "", "DEVELOPMENT_MODE": "", "API_DOCS_ENABLED": ""}},
		{service: Notification, want: map[string]string{"IDENTITY_INTERNAL_URL": "", "JWKS_URL": "", "PROFILE_INTERNAL_URL": "", "SESSION_INTERNAL_URL": "", "OTP_PEPPER": "", "DEV_OUTBOX_ENABLED": "true", "DELIVERY_DRIVER": "outbox", "DEVELOPMENT_MODE": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			status, r := fetch(t, st.ServiceURL(tt.service)+"/anything", nil)
			if status != http.StatusOK || r.Service != tt.service {
				t.Fatalf("GET %s: status %d, service %q", st.ServiceURL(tt.service), status, r.Service)
			}
			if r.Pid != st.Pid(tt.service) {
				t.Errorf("pid %d, Pid() = %d", r.Pid, st.Pid(tt.service))
			}
			want := map[string]string{
				"HTTP_ADDR":          strings.TrimPrefix(st.ServiceURL(tt.service), "http://"),
				"INTERNAL_ADDR":      strings.TrimPrefix(st.InternalURL(tt.service), "http://"),
				"MONGODB_URI":        "mongodb://127.0.0.1:1/?directConnection=true",
				"MONGODB_DATABASE":   "t1_latchkey_" + tt.service,
				"KAFKA_BROKERS":      "127.0.0.1:2,127.0.0.1:3",
				"KAFKA_TOPIC_PREFIX": "t1.",
				"INTERNAL_API_TOKEN": st.InternalToken(),
				"LOG_LEVEL":          "debug",
				// No load balancer to drain locally.
				"SHUTDOWN_DRAIN_DELAY": "0s",
				"SHARED":               "all",
				"PATH":                 os.Getenv("PATH"),
			}
			for k, v := range tt.want {
				want[k] = v
			}
			if tt.service == Identity && !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(r.Env["OTP_PEPPER"]) {
				t.Errorf("OTP_PEPPER=%q, want 64 hex digits", r.Env["OTP_PEPPER"])
			}
			if keys, isIdentity := r.Env["TOTP_ENCRYPTION_KEYS"], tt.service == Identity; isIdentity != regexp.MustCompile(`^local:[A-Za-z0-9+/]{43}=$`).MatchString(keys) {
				t.Errorf("%s: TOTP_ENCRYPTION_KEYS=%q, want a generated key for identity only", tt.service, keys)
			}
			for k, v := range want {
				got, ok := r.Env[k]
				if v == "" && ok {
					t.Errorf("%s=%q, want it unset", k, got)
				} else if v != "" && got != v {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
			if got := st.Database(tt.service); got != "t1_latchkey_"+tt.service {
				t.Errorf("Database() = %q", got)
			}
		})
	}
	if got := st.Topic("otp.dispatch.v1"); got != "t1.otp.dispatch.v1" {
		t.Errorf("Topic() = %q", got)
	}
	if got := st.Brokers(); strings.Join(got, ",") != "127.0.0.1:2,127.0.0.1:3" || st.MongoURI() != cfg.MongoURI {
		t.Errorf("Brokers() = %v, MongoURI() = %q", got, st.MongoURI())
	}
	if st.DataDir() != "" {
		t.Errorf("DataDir() = %q, want none (no embedded servers)", st.DataDir())
	}
}

func TestGateway(t *testing.T) {
	withDev := fakeConfig(nil, nil)
	withDev.DevOutbox = true
	devStack := startStack(t, withDev)
	plainStack := startStack(t, fakeConfig(nil, nil))
	tests := []struct {
		name       string
		st         *Stack
		path       string
		wantStatus int
		want       string
	}{
		{name: "profile", st: devStack, path: "/api/v1/me", wantStatus: 200, want: Profile},
		{name: "identity", st: devStack, path: "/api/v1/me/password", wantStatus: 200, want: Identity},
		{name: "session", st: devStack, path: "/api/v1/auth/sessions/revoke", wantStatus: 200, want: Session},
		{name: "jwks", st: devStack, path: "/.well-known/jwks.json", wantStatus: 200, want: Session},
		{name: "outbox with DevOutbox", st: devStack, path: "/api/v1/dev/outbox", wantStatus: 200, want: Notification},
		{name: "outbox without DevOutbox", st: plainStack, path: "/api/v1/dev/outbox", wantStatus: 404},
		{name: "unrouted", st: devStack, path: "/api/v1/meh", wantStatus: 404},
		{name: "internal not routed", st: devStack, path: "/readyz", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, r := fetch(t, tt.st.GatewayURL()+tt.path, nil)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d", status, tt.wantStatus)
			}
			if tt.want != "" {
				if r.Service != tt.want || r.Path != tt.path {
					t.Fatalf("served by %s at %s, want %s at %s", r.Service, r.Path, tt.want, tt.path)
				}
				if r.Header.Get("X-Request-Id") == "" || r.Header.Get("X-Forwarded-For") != "127.0.0.1" {
					t.Fatalf("forwarded headers missing: %v", r.Header)
				}
			}
		})
	}
}

func TestTrustForwardedFor(t *testing.T) {
	tests := []struct {
		trust bool
		want  string
	}{
		{trust: false, want: "127.0.0.1"},
		{trust: true, want: "198.51.100.4, 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatBool(tt.trust), func(t *testing.T) {
			cfg := fakeConfig(nil, nil)
			cfg.TrustForwardedFor = tt.trust
			st := startStack(t, cfg)
			_, r := fetch(t, st.GatewayURL()+"/api/v1/me", http.Header{"X-Forwarded-For": {"198.51.100.4"}})
			if got := r.Header.Get("X-Forwarded-For"); got != tt.want {
				t.Fatalf("X-Forwarded-For = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	var stdout, stderr syncBuffer
	st := startStack(t, fakeConfig(&stdout, &stderr))
	fetch(t, st.GatewayURL()+"/api/v1/auth/login", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		stream *syncBuffer
		line   string
	}{
		{name: "stdout", stream: &stdout, line: "[identity] identity listening http=127.0.0.1:"},
		{name: "stderr", stream: &stderr, line: "[session] session started (stderr)"},
		{name: "shutdown", stream: &stdout, line: "[profile] profile shutting down"},
		{name: "last line without newline", stream: &stdout, line: "[notification] bye"},
		{name: "gateway access log", stream: &stdout, line: "[gateway] time="},
		{name: "gateway access log fields", stream: &stdout, line: "path=/api/v1/auth/login service=identity status=200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.stream.String(), tt.line) {
				t.Fatalf("output lacks %q:\n%s", tt.line, tt.stream.String())
			}
		})
	}
	if strings.Contains(stderr.String(), "exited unexpectedly") {
		t.Errorf("a stopped service was reported as crashed:\n%s", stderr.String())
	}
}

func TestServiceLifecycle(t *testing.T) {
	var stderr syncBuffer
	st := startStack(t, fakeConfig(nil, &stderr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tests := []struct {
		name       string
		action     func() error
		service    string
		wantUp     bool
		newPid     bool
		viaGateway string // a path routed to service
	}{
		{name: "restart", action: func() error { return st.Restart(ctx, Identity) }, service: Identity, wantUp: true, newPid: true, viaGateway: "/api/v1/auth/login"},
		{name: "kill", action: func() error { return st.Kill(Profile) }, service: Profile, wantUp: false, viaGateway: "/api/v1/me"},
		{name: "start after kill", action: func() error { return st.StartService(ctx, Profile) }, service: Profile, wantUp: true, newPid: true, viaGateway: "/api/v1/me"},
		{name: "stop", action: func() error { return st.StopService(ctx, Session) }, service: Session, wantUp: false, viaGateway: "/api/v1/auth/refresh"},
		{name: "stop again", action: func() error { return st.StopService(ctx, Session) }, service: Session, wantUp: false, viaGateway: "/api/v1/auth/refresh"},
		{name: "restart stopped", action: func() error { return st.Restart(ctx, Session) }, service: Session, wantUp: true, newPid: true, viaGateway: "/api/v1/auth/refresh"},
		{name: "kill twice", action: func() error { _ = st.Kill(Notification); return st.Kill(Notification) }, service: Notification, wantUp: false},
		{name: "restart killed", action: func() error { return st.Restart(ctx, Notification) }, service: Notification, wantUp: true, newPid: true},
	}
	lastPid := map[string]int{}
	for _, name := range Services {
		lastPid[name] = st.Pid(name)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastPid[tt.service]
			if err := tt.action(); err != nil {
				t.Fatal(err)
			}
			if got := st.Running(tt.service); got != tt.wantUp {
				t.Fatalf("Running(%s) = %v, want %v", tt.service, got, tt.wantUp)
			}
			pid := st.Pid(tt.service)
			if tt.wantUp {
				if tt.newPid && (pid == before || pid == 0) {
					t.Fatalf("pid %d after, %d before: want a new process", pid, before)
				}
				lastPid[tt.service] = pid
			} else if pid != 0 {
				t.Fatalf("Pid() = %d for a stopped service", pid)
			}
			if before != 0 && before != pid {
				waitGone(t, before)
			}
			if tt.viaGateway != "" {
				status, r := fetch(t, st.GatewayURL()+tt.viaGateway, nil)
				switch {
				case tt.wantUp && (status != http.StatusOK || r.Pid != pid):
					t.Fatalf("gateway: status %d pid %d, want 200 from pid %d", status, r.Pid, pid)
				case !tt.wantUp && status != http.StatusServiceUnavailable:
					t.Fatalf("gateway: status %d, want 503 while %s is down", status, tt.service)
				}
			}
		})
	}

	t.Run("start running service", func(t *testing.T) {
		if err := st.StartService(ctx, Identity); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Fatalf("StartService on a running service: %v", err)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		for _, err := range []error{st.Restart(ctx, "nope"), st.Kill("nope"), st.StopService(ctx, "nope"), st.StartService(ctx, "nope")} {
			if err == nil || !strings.Contains(err.Error(), `unknown service "nope"`) {
				t.Fatalf("error = %v", err)
			}
		}
		if st.ServiceURL("nope") != "" || st.InternalURL("nope") != "" || st.Running("nope") || st.Pid("nope") != 0 {
			t.Fatal("accessors answer for an unknown service")
		}
	})
	t.Run("embedded servers not running", func(t *testing.T) {
		for _, err := range []error{st.StopKafka(), st.StartKafka(), st.StopMongo(), st.StartMongo(ctx)} {
			if err == nil || !strings.Contains(err.Error(), "not embedded") {
				t.Fatalf("error = %v", err)
			}
		}
	})
	if strings.Contains(stderr.String(), "exited unexpectedly") {
		t.Errorf("a deliberately stopped service was reported as crashed:\n%s", stderr.String())
	}
}

func TestCrashIsReported(t *testing.T) {
	var stderr syncBuffer
	st := startStack(t, fakeConfig(nil, &stderr))
	pid := st.Pid(Profile)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	want := "[stack] profile (pid " + strconv.Itoa(pid) + ") exited unexpectedly: signal: killed"
	for !strings.Contains(stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Running(Profile) {
		t.Fatal("Running() after a crash")
	}
}

func TestStop(t *testing.T) {
	st := startStack(t, fakeConfig(nil, nil))
	var pids []int
	for _, name := range Services {
		pids = append(pids, st.Pid(name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pids...)
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(st.GatewayURL(), "http://"), time.Second); err == nil {
		_ = conn.Close()
		t.Fatal("gateway still accepts connections after Stop")
	}
	if err := st.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStopKillsStubbornService(t *testing.T) {
	cfg := fakeConfig(nil, nil)
	cfg.ExtraEnv = map[string]map[string]string{Session: {"FAKE_IGNORE_SIGTERM": "1"}}
	st, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid := st.Pid(Session)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = st.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "session did not stop after SIGTERM and was killed") {
		t.Fatalf("Stop error = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Stop took %s", took)
	}
	waitGone(t, pid)
}

func TestStartFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	emptyDir := t.TempDir()

	tests := []struct {
		name   string
		mutate func(*Config)
		ctx    func() (context.Context, context.CancelFunc)
		want   []string
	}{
		{name: "no bin dir", mutate: func(c *Config) { c.BinDir = "" }, want: []string{"BinDir is required"}},
		{name: "binaries missing", mutate: func(c *Config) { c.BinDir = emptyDir }, want: []string{"run `make build`", filepath.Join(emptyDir, "identity")}},
		{name: "secure Kafka with external brokers", mutate: func(c *Config) { c.SecureKafka = true }, want: []string{"SecureKafka", "Brokers must be empty"}},
		{name: "unknown ExtraEnv service", mutate: func(c *Config) { c.ExtraEnv = map[string]map[string]string{"idenity": {}} }, want: []string{`unknown service "idenity"`}},
		{name: "bad routes file", mutate: func(c *Config) { c.RoutesFile = filepath.Join(emptyDir, "routes.yaml") }, want: []string{"read table"}},
		{name: "gateway address taken", mutate: func(c *Config) { c.GatewayAddr = busy.Addr().String() }, want: []string{"gateway", "address already in use"}},
		{
			name:   "service exits",
			mutate: func(c *Config) { c.ExtraEnv = map[string]map[string]string{Profile: {"FAKE_EXIT_CODE": "3"}} },
			want:   []string{"profile exited before it was ready: exit status 3", "last lines of the profile log", "profile: configuration invalid: FAKE_EXIT_CODE=3"},
		},
		{
			name: "service never ready",
			mutate: func(c *Config) {
				c.ReadyTimeout = 700 * time.Millisecond
				c.ExtraEnv = map[string]map[string]string{Notification: {"FAKE_READY_AFTER": "1h"}}
			},
			want: []string{"notification not ready after 700ms", "last probe: GET /readyz: 503", "notification listening"},
		},
		{
			name:   "start-up cancelled",
			mutate: func(c *Config) { c.ExtraEnv = map[string]map[string]string{Session: {"FAKE_READY_AFTER": "1h"}} },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 500*time.Millisecond)
			},
			want: []string{"session not ready: context deadline exceeded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fakeConfig(nil, nil)
			tt.mutate(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			st, err := Start(ctx, cfg)
			if err == nil {
				_ = st.Stop(context.Background())
				t.Fatal("Start succeeded")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if left := children(t); len(left) > 0 {
				t.Fatalf("service processes left behind: %v", left)
			}
		})
	}
}

func TestChildrenDieWithParent(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("needs Linux (Pdeathsig)")
	}
	helper, pids := startHelper(t)
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("service pid %d not running", pid)
		}
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitGone(t, pids...)
}

func TestPlanPorts(t *testing.T) {
	t.Run("free", func(t *testing.T) {
		ports, err := planPorts(nil, true)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, name := range Services {
			for _, p := range []int{ports[name].HTTP, ports[name].Internal} {
				if p <= 0 || seen[p] {
					t.Fatalf("port %d of %s is zero or handed out twice: %v", p, name, ports)
				}
				seen[p] = true
			}
		}
	})
	t.Run("defaults", func(t *testing.T) {
		ports, err := planPorts(defaultPorts(t), false)
		if err != nil {
			t.Skipf("default ports busy on this machine: %v", err)
		}
		for _, name := range Services {
			if ports[name] != defaultPorts(t)[name] {
				t.Fatalf("%s: %v, want %v", name, ports[name], defaultPorts(t)[name])
			}
		}
	})
	t.Run("default port busy", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:9083")
		if err != nil {
			t.Skipf("port 9083 not available to the test: %v", err)
		}
		defer ln.Close()
		_, err = planPorts(defaultPorts(t), false)
		if err == nil || !strings.Contains(err.Error(), "9083 (profile)") {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestOTPPepper(t *testing.T) {
	pepperOf := func(t *testing.T, st *Stack) string {
		t.Helper()
		_, r := fetch(t, st.ServiceURL(Identity)+"/", nil)
		if len(r.Env["OTP_PEPPER"]) < 32 {
			t.Fatalf("OTP_PEPPER=%q", r.Env["OTP_PEPPER"])
		}
		return r.Env["OTP_PEPPER"]
	}
	stopNow := func(t *testing.T, st *Stack) {
		t.Helper()
		if err := st.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("kept across a restart of identity", func(t *testing.T) {
		st := startStack(t, fakeConfig(nil, nil))
		before := pepperOf(t, st)
		if err := st.Restart(context.Background(), Identity); err != nil {
			t.Fatal(err)
		}
		if after := pepperOf(t, st); after != before {
			t.Fatalf("pepper changed across Restart: %q -> %q", before, after)
		}
	})
	t.Run("new per stack without a data dir", func(t *testing.T) {
		a := startStack(t, fakeConfig(nil, nil))
		b := startStack(t, fakeConfig(nil, nil))
		if pepperOf(t, a) == pepperOf(t, b) {
			t.Fatal("two stacks share a pepper")
		}
	})
	t.Run("persisted in the data dir", func(t *testing.T) {
		cfg := fakeConfig(nil, nil)
		cfg.DataDir = t.TempDir()
		first := startStack(t, cfg)
		p1 := pepperOf(t, first)
		stopNow(t, first)
		fi, err := os.Stat(filepath.Join(cfg.DataDir, "otp_pepper"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("pepper file: %v, %v", fi, err)
		}
		second := startStack(t, cfg)
		if p2 := pepperOf(t, second); p2 != p1 {
			t.Fatalf("pepper not kept across stacks on one data dir: %q -> %q", p1, p2)
		}
	})
}

func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]map[string]string
		size  int
		want  int
	}{
		{name: "default limit", size: DefaultBodyLimit, want: http.StatusOK},
		{name: "over default limit", size: DefaultBodyLimit + 1, want: http.StatusRequestEntityTooLarge},
		{name: "raised for one service", extra: map[string]map[string]string{Identity: {"BODY_LIMIT_BYTES": "100000"}}, size: DefaultBodyLimit + 1, want: http.StatusOK},
		{name: "raised for all", extra: map[string]map[string]string{AllServices: {"BODY_LIMIT_BYTES": "100000"}}, size: 100001, want: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fakeConfig(nil, nil)
			cfg.ExtraEnv = tt.extra
			st := startStack(t, cfg)
			resp, err := http.Post(st.GatewayURL()+"/api/v1/auth/login", "application/json", strings.NewReader(strings.Repeat("x", tt.size)))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestServiceIssuerIsTheGateway: every service's JWT_ISSUER is the gateway's URL, where clients reach
// the stack and find its discovery document, unless ExtraEnv says otherwise.
func TestServiceIssuerIsTheGateway(t *testing.T) {
	st := startStack(t, fakeConfig(nil, nil))
	if !strings.HasPrefix(st.GatewayURL(), "http://127.0.0.1:") {
		t.Fatalf("GatewayURL() = %q, want a loopback URL", st.GatewayURL())
	}
	for _, name := range Services {
		_, r := fetch(t, st.ServiceURL(name)+"/anything", nil)
		if got := r.Env["JWT_ISSUER"]; got != st.GatewayURL() {
			t.Errorf("%s: JWT_ISSUER=%q, want the gateway %q", name, got, st.GatewayURL())
		}
	}
}

// defaultPorts are the ports of charts/latchkey/routes.yaml.
func defaultPorts(t *testing.T) map[string]Ports {
	t.Helper()
	path, err := routes.Find()
	if err != nil {
		t.Fatal(err)
	}
	table, err := routes.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ports := DefaultPorts(table)
	if got, want := ports[Profile], (Ports{HTTP: 8083, Internal: 9083}); got != want {
		t.Fatalf("profile's ports in routes.yaml = %v, want %v (docs/architecture.md)", got, want)
	}
	return ports
}
