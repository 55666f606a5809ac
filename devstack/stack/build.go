package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildOptions configures Build.
type BuildOptions struct {
	// Race builds the services with the race detector, so journey tests catch data races in them.
	Race bool
	// Root is the repository root (the directory holding go.work); "" finds it above the working
	// directory.
	Root string
}

// Build compiles the four service binaries into outDir (as outDir/identity, ...), ready for
// Config.BinDir. Journey tests call it once from TestMain.
func Build(ctx context.Context, outDir string, opts BuildOptions) error {
	root := opts.Root
	if root == "" {
		found, err := RepoRoot()
		if err != nil {
			return err
		}
		root = found
	}
	pkgs := make([]string, 0, len(Services))
	for _, name := range Services {
		pkgs = append(pkgs, "./services/"+name+"/cmd/"+name)
	}
	return buildPackages(ctx, root, outDir, opts.Race, pkgs...)
}

// RepoRoot finds the repository root, the nearest directory above the working directory that
// holds go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("stack: find repository root: %w", err)
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("stack: no go.work in %s or any parent directory", dir)
		}
		d = parent
	}
}

// buildPackages runs `go build -o outDir/ pkgs...` in dir; each main package becomes
// outDir/<last path element>.
func buildPackages(ctx context.Context, dir, outDir string, race bool, pkgs ...string) error {
	if len(pkgs) == 0 {
		return errors.New("stack: build: no packages")
	}
	out, err := filepath.Abs(outDir)
	if err != nil {
		return fmt.Errorf("stack: build: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("stack: build: %w", err)
	}
	args := []string{"build", "-o", out + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = dir
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stack: go build %v: %w\n%s", pkgs, err, output)
	}
	return nil
}
