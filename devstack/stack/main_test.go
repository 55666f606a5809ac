package stack

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// binDir holds the fake service binaries (internal/fakesvc under the four service names).
var binDir string

// Environment of the helper process TestChildrenDieWithParent starts.
const (
	helperEnv    = "STACK_TEST_HELPER"
	helperBinEnv = "STACK_TEST_BIN"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		runHelper(os.Getenv(helperBinEnv))
		return
	}
	dir, err := os.MkdirTemp("", "stack-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildFakes(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		binDir = dir
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildFakes builds internal/fakesvc once and links it under every service name.
func buildFakes(dir string) error {
	if err := buildPackages(context.Background(), ".", dir, false, "./internal/fakesvc"); err != nil {
		return err
	}
	first := filepath.Join(dir, "fakesvc")
	for _, name := range Services {
		if err := os.Link(first, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("link fake service: %w", err)
		}
	}
	return nil
}

// runHelper starts a stack of fake services, prints the service pids and waits to be killed.
func runHelper(bin string) {
	st, err := Start(context.Background(), Config{
		BinDir:      bin,
		GatewayAddr: "127.0.0.1:0",
		MongoURI:    "mongodb://127.0.0.1:1",
		Brokers:     []string{"127.0.0.1:2"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pids := make([]string, 0, len(Services))
	for _, name := range Services {
		pids = append(pids, strconv.Itoa(st.Pid(name)))
	}
	fmt.Println("PIDS " + strings.Join(pids, " "))
	select {} // until killed
}

// startHelper runs the helper process and returns it and the pids of its services.
func startHelper(t *testing.T) (*exec.Cmd, []int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperBinEnv+"="+binDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "PIDS ") {
				lines <- sc.Text()
				return
			}
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("helper exited without starting its stack")
		}
		var pids []int
		for _, f := range strings.Fields(strings.TrimPrefix(line, "PIDS ")) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 0 {
				t.Fatalf("helper printed %q", line)
			}
			pids = append(pids, pid)
		}
		return cmd, pids
	case <-time.After(60 * time.Second):
		t.Fatal("helper did not start its stack in time")
		return nil, nil
	}
}
