package deploy_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/latchkey/latchkey/deploy/render"
	"github.com/latchkey/latchkey/libs/platform/events"
)

// TestChartRendersStrictly renders the chart with each documented values file; render.Chart decodes
// every object strictly into its API type, so a misspelled or misplaced field fails here.
func TestChartRendersStrictly(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := renderChart(t, vs)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GVK.Kind]++
			}
			for _, kind := range []string{"Deployment", "Service", "ServiceAccount", "ConfigMap", "NetworkPolicy"} {
				if kinds[kind] < len(services) {
					t.Errorf("%d %s objects, want one per service (%d)", kinds[kind], kind, len(services))
				}
			}
			if vs.name != "dev" {
				for _, kind := range []string{"HorizontalPodAutoscaler", "PodDisruptionBudget"} {
					if kinds[kind] != len(services) {
						t.Errorf("%d %s objects, want %d", kinds[kind], kind, len(services))
					}
				}
			}
		})
	}
}

// TestChartDecodingIsStrict proves the strict decoding the other tests rely on: a misspelled field is
// an error, not a silently dropped field.
func TestChartDecodingIsStrict(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"misspelled field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {prots: []}\n", `unknown field "spec.prots"`},
		{"misplaced field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {runAsNonRoot: true}}}\n", `unknown field "spec.template.spec.runAsNonRoot"`},
		{"wrong type", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: http}]}\n", "port"},
		{"unknown kind", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n", "Widget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.Decode("test", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestChartLintStrict is `helm lint --strict` with each values file.
func TestChartLintStrict(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			if err := render.Lint(chartDir, vs.files); err != nil {
				t.Errorf("helm lint --strict: %v", err)
			}
		})
	}
}

