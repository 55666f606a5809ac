package deploy_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// TestChartBreachedPasswords: the default and production installs check new passwords against the
// Pwned Passwords range API (services/identity/internal/config: BREACHED_PASSWORDS_*), and identity's
// NetworkPolicy lets it reach the API over HTTPS; otherwise every check would wait for the timeout
// and fall back to the offline list.
func TestChartBreachedPasswords(t *testing.T) {
	want := map[string]string{
		"BREACHED_PASSWORDS_ONLINE": "true", "BREACHED_PASSWORDS_API_URL": "https://api.pwnedpasswords.com",
		"BREACHED_PASSWORDS_TIMEOUT": "1500ms", "BREACHED_PASSWORDS_CACHE_TTL": "1h",
		"BREACHED_PASSWORDS_CACHE_SIZE": "1000", "BREACHED_PASSWORDS_MIN_COUNT": "1",
	}
	for _, vs := range []valueSet{valueSets[0], valueSets[2]} {
		t.Run(vs.name, func(t *testing.T) {
			objs := renderChart(t, vs)
			cm, ok := byName(render.Of[*corev1.ConfigMap](objs))["latchkey-identity"]
			if !ok {
				t.Fatal("no ConfigMap latchkey-identity")
			}
			for k, v := range want {
				if got := cm.Data[k]; got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			np, ok := byName(render.Of[*networkingv1.NetworkPolicy](objs))["latchkey-identity"]
			if !ok {
				t.Fatal("no NetworkPolicy latchkey-identity")
			}
			var ports []string
			for _, rule := range np.Spec.Egress {
				for _, p := range rule.Ports {
					ports = append(ports, p.Port.String())
				}
			}
			if !slices.Contains(ports, "443") {
				t.Errorf("identity egress ports %v: HTTPS to the breached-password API is closed", ports)
			}
		})
	}
}

// TestChartSchemaRefusesBadBreachSettings: a malformed BREACHED_PASSWORDS_* value fails the install.
func TestChartSchemaRefusesBadBreachSettings(t *testing.T) {
	for _, set := range []string{
		"services.identity.env.BREACHED_PASSWORDS_ONLINE=maybe",
		"services.identity.env.BREACHED_PASSWORDS_API_URL=api.pwnedpasswords.com",
		"services.identity.env.BREACHED_PASSWORDS_TIMEOUT=soon",
		"services.identity.env.BREACHED_PASSWORDS_CACHE_SIZE=many",
	} {
		key := strings.TrimPrefix(strings.Split(set, "=")[0], "services.identity.env.")
		if _, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{set}); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("--set %s: %v, want the schema to refuse it naming %s", set, err, key)
		}
	}
	// The air-gapped setting renders.
	if _, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{"services.identity.env.BREACHED_PASSWORDS_ONLINE=false", "services.identity.egress=null"}); err != nil {
		t.Errorf("offline-only install: %v", err)
	}
}
