package journey_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

// withSecureKafka gives the stack its own embedded broker with TLS and SCRAM-SHA-512 on (the
// shared test broker speaks plaintext).
func withSecureKafka(t *testing.T) func(*stack.Config) {
	return func(c *stack.Config) {
		c.Brokers, c.DataDir, c.SecureKafka = nil, t.TempDir(), true
	}
}

// TestKafkaSCRAMAndTLS runs the stack against a broker that speaks only TLS and requires
// SCRAM-SHA-512: a sign-up code travels identity → Kafka → notification → dev outbox and signs the
// user up. Then a copy of the notification service with a wrong password shows both failures an
// operator meets: with topic creation on it refuses to start and says why; with topic creation off it
// starts, /readyz fails on its kafka check and the log line names the authentication failure.
func TestKafkaSCRAMAndTLS(t *testing.T) {
	fs := startFullStack(t, withSecureKafka(t))
	env := fs.stack.KafkaEnv()
	if env["KAFKA_TLS_ENABLED"] != "true" || env["KAFKA_SASL_MECHANISM"] != "SCRAM-SHA-512" || env["KAFKA_TLS_CA_FILE"] == "" {
		t.Fatalf("stack Kafka env = %v, want TLS with a CA file and SCRAM-SHA-512", redact(env))
	}
	a := register(t, fs.client, "scram")
	// The profile service builds the profile from account.created, read over SCRAM + TLS as well.
	eventually(t, 30*time.Second, "the profile made from account.created", func() bool {
		return fs.do("GET", "/api/v1/me", nil, bearer(a.access)...).Status == http.StatusOK
	})

	base, err := fs.stack.ServiceEnv(stack.Notification)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, stack.Notification)

	t.Run("wrong password with topic creation: start-up error", func(t *testing.T) {
		p := startCopy(t, bin, base, map[string]string{"KAFKA_SASL_PASSWORD": "not-the-password", "KAFKA_CREATE_TOPICS": "true"})
		// Generous: the service needs a few seconds (MongoDB indexes, one refused Kafka request).
		select {
		case <-p.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("the service still runs after 60s with a wrong Kafka password; output:\n%s", p.out.String())
		}
		var exit *exec.ExitError
		if !errors.As(p.err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("exit = %v, want a non-zero exit; output:\n%s", p.err, p.out.String())
		}
		out := p.out.String()
		for _, want := range []string{"kafka authentication failed", "KAFKA_SASL_", "SASL Authentication Failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not say %q:\n%s", want, tail(out, 20))
			}
		}
		if strings.Contains(out, "not-the-password") {
			t.Error("the password is in the output")
		}
	})

	t.Run("wrong password without topic creation: /readyz fails", func(t *testing.T) {
		p := startCopy(t, bin, base, map[string]string{"KAFKA_SASL_PASSWORD": "not-the-password", "KAFKA_CREATE_TOPICS": "false"})
		var status int
		var body map[string]any
		eventually(t, 60*time.Second, "the copy's /readyz answering", func() bool {
			select {
			case <-p.done:
				t.Fatalf("the service exited (%v); output:\n%s", p.err, p.out.String())
			default:
			}
			resp, err := http.Get("http://" + p.internalAddr + "/readyz")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			status, body = resp.StatusCode, nil
			_ = json.Unmarshal(raw, &body)
			return true
		})
		if status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d %v, want 503", status, body)
		}
		checks, _ := body["checks"].(map[string]any)
		if checks == nil {
			checks = body
		}
		if checks["kafka"] != "unavailable" || checks["mongodb"] == "unavailable" {
			t.Errorf("/readyz body = %v, want kafka unavailable and mongodb fine", body)
		}
		eventually(t, 30*time.Second, "a log line naming the Kafka authentication failure", func() bool {
			out := p.out.String()
			return strings.Contains(out, "readiness check failed") && strings.Contains(out, "kafka authentication failed")
		})
		if strings.Contains(p.out.String(), "not-the-password") {
			t.Error("the password is in the output")
		}
	})
}

// serviceCopy is a service binary started by a test outside the stack.
type serviceCopy struct {
	internalAddr string
	out          *logBuffer
	done         chan struct{}
	err          error
}

// startCopy starts bin with env, changed by set, on free ports; it is killed when the test ends.
func startCopy(t *testing.T, bin string, env []string, set map[string]string) *serviceCopy {
	t.Helper()
	p := &serviceCopy{internalAddr: freeAddr(t), out: &logBuffer{}, done: make(chan struct{})}
	set["HTTP_ADDR"], set["INTERNAL_ADDR"] = freeAddr(t), p.internalAddr
	var vars []string
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); set[k] == "" {
			vars = append(vars, kv)
		}
	}
	for k, v := range set {
		vars = append(vars, k+"="+v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = vars, p.out, p.out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), tail(p.out.String(), 60))
		}
	})
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// redact hides the SASL password of a Kafka env for a failure message.
func redact(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		if k == "KAFKA_SASL_PASSWORD" {
			v = "****"
		}
		out[k] = v
	}
	return out
}