// TestChartSchemaRefusesBadValues: values.schema.json rejects unknown keys and wrong types, so a typo
// in a values file fails the install instead of being ignored.
func TestChartSchemaRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"unknown top-level key", []string{"ingres.enabled=true"}, "ingres"},
		{"unknown nested key", []string{"ingress.classname=nginx"}, "classname"},
		{"unknown service", []string{"services.billing.env.FOO=bar"}, "billing"},
		// Ports and calls live in routes.yaml (the service topology), not in values.
		{"internal port as a value", []string{"services.session.internalPort=9999"}, "internalPort"},
		{"internal clients as a value", []string{"services.identity.internalClients={notification}"}, "internalClients"},
		{"misspelled service key", []string{"services.identity.envv.FOO=bar"}, "envv"},
		{"string for a boolean", []string{"ingress.enabled=yes"}, "enabled"},
		{"string for an integer", []string{"serviceDefaults.replicas=two"}, "replicas"},
		{"port out of range", []string{"networkPolicy.egress.mongodb.ports={70000}"}, "ports"},
		{"bad log level", []string{"config.logLevel=verbose"}, "logLevel"},
		{"lower-case env name", []string{"services.profile.env.foo=bar"}, "foo"},
		{"secret ref without key", []string{"secretEnv.SMTP_PASSWORD.secretName=smtp"}, "key"},
		{"bad shutdown timeout", []string{"config.shutdownTimeout=soon"}, "shutdownTimeout"},
		{"bad activity retention", []string{"services.identity.env.ACTIVITY_RETENTION=90days"}, "ACTIVITY_RETENTION"},
		{"admin host with a scheme", []string{"admin.host=https://admin.example.com"}, "host"},
		{"unknown admin key", []string{"admin.enable=true"}, "enable"},
		{"bad deletion grace", []string{"services.identity.env.ACCOUNT_DELETION_GRACE=30 days"}, "ACCOUNT_DELETION_GRACE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.Chart(chartDir, "latchkey", "latchkey", nil, tc.set)
			if err == nil {
				t.Fatalf("--set %v rendered; want the schema to refuse it", tc.set)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestChartWorkloadSecurity: every workload the chart renders runs non-root with a read-only root
// filesystem, no capabilities, RuntimeDefault seccomp and no service-account token.
func TestChartWorkloadSecurity(t *testing.T) {
	for _, vs := range append(valueSets, valueSet{name: "topics job", set: []string{"kafka.topics.create=true"}}) {
		t.Run(vs.name, func(t *testing.T) {
			checkWorkloads(t, renderChart(t, vs))
		})
	}
}

// TestChartServices checks each service's Deployment, Service, HPA, PDB and ServiceAccount against the
// route table and the values: ports, probes on the internal port, resources, labels and selectors.
func TestChartServices(t *testing.T) {
	if got := tableServices(t); !slices.Equal(got, services) {
		t.Fatalf("routes.yaml services = %v, want %v", got, services)
	}
	table := routeTable(t)
	objs := renderChart(t, valueSets[2]) // production
	deployments := byName(render.Of[*appsv1.Deployment](objs))
	svcs := byName(render.Of[*corev1.Service](objs))
	hpas := byName(render.Of[*autoscalingv2.HorizontalPodAutoscaler](objs))
	pdbs := byName(render.Of[*policyv1.PodDisruptionBudget](objs))
	sas := byName(render.Of[*corev1.ServiceAccount](objs))
	for _, name := range services {
		t.Run(name, func(t *testing.T) {
			full := "latchkey-" + name
			d, ok := deployments[full]
			if !ok {
				t.Fatalf("no Deployment %s", full)
			}
			wantSelector := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "latchkey"}
			if !mapsEqual(d.Spec.Selector.MatchLabels, wantSelector) {
				t.Errorf("Deployment selector = %v, want name and instance only: %v", d.Spec.Selector.MatchLabels, wantSelector)
			}
			for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
				"app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"} {
				if d.Labels[l] == "" || d.Spec.Template.Labels[l] == "" {
					t.Errorf("label %s missing on the Deployment or its pods", l)
				}
			}
			if d.Spec.Replicas != nil {
				t.Errorf("replicas set to %d although the HPA scales the Deployment", *d.Spec.Replicas)
			}
			if d.Spec.Template.Annotations["checksum/config"] == "" {
				t.Error("pod template has no checksum/config annotation")
			}
			c := d.Spec.Template.Spec.Containers[0]
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if want := int32(table.Services[name].Port); ports["http"] != want {
				t.Errorf("container port http = %d, want %d (routes.yaml)", ports["http"], want)
			}
			if ports["internal"] == 0 {
				t.Error("no internal container port")
			}
			for probeName, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "internal" {
					t.Errorf("%s probe %+v, want an HTTP GET on the internal port", probeName, p)
				}
			}
			if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Errorf("readiness probe path = %q, want /readyz", c.ReadinessProbe.HTTPGet.Path)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %v: want cpu and memory requests and a memory limit", c.Resources)
			}
			s, ok := svcs[full]
			if !ok {
				t.Fatalf("no Service %s", full)
			}
			if !mapsEqual(s.Spec.Selector, wantSelector) {
				t.Errorf("Service selector = %v, want %v", s.Spec.Selector, wantSelector)
			}
			if h, ok := hpas[full]; !ok || h.Spec.ScaleTargetRef.Name != full || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
				t.Errorf("HPA %s missing or not scaling the Deployment", full)
			}
			if p, ok := pdbs[full]; !ok || !mapsEqual(p.Spec.Selector.MatchLabels, wantSelector) {
				t.Errorf("PodDisruptionBudget %s missing or selecting other pods", full)
			}
			if sa, ok := sas[full]; !ok || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Errorf("ServiceAccount %s missing or mounting its token", full)
			}
		})
	}
}

