package deploy_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/deploy/render"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// containerEnv renders the chart with extra --set values and resolves every service container's
// environment as the kubelet does (envFrom the ConfigMap, then env).
func containerEnv(t *testing.T, vs valueSet, set ...string) map[string]map[string]string {
	t.Helper()
	objs, err := render.Chart(chartDir, "latchkey", "latchkey", vs.files, append(append([]string(nil), vs.set...), set...))
	if err != nil {
		t.Fatalf("render chart with %s values and %v: %v", vs.name, set, err)
	}
	configMaps := map[string]map[string]string{}
	for _, cm := range render.Of[*corev1.ConfigMap](objs) {
		configMaps[cm.Name] = cm.Data
	}
	secrets := testSecrets(t, objs, "mongodb://mongo.invalid:27017", "kafka.invalid:9092")
	out := map[string]map[string]string{}
	for _, d := range render.Of[*appsv1.Deployment](objs) {
		env, err := resolveEnv(d, "latchkey", configMaps, secrets)
		if err != nil {
			t.Fatalf("Deployment %s: %v", d.Name, err)
		}
		out[d.Labels["app.kubernetes.io/name"]] = env
	}
	return out
}

// memoryLimits are the rendered containers' resources.limits.memory in bytes (none: absent).
func memoryLimits(t *testing.T, vs valueSet, set ...string) map[string]int64 {
	t.Helper()
	vs.set = append(append([]string(nil), vs.set...), set...)
	out := map[string]int64{}
	for _, d := range render.Of[*appsv1.Deployment](renderChart(t, vs)) {
		if q, ok := d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; ok {
			out[d.Labels["app.kubernetes.io/name"]] = q.Value()
		}
	}
	return out
}

