package stack

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// sysProcAttr puts a child in its own process group (a terminal's Ctrl-C reaches only the parent,
// which then stops the children in order) and has the kernel kill it when the parent dies, so a
// crashed test or a killed `make run` leaves no orphans.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Pdeathsig fires when the *thread* that forked the child exits, not the process. The Go runtime
// may end a thread, so every child is started from one goroutine locked to a thread that never
// exits.
var (
	spawnOnce  sync.Once
	spawnQueue chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnQueue = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for req := range spawnQueue {
				req.done <- req.cmd.Start()
			}
		}()
	})
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawnQueue <- req
	return <-req.done
}