// TestChartConfig checks what each service's container gets: the shared variables of
// docs/architecture.md, the links to its siblings, and secrets only as Secret references.
func TestChartConfig(t *testing.T) {
	objs := renderChart(t, valueSets[2])
	cms := byName(render.Of[*corev1.ConfigMap](objs))
	deployments := byName(render.Of[*appsv1.Deployment](objs))
	common := map[string]string{
		"JWT_ISSUER": "https://accounts.example.com", "JWT_AUDIENCE": "latchkey",
		"KAFKA_CREATE_TOPICS": "false", "LOG_LEVEL": "info", "BODY_LIMIT_BYTES": "65536", "SHUTDOWN_TIMEOUT": "15s", "SHUTDOWN_DRAIN_DELAY": "5s",
		"TRUSTED_PROXIES": "10.0.0.0/8", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
	}
	own := map[string]map[string]string{
		"identity": {"HTTP_ADDR": ":8081", "INTERNAL_ADDR": ":9081", "MONGODB_DATABASE": "latchkey_identity", "SESSION_INTERNAL_URL": "http://latchkey-session:9082", "PROFILE_INTERNAL_URL": "http://latchkey-profile:9083", "JWKS_URL": "http://latchkey-session:9082/.well-known/jwks.json", "ARGON2_MEMORY_KIB": "19456",
			"LOGIN_MAX_PER_IP": "100", "REGISTRATION_MAX_PER_IP": "50", "THROTTLE_ALLOW_CIDRS": "", "CAPTCHA_PROVIDER": "none",
			"OAUTH_GITHUB_CLIENT_IDS": "", "OAUTH_GOOGLE_USERINFO_URL": "https://openidconnect.googleapis.com/v1/userinfo", "OAUTH_GITHUB_API_URL": "https://api.github.com",
			"OAUTH_GOOGLE_TOKENINFO_URL": "https://oauth2.googleapis.com/tokeninfo", "ACTIVITY_RETENTION": "2160h"},
		"session":      {"HTTP_ADDR": ":8082", "INTERNAL_ADDR": ":9082", "MONGODB_DATABASE": "latchkey_session", "IDENTITY_INTERNAL_URL": "http://latchkey-identity:9081", "JWT_SIGNING_KEY_FILE": "/var/run/secrets/latchkey/signing-key/jwt-signing-key.pem"},
		"profile":      {"HTTP_ADDR": ":8083", "INTERNAL_ADDR": ":9083", "MONGODB_DATABASE": "latchkey_profile", "IDENTITY_INTERNAL_URL": "http://latchkey-identity:9081", "JWKS_URL": "http://latchkey-session:9082/.well-known/jwks.json"},
		"notification": {"HTTP_ADDR": ":8084", "INTERNAL_ADDR": ":9084", "MONGODB_DATABASE": "latchkey_notification", "DELIVERY_DRIVER": "live"},
	}
	secrets := map[string][]string{
		"identity":     {"CAPTCHA_SECRET", "INTERNAL_API_TOKEN", "KAFKA_BROKERS", "MONGODB_URI", "OAUTH_GITHUB_CLIENT_SECRET", "OTP_PEPPER", "TOTP_ENCRYPTION_KEYS"},
		"session":      {"INTERNAL_API_TOKEN", "KAFKA_BROKERS", "MONGODB_URI"},
		"profile":      {"INTERNAL_API_TOKEN", "KAFKA_BROKERS", "MONGODB_URI"},
		"notification": {"INTERNAL_API_TOKEN", "KAFKA_BROKERS", "MONGODB_URI", "SMTP_PASSWORD", "SMTP_USERNAME", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"},
	}
	for _, name := range services {
		t.Run(name, func(t *testing.T) {
			full := "latchkey-" + name
			cm, ok := cms[full]
			if !ok {
				t.Fatalf("no ConfigMap %s", full)
			}
			for k, want := range merge(common, own[name]) {
				if got := cm.Data[k]; got != want {
					t.Errorf("ConfigMap %s = %q, want %q", k, got, want)
				}
			}
			for k := range cm.Data {
				// A service gets the URLs of the services it calls, no others.
				if isPeerURL := k == "JWKS_URL" || strings.HasSuffix(k, "_INTERNAL_URL"); isPeerURL && own[name][k] == "" {
					t.Errorf("ConfigMap has %s = %q, a service %s does not call", k, cm.Data[k], name)
				}
				if slices.Contains([]string{"MONGODB_URI", "KAFKA_BROKERS", "INTERNAL_API_TOKEN", "OTP_PEPPER", "CAPTCHA_SECRET", "OAUTH_GITHUB_CLIENT_SECRET", "TOTP_ENCRYPTION_KEYS"}, k) {
					t.Errorf("secret %s is in the ConfigMap", k)
				}
			}
			c := deployments[full].Spec.Template.Spec.Containers[0]
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != full {
				t.Errorf("envFrom = %+v, want the ConfigMap %s", c.EnvFrom, full)
			}
			var got []string
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("env %s is not a Secret reference", e.Name)
					continue
				}
				if e.Value != "" {
					t.Errorf("env %s has a literal value", e.Name)
				}
				if e.ValueFrom.SecretKeyRef.Name != "latchkey" {
					t.Errorf("env %s reads Secret %q, want the existing Secret latchkey", e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
				got = append(got, e.Name)
			}
			if !slices.Equal(got, secrets[name]) {
				t.Errorf("secret env = %v, want %v", got, secrets[name])
			}
		})
	}
	if len(render.Of[*corev1.Secret](objs)) != 0 {
		t.Error("production values (secret.create=false) still render a Secret")
	}
}

// TestChartConfigChecksum: changing a service's configuration or the chart's Secret changes the
// pods' checksum/config annotation, so the pods roll.
func TestChartConfigChecksum(t *testing.T) {
	checksums := func(set ...string) map[string]string {
		objs, err := render.Chart(chartDir, "latchkey", "latchkey", nil, set)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range render.Of[*appsv1.Deployment](objs) {
			out[d.Name] = d.Spec.Template.Annotations["checksum/config"]
		}
		return out
	}
	base := checksums()
	for _, tc := range []struct {
		name    string
		set     string
		changed []string
	}{
		{"one service's env", "services.profile.env.PROFILE_WAIT_TIMEOUT=2s", []string{"latchkey-profile"}},
		{"shared config", "config.logLevel=debug", []string{"latchkey-identity", "latchkey-notification", "latchkey-profile", "latchkey-session"}},
		{"secret data", "secret.data.otp-pepper=another-pepper-of-at-least-32-characters", []string{"latchkey-identity", "latchkey-notification", "latchkey-profile", "latchkey-session"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checksums(tc.set)
			for name, sum := range got {
				if changed := sum != base[name]; changed != slices.Contains(tc.changed, name) {
					t.Errorf("%s checksum changed = %v, want %v", name, changed, !changed)
				}
			}
		})
	}
}

// TestChartNetworkPoliciesNeverOpen: with every values file, no ingress rule admits every peer.
func TestChartNetworkPoliciesNeverOpen(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			policies := render.Of[*networkingv1.NetworkPolicy](renderChart(t, vs))
			if len(policies) != len(services) {
				t.Fatalf("%d NetworkPolicies, want %d", len(policies), len(services))
			}
			for _, np := range policies {
				for _, rule := range np.Spec.Ingress {
					if len(rule.From) == 0 {
						t.Errorf("%s: ingress rule on ports %v admits every peer", np.Name, rule.Ports)
					}
				}
			}
		})
	}
}

