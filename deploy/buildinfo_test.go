package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The image build and `make build` stamp latchkey_build_info's version and revision with the linker
// flags that libs/platform/telemetry's TestBuildInfoFromLinkerFlags proves effective (-X with a wrong
// package path or variable name is silently ignored).
func TestBuildsStampVersionAndRevision(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"docker/Dockerfile", []string{
			"ARG VERSION=", "ARG REVISION=",
			"-X github.com/latchkey/latchkey/libs/platform/telemetry.version=${VERSION}",
			"-X github.com/latchkey/latchkey/libs/platform/telemetry.revision=${REVISION}",
		}},
		{"Makefile", []string{
			"-X github.com/latchkey/latchkey/libs/platform/telemetry.version=$(VERSION)",
			"-X github.com/latchkey/latchkey/libs/platform/telemetry.revision=$(REVISION)",
			"$(GO) build -ldflags '$(LDFLAGS)'",
		}},
	} {
		raw, err := os.ReadFile(filepath.Join(root, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(raw), w) {
				t.Errorf("%s lacks %q", tc.file, w)
			}
		}
	}
}
