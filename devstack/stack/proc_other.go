//go:build unix && !linux

package stack

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts a child in its own process group, so a terminal's Ctrl-C reaches only the
// parent, which then stops the children in order. (Only Linux can also tie a child's life to the
// parent's.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func spawn(cmd *exec.Cmd) error { return cmd.Start() }