// TestChartNetworkPolicies: public ports only from the ingress peers, internal ports only from
// Prometheus and the siblings that call them, egress to MongoDB, Kafka and those siblings.
func TestChartNetworkPolicies(t *testing.T) {
	objs := renderChart(t, valueSets[2])
	policies := byName(render.Of[*networkingv1.NetworkPolicy](objs))
	callers := map[string][]string{"identity": {"profile", "session"}, "profile": {"identity"}, "session": {"identity", "profile"}}
	for _, name := range services {
		t.Run(name, func(t *testing.T) {
			np, ok := policies["latchkey-"+name]
			if !ok {
				t.Fatalf("no NetworkPolicy latchkey-%s", name)
			}
			if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != name {
				t.Errorf("policy selects %v", np.Spec.PodSelector.MatchLabels)
			}
			var publicFrom, internalFrom []string
			for _, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 {
					t.Errorf("ingress rule %+v admits every peer", rule)
				}
				for _, p := range rule.Ports {
					for _, peer := range rule.From {
						switch p.Port.String() {
						case "http":
							publicFrom = append(publicFrom, peerString(peer))
						case "internal":
							internalFrom = append(internalFrom, peerString(peer))
						default:
							t.Errorf("ingress to port %s", p.Port.String())
						}
					}
				}
			}
			if want := []string{"ns=gateway-system", "ns=ingress-nginx"}; !slices.Equal(sorted(publicFrom), want) {
				t.Errorf("public port reachable from %v, want %v", publicFrom, want)
			}
			wantInternal := []string{"ns=monitoring,pod=prometheus"}
			if c := callers[name]; c != nil {
				wantInternal = append(wantInternal, "pod in "+strings.Join(c, ","))
			}
			if !slices.Equal(sorted(internalFrom), sorted(wantInternal)) {
				t.Errorf("internal port reachable from %v, want %v", internalFrom, wantInternal)
			}
			var egressPorts []string
			for _, rule := range np.Spec.Egress {
				for _, p := range rule.Ports {
					egressPorts = append(egressPorts, p.Port.String())
				}
			}
			for _, want := range []string{"53", "27017", "9092"} {
				if !slices.Contains(egressPorts, want) {
					t.Errorf("egress ports %v lack %s", egressPorts, want)
				}
			}
			if name == "identity" && !slices.Contains(egressPorts, "9082") {
				t.Errorf("identity cannot reach the session service's internal port: egress %v", egressPorts)
			}
		})
	}
}

