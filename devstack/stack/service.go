package stack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// killWait bounds how long a SIGKILLed process may take to be reaped.
const killWait = 5 * time.Second

// service is one service binary of the stack and its current process, if any.
type service struct {
	name         string
	bin          string
	env          []string
	httpAddr     string
	internalAddr string
	stdout       *lineWriter
	stderr       *lineWriter
	tail         *tail
	notice       func(format string, args ...any) // the stack's own log lines

	lifecycle sync.Mutex // serialises start, stop, restart and kill
	mu        sync.Mutex // guards proc
	proc      *process
}

// process is one run of a service binary.
type process struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited and its output is drained
	err      error         // the exit error, valid after done
	stopping atomic.Bool   // the stack asked it to stop: exiting is expected
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// current returns the running process, or nil.
func (s *service) current() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return nil
	}
	return s.proc
}

// start launches the binary; the caller holds s.lifecycle.
func (s *service) start() (*process, error) {
	if p := s.current(); p != nil {
		return nil, fmt.Errorf("%s is already running (pid %d)", s.name, p.cmd.Process.Pid)
	}
	cmd := exec.Command(s.bin)
	cmd.Env = s.env
	cmd.Stdout = s.stdout
	cmd.Stderr = s.stderr
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = killWait // do not hang on output pipes held open by a stray grandchild
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", s.name, s.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		s.stdout.Flush()
		s.stderr.Flush()
		close(p.done)
		if !p.stopping.Load() {
			s.notice("%s (pid %d) exited unexpectedly: %s", s.name, cmd.Process.Pid, exitString(p.err))
		}
	}()
	return p, nil
}

// stop sends SIGTERM to the process group and waits until the process exits or ctx ends (after
// DefaultStopTimeout when ctx has no deadline), then SIGKILLs it. It reports whether the process
// had to be killed. The caller holds s.lifecycle.
func (s *service) stop(ctx context.Context) (killed bool, err error) {
	p := s.current()
	if p == nil {
		return false, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStopTimeout)
		defer cancel()
	}
	p.stopping.Store(true)
	if err := signalGroup(p.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		return false, fmt.Errorf("stop %s: %w", s.name, err)
	}
	select {
	case <-p.done:
		return false, nil
	case <-ctx.Done():
	}
	s.notice("%s (pid %d) did not stop in time; killing it", s.name, p.cmd.Process.Pid)
	return true, s.killProcess(p)
}

// kill SIGKILLs the process group and waits for the exit. The caller holds s.lifecycle.
func (s *service) kill() error {
	p := s.current()
	if p == nil {
		return nil
	}
	p.stopping.Store(true)
	return s.killProcess(p)
}

func (s *service) killProcess(p *process) error {
	if err := signalGroup(p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", s.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("kill %s: pid %d still running %s after SIGKILL", s.name, p.cmd.Process.Pid, killWait)
	}
}

// readyClient polls /readyz; no proxy, no keep-alive (the process may be replaced between polls).
var readyClient = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// waitReady polls GET /readyz on the internal port until it answers 200. It fails early when the
// process exits, and with the tail of the service's log when it does not get ready in time.
func (s *service) waitReady(ctx context.Context, p *process, timeout time.Duration) error {
	url := "http://" + s.internalAddr + "/readyz"
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		status, err := probe(ctx, url)
		switch {
		case err == nil && status == http.StatusOK:
			return nil
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("GET /readyz: %d %s", status, http.StatusText(status))
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %s\n%s", s.name, exitString(p.err), s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w\n%s", s.name, ctx.Err(), s.logTail())
		case <-deadline.C:
			return fmt.Errorf("%s not ready after %s (last probe: %s)\n%s", s.name, timeout, last, s.logTail())
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", url, err)
	}
	resp, err := readyClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *service) logTail() string {
	t := s.tail.String()
	if t == "" {
		return fmt.Sprintf("--- %s wrote no log lines ---", s.name)
	}
	return fmt.Sprintf("--- last lines of the %s log ---\n%s\n--- end of the %s log ---", s.name, t, s.name)
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
