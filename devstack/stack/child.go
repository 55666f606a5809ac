package stack

import "os/exec"

// StartChild starts cmd the way the stack starts its services: in its own process group and, on
// Linux, killed by the kernel when this process dies, so a crashed test leaves no orphan behind.
// Tests that run service binaries without a Stack (deploy's chart-driven run) use it.
func StartChild(cmd *exec.Cmd) error {
	cmd.SysProcAttr = sysProcAttr()
	return spawn(cmd)
}