// TestChartTopics: the chart's topic list is the platform's (events.AllTopics), and the topics Job
// creates them all with the configured prefix.
func TestChartTopics(t *testing.T) {
	objs, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{"kafka.topics.create=true", "config.kafkaTopicPrefix=prod."})
	if err != nil {
		t.Fatal(err)
	}
	jobs := render.Of[*batchv1.Job](objs)
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want the topics Job", len(jobs))
	}
	var topics string
	for _, e := range jobs[0].Spec.Template.Spec.Containers[0].Env {
		if e.Name == "TOPICS" {
			topics = e.Value
		}
	}
	var want []string
	for _, topic := range events.AllTopics {
		want = append(want, "prod."+topic)
	}
	if got := strings.Fields(topics); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("Job creates %v, want %v (events.AllTopics with the prefix)", got, want)
	}
	if jobs[0].Annotations["helm.sh/hook"] == "" {
		t.Error("topics Job is not a hook: it would run before the Secret with the brokers exists")
	}
}

// checkWorkloads applies the security rules to every pod template in objs.
func checkWorkloads(t *testing.T, objs []render.Object) {
	t.Helper()
	n := 0
	for _, o := range objs {
		var spec *corev1.PodSpec
		switch w := o.Typed.(type) {
		case *appsv1.Deployment:
			spec = &w.Spec.Template.Spec
		case *appsv1.StatefulSet:
			spec = &w.Spec.Template.Spec
		case *appsv1.DaemonSet:
			spec = &w.Spec.Template.Spec
		case *batchv1.Job:
			spec = &w.Spec.Template.Spec
		case *batchv1.CronJob:
			spec = &w.Spec.JobTemplate.Spec.Template.Spec
		case *corev1.Pod:
			spec = &w.Spec
		default:
			continue
		}
		n++
		for _, problem := range podProblems(spec) {
			t.Errorf("%s: %s", o, problem)
		}
	}
	if n == 0 {
		t.Error("no workloads rendered")
	}
}

