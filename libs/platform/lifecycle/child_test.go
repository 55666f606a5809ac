package lifecycle_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/lifecycle"
)

// childEnv makes the test binary run childMain instead of the tests.
const childEnv = "LIFECYCLE_TEST_CHILD"

// childMain is a service's main built on the runtime, as the four services' mains are: a worker that
// fails when POST /fail is called.
func childMain() {
	lifecycle.Main("child", func(ctx context.Context, log *slog.Logger) error {
		l := config.NewLoader()
		cfg := l.LoadBase("child", "", "")
		if err := l.Err(); err != nil {
			return err
		}
		return lifecycle.Run(ctx, log, cfg, lifecycle.Options{Outbox: true}, func(_ context.Context, rt *lifecycle.Runtime) error {
			fail := make(chan struct{})
			var once sync.Once
			rt.Public.Post("/fail", func(c *fiber.Ctx) error {
				once.Do(func() { close(fail) })
				return c.SendStatus(fiber.StatusAccepted)
			})
			rt.Go("deny-list follower", func(ctx context.Context) error {
				select {
				case <-fail:
					return errors.New("revocations unreadable")
				case <-ctx.Done():
					return nil
				}
			})
			return nil
		})
	})
}

// process is the test binary running childMain.
type process struct {
	cmd          *exec.Cmd
	out          *syncBuffer
	exited       chan struct{}
	err          error
	public, intl string
}

func startChild(t *testing.T) *process {
	t.Helper()
	v := vars(t, testenv.New(t), nil)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	for k, val := range v {
		cmd.Env = append(cmd.Env, k+"="+val)
	}
	p := &process{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{}), public: "http://" + v["HTTP_ADDR"], intl: "http://" + v["INTERNAL_ADDR"]}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	eventually(t, 60*time.Second, "the child service answers /readyz", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("the child exited during start-up: %v\n%s", p.err, p.out.String())
		default:
		}
		status, _ := get(p.intl + "/readyz")
		return status == http.StatusOK
	})
	return p
}

func (p *process) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the child did not exit within 60s\n%s", p.out.String())
	}
}

// logged reports whether the child wrote a JSON log line with msg and every given fragment.
func (p *process) logged(msg string, fragments ...string) bool {
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `"msg":"`+msg+`"`) {
			continue
		}
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(line, f)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestBinaryExitsWhenAWorkerDies: the process exits non-zero after a graceful shutdown when a worker
// fails, so that Kubernetes restarts it.
func TestBinaryExitsWhenAWorkerDies(t *testing.T) {
	t.Parallel()
	p := startChild(t)
	resp, err := http.Post(p.public+"/fail", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p.wait(t)
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1\n%s", p.err, p.out.String())
	}
	for _, want := range []struct{ msg, fragment string }{
		{"background worker failed; shutting down", `"worker":"deny-list follower"`},
		{"stopping background workers", ""},
		{"child service failed", "revocations unreadable"},
	} {
		if !p.logged(want.msg, want.fragment) {
			t.Errorf("no log line %q with %s\n%s", want.msg, want.fragment, p.out.String())
		}
	}
	if p.logged("stopped") {
		t.Errorf("a failed service logged \"stopped\"\n%s", p.out.String())
	}
}

// TestBinaryStopsOnSIGTERM: SIGTERM is a clean stop with exit status 0, and the lines the local stack
// and operators look for are logged (the configuration masked).
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	p := startChild(t)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	if p.err != nil {
		t.Fatalf("exit = %v, want status 0\n%s", p.err, p.out.String())
	}
	for _, want := range []struct{ msg, fragment string }{
		{"starting", `"internal_api_token":"***`},
		{"listening", `"server":"public"`},
		{"listening", `"server":"internal"`},
		{"stopped", ""},
	} {
		if !p.logged(want.msg, want.fragment) {
			t.Errorf("no log line %q with %s\n%s", want.msg, want.fragment, p.out.String())
		}
	}
	if strings.Contains(p.out.String(), "internal-token-0123456789") {
		t.Errorf("the internal token was logged\n%s", p.out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
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