// TestChartGoMemLimit: every service container gets GOMEMLIMIT at 90% of its memory limit (whole
// MiB) in every documented value set, an operator's percent or value per service changes it, a
// container without a memory limit gets none, and a GOMEMLIMIT in env wins.
func TestChartGoMemLimit(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			limits := memoryLimits(t, vs)
			env := containerEnv(t, vs)
			for _, name := range services {
				limit := limits[name]
				if limit == 0 {
					t.Errorf("%s: no memory limit in the %s values", name, vs.name)
					continue
				}
				rest := limit - offHeap(t, name, env[name])
				if got, want := env[name]["GOMEMLIMIT"], fmt.Sprintf("%dMiB", rest*90/100>>20); got != want {
					t.Errorf("%s: GOMEMLIMIT = %q, want %q (90%% of %d bytes, less %d off the heap)", name, got, want, limit, limit-rest)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		set  []string
		want map[string]string // service -> GOMEMLIMIT ("" none)
	}{
		{"per-service value", []string{"services.profile.goMemLimit.value=100MiB"},
			map[string]string{"profile": "100MiB", "session": "230MiB", "identity": "162MiB"}},
		{"percent for all", []string{"serviceDefaults.goMemLimit.percent=75"},
			map[string]string{"profile": "192MiB", "identity": "135MiB"}},
		{"identity's workspaces follow its argon2 settings", []string{"services.identity.env.ARGON2_MAX_CONCURRENT=2"},
			map[string]string{"identity": "196MiB"}}, // (256 - 2 × 19) × 0.9
		{"percent off for one", []string{"services.session.goMemLimit.percent=0"},
			map[string]string{"session": "", "profile": "230MiB"}},
		{"no memory limit", []string{"services.notification.resources.limits.memory=null"},
			map[string]string{"notification": "", "profile": "230MiB"}},
		{"decimal units", []string{"services.profile.resources.limits.memory=1G"},
			map[string]string{"profile": "858MiB"}}, // 0.9 × 10⁹ bytes
		{"Gi", []string{"services.profile.resources.limits.memory=1Gi"},
			map[string]string{"profile": "921MiB"}},
		{"plain bytes", []string{"services.profile.resources.limits.memory=300000000"},
			map[string]string{"profile": "257MiB"}},
		{"env wins", []string{"services.identity.env.GOMEMLIMIT=200MiB"},
			map[string]string{"identity": "200MiB", "session": "230MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := containerEnv(t, valueSets[0], tc.set...)
			limits := memoryLimits(t, valueSets[0], tc.set...)
			for svc, want := range tc.want {
				if _, limited := limits[svc]; limited == (want == "" && !strings.Contains(tc.name, "percent")) {
					t.Errorf("%s: memory limit %v, want one only where GOMEMLIMIT is derived from it", svc, limits[svc])
				}
				got, ok := env[svc]["GOMEMLIMIT"]
				if want == "" && ok {
					t.Errorf("%s: GOMEMLIMIT = %q, want none", svc, got)
				} else if got != want {
					t.Errorf("%s: GOMEMLIMIT = %q, want %q", svc, got, want)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"fractional limit", []string{"services.profile.resources.limits.memory=0.5Gi"}, "services.profile.goMemLimit.value"},
		{"bad value", []string{"services.profile.goMemLimit.value=lots"}, "value"},
		{"percent over 100", []string{"serviceDefaults.goMemLimit.percent=120"}, "percent"},
		{"limit below identity's workspaces", []string{"services.identity.resources.limits.memory=64Mi"}, "outside the Go heap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.Chart(chartDir, "latchkey", "latchkey", nil, tc.set)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("--set %v: err %v, want an error naming %s", tc.set, err, tc.want)
			}
		})
	}
}

// TestChartIdentityMemoryHoldsArgon2: identity keeps ARGON2_MAX_CONCURRENT argon2id workspaces of
// ARGON2_MEMORY_KIB for good, outside the Go heap; its memory limit must hold them and about 30 MiB
// for the rest of the process, and GOMEMLIMIT (which does not see them) must leave them room.
func TestChartIdentityMemoryHoldsArgon2(t *testing.T) {
	const runtimeMiB = 30
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			env := containerEnv(t, vs)["identity"]
			hashes, err := strconv.Atoi(env["ARGON2_MAX_CONCURRENT"])
			if err != nil || hashes < 1 {
				t.Fatalf("ARGON2_MAX_CONCURRENT = %q: the chart must pin it (the default, GOMAXPROCS, is the node's cores, unknown to the memory limit)", env["ARGON2_MAX_CONCURRENT"])
			}
			kib, err := strconv.Atoi(env["ARGON2_MEMORY_KIB"])
			if err != nil {
				t.Fatalf("ARGON2_MEMORY_KIB = %q", env["ARGON2_MEMORY_KIB"])
			}
			need := int64(hashes)*int64(kib)<<10 + runtimeMiB<<20
			limit := memoryLimits(t, vs)["identity"]
			if limit < need {
				t.Errorf("memory limit %d MiB < %d × %d KiB + %d MiB", limit>>20, hashes, kib, runtimeMiB)
			}
			// The workspaces are mapped outside the Go heap: GOMEMLIMIT bounds the rest, which must
			// fit beside them under the limit and still hold the runtime.
			soft, err := strconv.ParseInt(strings.TrimSuffix(env["GOMEMLIMIT"], "MiB"), 10, 64)
			workspaces := int64(hashes) * int64(kib) << 10
			if err != nil || soft<<20 < runtimeMiB<<20 || soft<<20+workspaces > limit {
				t.Errorf("GOMEMLIMIT %q: want at least %d MiB, and with %d × %d KiB of workspaces within the %d MiB limit", env["GOMEMLIMIT"], runtimeMiB, hashes, kib, limit>>20)
			}
		})
	}
}

// offHeap is what a service maps outside the Go heap: identity's argon2id workspaces.
func offHeap(t *testing.T, service string, env map[string]string) int64 {
	t.Helper()
	if service != "identity" {
		return 0
	}
	hashes, err1 := strconv.ParseInt(env["ARGON2_MAX_CONCURRENT"], 10, 64)
	kib, err2 := strconv.ParseInt(env["ARGON2_MEMORY_KIB"], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("identity: ARGON2_MAX_CONCURRENT %q, ARGON2_MEMORY_KIB %q", env["ARGON2_MAX_CONCURRENT"], env["ARGON2_MEMORY_KIB"])
	}
	return hashes * kib << 10
}
