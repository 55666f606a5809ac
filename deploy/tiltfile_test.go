package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tiltTriggerModeManual is Tilt's model.TriggerModeManual (manual, not run at start-up).
const tiltTriggerModeManual = 2

// tiltResult is the part of `tilt alpha tiltfile-result` the test reads.
type tiltResult struct {
	Error     any
	Manifests []struct {
		Name         string
		Labels       map[string]string
		TriggerMode  int
		ImageTargets []struct {
			Selector       string `json:"selector"`
			LiveUpdateSpec struct {
				Syncs []struct {
					LocalPath     string `json:"localPath"`
					ContainerPath string `json:"containerPath"`
				} `json:"syncs"`
			}
		}
		ResourceDependencies []string
		DeployTarget         map[string]any
	}
}

// tool returns the binary named by env, or builds it: `go build -o <tmp>/name pkg` in dir, with the
// extra environment. make test sets LATCHKEY_TILT and LATCHKEY_HELM to the binaries of `make tools`.
func tool(t *testing.T, env, name, dir, pkg string, extraEnv ...string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	t.Logf("%s is not set: building %s (make test builds it once with make tools)", env, pkg)
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), extraEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// TestTiltfileEvaluates evaluates the Tiltfile with the pinned Tilt (tools/tilt) and no cluster, as
// `tilt up` would before deploying, and checks what it would run: every service built from the dev
// target with live update, deployed by the chart with the dev values, the dev infra, the port-forwarded
// gateway, the resource groups, and the tests as a manual resource.
func TestTiltfileEvaluates(t *testing.T) {
	tilt := tool(t, "LATCHKEY_TILT", "tilt", filepath.Join(root, "tools", "tilt"), "github.com/tilt-dev/tilt/cmd/tilt", "GOWORK=off")
	helm := tool(t, "LATCHKEY_HELM", "helm", ".", "helm.sh/helm/v3/cmd/helm")
	// Tilt's helm() runs `helm template`: put the pinned helm first on PATH.
	binDir := t.TempDir()
	if err := os.Symlink(helm, filepath.Join(binDir, "helm")); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cmd := exec.Command(tilt, "alpha", "tiltfile-result", "-f", "Tiltfile")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+home,
		"KUBECONFIG="+filepath.Join(home, "no-cluster"), "TILT_DEV_DIR="+filepath.Join(home, ".tilt-dev"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tilt alpha tiltfile-result: %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	var res tiltResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode tiltfile-result: %v\n%s", err, stdout.String())
	}
	if res.Error != nil {
		t.Fatalf("Tiltfile error: %v", res.Error)
	}
	manifests := map[string]int{}
	for i, m := range res.Manifests {
		manifests[m.Name] = i
	}
	get := func(name string) int {
		i, ok := manifests[name]
		if !ok {
			t.Fatalf("Tiltfile has no resource %s; resources: %v", name, keys(manifests))
		}
		return i
	}

	for _, svc := range append(slices.Clone(services), "gateway") {
		t.Run(svc, func(t *testing.T) {
			m := res.Manifests[get("latchkey-"+svc)]
			if m.Labels["services"] == "" {
				t.Errorf("labels %v, want the services group", m.Labels)
			}
			if len(m.ImageTargets) != 1 || m.ImageTargets[0].Selector != "latchkey/"+svc {
				t.Fatalf("image targets %+v, want latchkey/%s", m.ImageTargets, svc)
			}
			syncs := m.ImageTargets[0].LiveUpdateSpec.Syncs
			if len(syncs) == 0 || syncs[0].LocalPath != ".tilt-build/"+svc || syncs[0].ContainerPath != "/app/live/service" {
				t.Errorf("live update syncs %+v, want .tilt-build/%s -> /app/live/service", syncs, svc)
			}
			if !slices.Contains(m.ResourceDependencies, svc+"-compile") {
				t.Errorf("depends on %v, want %s-compile", m.ResourceDependencies, svc)
			}
			get(svc + "-compile")
			yaml, _ := json.Marshal(m.DeployTarget)
			if svc != "gateway" && !strings.Contains(string(yaml), "latchkey-"+svc) {
				t.Errorf("deploy target does not hold the chart's latchkey-%s", svc)
			}
		})
	}
	for _, infra := range []string{"latchkey-mongodb", "latchkey-kafka"} {
		if m := res.Manifests[get(infra)]; m.Labels["infra"] == "" {
			t.Errorf("%s labels %v, want the infra group", infra, m.Labels)
		}
	}
	gw, _ := json.Marshal(res.Manifests[get("latchkey-gateway")].DeployTarget)
	if !strings.Contains(string(gw), `"localPort":8080`) {
		t.Errorf("gateway is not port-forwarded to 8080: %s", gw)
	}
	// The chart is deployed with values-dev.yaml: the dev outbox is on (only the dev values set it).
	all, _ := json.Marshal(res.Manifests)
	if !strings.Contains(string(all), `DEV_OUTBOX_ENABLED: \"true\"`) {
		t.Error("the chart is not deployed with charts/latchkey/values-dev.yaml (DEV_OUTBOX_ENABLED is not set)")
	}
	for _, v := range []string{`DELIVERY_DRIVER: outbox`, `DEVELOPMENT_MODE: \"true\"`} {
		if !strings.Contains(string(all), v) {
			t.Errorf("the local cluster's notification service lacks %s: it would refuse the dev outbox", v)
		}
	}
	if m := res.Manifests[get("tests")]; m.TriggerMode != tiltTriggerModeManual {
		t.Errorf("tests trigger mode %d, want manual (%d)", m.TriggerMode, tiltTriggerModeManual)
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