// podProblems lists the security rules a pod spec breaks.
func podProblems(spec *corev1.PodSpec) []string {
	var problems []string
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		problems = append(problems, "service-account token mounted (automountServiceAccountToken is not false)")
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		problems = append(problems, "pod runAsNonRoot is not true")
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		problems = append(problems, "pod runs as uid 0")
	}
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		problems = append(problems, "uses a host namespace")
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			problems = append(problems, fmt.Sprintf("container %s has no securityContext", c.Name))
			continue
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			problems = append(problems, fmt.Sprintf("container %s: root filesystem is writable", c.Name))
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			problems = append(problems, fmt.Sprintf("container %s: privilege escalation allowed", c.Name))
		}
		if sc.Privileged != nil && *sc.Privileged {
			problems = append(problems, fmt.Sprintf("container %s: privileged", c.Name))
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			problems = append(problems, fmt.Sprintf("container %s: capabilities not all dropped", c.Name))
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			problems = append(problems, fmt.Sprintf("container %s runs as uid 0", c.Name))
		}
		if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			problems = append(problems, fmt.Sprintf("container %s: seccomp profile is not RuntimeDefault", c.Name))
		}
		if c.Resources.Limits.Memory().IsZero() {
			problems = append(problems, fmt.Sprintf("container %s: no memory limit", c.Name))
		}
	}
	return problems
}

func peerString(p networkingv1.NetworkPolicyPeer) string {
	var parts []string
	if p.NamespaceSelector != nil {
		parts = append(parts, "ns="+p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
	}
	if p.PodSelector != nil {
		if n := p.PodSelector.MatchLabels["app.kubernetes.io/name"]; n != "" {
			parts = append(parts, "pod="+n)
		}
		for _, e := range p.PodSelector.MatchExpressions {
			if e.Key == "app.kubernetes.io/name" {
				parts = append(parts, "pod in "+strings.Join(sorted(e.Values), ","))
			}
		}
	}
	if p.IPBlock != nil {
		parts = append(parts, "ip="+p.IPBlock.CIDR)
	}
	return strings.Join(parts, ",")
}

type named interface{ GetName() string }

func byName[T named](objs []T) map[string]T {
	m := make(map[string]T, len(objs))
	for _, o := range objs {
		m[o.GetName()] = o
	}
	return m
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

var _ = filepath.Join

// TestChartNotes: NOTES.txt tells the installer what is still missing: Secret keys the chart's own
// Secret lacks, and the topics to create when the chart does not create them.
func TestChartNotes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		set          []string
		want, reject []string
	}{
		{"defaults", nil, []string{"lacks internal-api-token, kafka-brokers, mongodb-uri, otp-pepper, totp-encryption-keys", "otp.dispatch.v1.dlq", "Ingress latchkey"}, nil},
		{"secret complete", []string{"secret.data.mongodb-uri=mongodb://m:27017", "secret.data.kafka-brokers=k:9092",
			"secret.data.internal-api-token=0123456789abcdef", "secret.data.otp-pepper=0123456789abcdef0123456789abcdef",
			"secret.data.totp-encryption-keys=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, nil, []string{"WARNING"}},
		{"existing secret", []string{"secret.create=false", "secret.name=mine"}, []string{`Secret "mine"`}, []string{"WARNING"}},
		{"no routing", []string{"ingress.enabled=false"}, []string{"nothing routes public traffic"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := render.Install(chartDir, "latchkey", "latchkey", nil, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(strings.Fields(rel.Info.Notes), " ")
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, rel.Info.Notes)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(notes, r) {
					t.Errorf("NOTES contain %q:\n%s", r, rel.Info.Notes)
				}
			}
		})
	}
}
