package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const internalToken = "test-internal-token-0123456789"

// instance is one running session service.
type instance struct {
	public, internal string // base URLs
	done             chan error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the service with env (plus fresh ports) until the test ends, and waits until it is ready.
func start(t *testing.T, env map[string]string) *instance {
	t.Helper()
	inst, err := startInstance(t, env)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// startInstance is start for use off the test goroutine: it reports failure instead of failing the test.
func startInstance(t *testing.T, env map[string]string) (*instance, error) {
	pub, internal := freeAddr(t), freeAddr(t)
	full := map[string]string{"HTTP_ADDR": pub, "INTERNAL_ADDR": internal}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	inst := &instance{public: "http://" + pub, internal: "http://" + internal, done: make(chan error, 1)}
	go func() {
		inst.done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), config.NewLoaderFrom(full))
	}()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if stopped {
			return
		}
		select {
		case err := <-inst.done:
			if err != nil {
				t.Errorf("run returned %v after shutdown, want nil", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not return within 20s of shutdown")
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(inst.internal + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return inst, nil
			}
		}
		select {
		case err := <-inst.done:
			stopped = true
			return nil, fmt.Errorf("service stopped during start-up: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("service not ready within 30s (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func baseEnv(t *testing.T) map[string]string {
	env := testenv.New(t)
	return map[string]string{
		"MONGODB_URI":        env.MongoURI,
		"MONGODB_DATABASE":   env.Database("session").Name(),
		"KAFKA_BROKERS":      strings.Join(env.Brokers, ","),
		"KAFKA_TOPIC_PREFIX": env.TopicPrefix,
		"INTERNAL_API_TOKEN": internalToken,
		"LOG_LEVEL":          "error",
		"SHUTDOWN_TIMEOUT":   "2s",
		// Nothing to drain in a test: stop at once.
		"SHUTDOWN_DRAIN_DELAY": "0s",
		// Required; nothing listens there in this test.
		"IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081",
	}
}

func getJSON(t *testing.T, url string, into any) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

func postJSON(t *testing.T, url, auth string, body any, into any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if into != nil {
		_ = json.NewDecoder(resp.Body).Decode(into)
	}
	return resp.StatusCode
}

type jwks struct {
	Keys []struct {
		Kid string `json:"kid"`
	} `json:"keys"`
}

// TestTwoReplicasShareTheSigningKey starts two services at once on one empty database: they must
// publish the same single key, and a token one issues must be refreshable at the other.
func TestTwoReplicasShareTheSigningKey(t *testing.T) {
	env := baseEnv(t)
	replicas := make([]*instance, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { replicas[i], errs[i] = startInstance(t, env) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}

	var a, b jwks
	getJSON(t, replicas[0].public+"/.well-known/jwks.json", &a)
	getJSON(t, replicas[1].internal+"/.well-known/jwks.json", &b)
	if len(a.Keys) != 1 || len(b.Keys) != 1 || a.Keys[0].Kid != b.Keys[0].Kid {
		t.Fatalf("replicas publish %+v and %+v, want the same single key", a, b)
	}

	// A journey across the replicas: sign in at one, refresh and log out at the other.
	var created struct {
		SessionID, AccessToken, RefreshToken string
	}
	status := postJSON(t, replicas[0].internal+"/internal/v1/sessions", "Bearer "+internalToken,
		map[string]string{"accountId": "acc-1", "deviceName": "curl"}, &created)
	if status != http.StatusCreated {
		t.Fatalf("create session: status %d", status)
	}
	var refreshed struct {
		AccessToken string `json:"access_token"`
	}
	if status := postJSON(t, replicas[1].public+"/api/v1/auth/refresh", "", map[string]string{"refresh_token": created.RefreshToken}, &refreshed); status != http.StatusOK {
		t.Fatalf("refresh at the other replica: status %d", status)
	}
	if status := postJSON(t, replicas[1].public+"/api/v1/auth/logout", "Bearer "+refreshed.AccessToken, nil, nil); status != http.StatusOK {
		t.Fatalf("logout at the other replica: status %d", status)
	}
	// The first replica learns the revocation from Kafka and refuses the session's tokens.
	deadline := time.Now().Add(3 * time.Second)
	for {
		status := postJSON(t, replicas[0].public+"/api/v1/auth/logout", "Bearer "+created.AccessToken, nil, nil)
		if status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 0 still accepts the logged-out session's token (status %d)", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSigningKeyFile(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t)
	env["JWT_SIGNING_KEY_FILE"] = path
	inst := start(t, env)

	var set jwks
	resp := getJSON(t, inst.public+"/.well-known/jwks.json", &set)
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", got)
	}
	want := token.KeyID(priv.Public().(ed25519.PublicKey))
	if len(set.Keys) != 1 || set.Keys[0].Kid != want {
		t.Errorf("JWKS = %+v, want the file's key %s only", set, want)
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	err := run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), config.NewLoaderFrom(map[string]string{
		"ACCESS_TOKEN_TTL": "2h", "KAFKA_CREATE_TOPICS": "maybe",
	}))
	if err == nil {
		t.Fatal("run started without INTERNAL_API_TOKEN and with bad values")
	}
	for _, want := range []string{"INTERNAL_API_TOKEN", "ACCESS_TOKEN_TTL", "KAFKA_CREATE_TOPICS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
