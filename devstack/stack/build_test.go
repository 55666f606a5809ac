package stack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go.work", filepath.Join("charts", "latchkey", "routes.yaml")} {
		if _, err := os.Stat(filepath.Join(root, want)); err != nil {
			t.Errorf("root %s lacks %s: %v", root, want, err)
		}
	}
}

func TestBuildPackages(t *testing.T) {
	tests := []struct {
		name string
		pkgs []string
		want string // "" = success
	}{
		{name: "main package", pkgs: []string{"./internal/fakesvc"}},
		{name: "no packages", want: "no packages"},
		{name: "missing package", pkgs: []string{"./internal/nope"}, want: "./internal/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			err := buildPackages(context.Background(), ".", out, false, tt.pkgs...)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(out, "fakesvc")); err != nil || fi.Mode().Perm()&0o111 == 0 {
				t.Fatalf("binary missing or not executable: %v", err)
			}
		})
	}
}
