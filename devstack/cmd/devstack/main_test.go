package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// fakeBins builds the stack package's fake service under the four service names.
func fakeBins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	first := filepath.Join(dir, "session")
	cmd := exec.Command("go", "build", "-o", first, "../../stack/internal/fakesvc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fake service: %v\n%s", err, out)
	}
	for _, name := range []string{"identity", "profile", "notification"} {
		if err := os.Link(first, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded MongoDB server and Kafka broker")
	}
	bin := fakeBins(t)
	data := filepath.Join(t.TempDir(), ".data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-bin", bin, "-data", data, "-addr", "127.0.0.1:0"}, &stdout, &stderr)
	}()

	deadline := time.After(90 * time.Second)
	for !strings.Contains(stdout.String(), "Press Ctrl-C to stop.") {
		select {
		case err := <-errc:
			t.Fatalf("run returned early: %v\n%s%s", err, stdout.String(), stderr.String())
		case <-deadline:
			t.Fatalf("no banner:\n%s", stdout.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel() // as Ctrl-C does
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	out := stdout.String()
	for _, want := range []string{
		"gateway:     http://127.0.0.1:",
		"/api/v1/dev/outbox",
		"mongodb:     mongodb://",
		"MONGODB_DATABASE=latchkey_identity " + filepath.Join(bin, "identity") + " admin grant --email you@example.com --role admin",
		"[identity] identity listening",
		"[notification] notification shutting down",
		"Stopped.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, sub := range []string{"mongo", "kafka"} {
		if _, err := os.Stat(filepath.Join(data, sub)); err != nil {
			t.Errorf("data directory: %v", err)
		}
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" = no error
	}{
		{name: "help", args: []string{"-h"}},
		{name: "unknown flag", args: []string{"-nope"}, want: "flag provided but not defined"},
		{name: "stray argument", args: []string{"extra"}, want: "unexpected arguments"},
		{name: "no replicas", args: []string{"-replicas", "0"}, want: "-replicas 0: want 1 or more"},
		{name: "no binaries", args: []string{"-bin", t.TempDir(), "-addr", "127.0.0.1:0"}, want: "make build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out, &out)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("run: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("run error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
