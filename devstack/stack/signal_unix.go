//go:build unix

package stack

import (
	"errors"
	"fmt"
	"syscall"
)

// signalGroup sends sig to the process group of pid (the child is its group's leader).
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", pid, err)
	}
	return nil
}
