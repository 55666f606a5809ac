package deploy_test

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/mod/modfile"
)

// workModules lists the module directories of go.work, e.g. "services/identity".
func workModules(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, u := range wf.Use {
		dirs = append(dirs, path.Clean(u.Path))
	}
	if len(dirs) == 0 {
		t.Fatal("go.work uses no modules")
	}
	return dirs
}

// dockerStages parses docker/Dockerfile with BuildKit's own parser.
func dockerStages(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	// BuildKit's build checks (docker build --check): every warning fails the test.
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		t.Errorf("Dockerfile check %s: %s (line %v)", rule, msg, loc)
	}})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	for _, w := range ast.Warnings {
		t.Errorf("Dockerfile parser warning: %s", w.Short)
	}
	return stages
}

// TestDockerfileCopiesModulesFirst: the build stage copies go.work and every go.work module's go.mod
// and go.sum before any source, so the module download layer survives source changes, and it builds a
// static binary.
func TestDockerfileCopiesModulesFirst(t *testing.T) {
	stages := dockerStages(t)
	i := slices.IndexFunc(stages, func(s instructions.Stage) bool { return s.Name == "build" })
	if i < 0 {
		t.Fatal("no build stage")
	}
	firstSource, download, build := -1, -1, -1
	copied := map[string]int{} // file -> command index
	for n, cmd := range stages[i].Commands {
		switch c := cmd.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				src = path.Clean(src)
				if base := path.Base(src); base == "go.mod" || base == "go.sum" || base == "go.work" || base == "go.work.sum" {
					copied[src] = n
				} else if firstSource < 0 {
					firstSource = n
				}
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.Contains(line, "go mod download") && download < 0 {
				download = n
			}
			if strings.Contains(line, "go build") && build < 0 {
				build = n
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "CGO_ENABLED" && kv.Value != "0" {
					t.Errorf("CGO_ENABLED=%s: the binary would not be static", kv.Value)
				}
			}
		}
	}
	if firstSource < 0 || build < 0 || download < 0 {
		t.Fatalf("build stage: first source COPY %d, go mod download %d, go build %d: want all three", firstSource, download, build)
	}
	want := []string{"go.work", "go.work.sum"}
	for _, dir := range workModules(t) {
		want = append(want, dir+"/go.mod", dir+"/go.sum")
	}
	for _, f := range want {
		n, ok := copied[f]
		switch {
		case !ok:
			t.Errorf("%s is not copied in the build stage", f)
		case n > firstSource || n > download:
			t.Errorf("%s is copied after the sources or the download", f)
		}
	}
	if !(download < firstSource && firstSource < build) {
		t.Errorf("order: download %d, sources %d, build %d; want download, then sources, then build", download, firstSource, build)
	}
}

// TestDockerfileRuntime: the default (last) stage is a nonroot distroless or scratch image that runs
// the binary; a dev stage exists for Tilt's live update.
func TestDockerfileRuntime(t *testing.T) {
	stages := dockerStages(t)
	last := stages[len(stages)-1]
	if !strings.HasPrefix(last.BaseName, "gcr.io/distroless/static") && last.BaseName != "scratch" {
		t.Errorf("runtime stage FROM %s, want distroless static or scratch", last.BaseName)
	}
	var user string
	for _, cmd := range last.Commands {
		if u, ok := cmd.(*instructions.UserCommand); ok {
			user = u.User
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("runtime stage USER %q, want a nonroot user", user)
	}
	if !strings.Contains(last.BaseName, "nonroot") && last.BaseName != "scratch" {
		t.Errorf("runtime base %s is not a nonroot variant", last.BaseName)
	}
	if !slices.ContainsFunc(stages, func(s instructions.Stage) bool { return s.Name == "dev" }) {
		t.Error("no dev stage for Tilt")
	}
}

// TestDockerignoreKeepsWhatTheBuildNeeds: .dockerignore sends the modules and sources the build
// copies and leaves out tests, local data and the git directory.
func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	keep := []string{"go.work", "go.work.sum", "services/identity/cmd/identity/main.go", "libs/platform/config/config.go",
		"charts/latchkey/routes.yaml", "docker/dev-entrypoint.sh", ".tilt-build/identity", "devstack/cmd/gateway/main.go"}
	for _, dir := range workModules(t) {
		keep = append(keep, dir+"/go.mod", dir+"/go.sum")
	}
	for _, p := range keep {
		if ignored, err := pm.MatchesOrParentMatches(p); err != nil || ignored {
			t.Errorf("%s is left out of the build context (err %v)", p, err)
		}
	}
	for _, p := range []string{".git/config", ".data/mongo/x", "services/identity/internal/account/account_test.go", "bin/identity", "deploy/chart_test.go"} {
		if ignored, err := pm.MatchesOrParentMatches(p); err != nil || !ignored {
			t.Errorf("%s is sent to the build context (err %v)", p, err)
		}
	}
}
