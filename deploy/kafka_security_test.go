package deploy_test

import (
	"path"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// kafkaSecureValues switch on TLS (CA from a Secret, a client certificate, a server name) and
// SCRAM-SHA-512 with a shared Secret, a Secret of identity's own and one for the topics Job.
var kafkaSecureValues = []string{
	"kafka.topics.create=true",
	"kafka.tls.enabled=true",
	"kafka.tls.serverName=kafka.internal",
	"kafka.tls.ca.secretName=kafka-ca",
	"kafka.tls.ca.key=ca.pem",
	"kafka.tls.clientCert.secretName=kafka-client",
	"kafka.sasl.mechanism=SCRAM-SHA-512",
	"kafka.sasl.existingSecret=kafka-latchkey",
	"kafka.sasl.serviceSecrets.identity=kafka-identity",
	"kafka.sasl.topicsSecret=kafka-admin",
}

// workload is one pod template of the chart: a service's Deployment or the topics Job.
type workload struct {
	name string
	spec corev1.PodSpec
}

func kafkaWorkloads(t *testing.T, set []string) []workload {
	t.Helper()
	objs, err := render.Chart(chartDir, "latchkey", "latchkey", nil, set)
	if err != nil {
		t.Fatalf("render with %v: %v", set, err)
	}
	var ws []workload
	for _, d := range render.Of[*appsv1.Deployment](objs) {
		ws = append(ws, workload{d.Name, d.Spec.Template.Spec})
	}
	for _, j := range render.Of[*batchv1.Job](objs) {
		ws = append(ws, workload{j.Name, j.Spec.Template.Spec})
	}
	return ws
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

// mountedFile finds what backs the file at p in the pod: the volume mounted at its directory and the
// key of the Secret or ConfigMap item projected to its name. It returns "secret:<name>/<key>" or
// "configmap:<name>/<key>", or "" when the file is not mounted.
func mountedFile(spec corev1.PodSpec, c corev1.Container, p string) string {
	dir, file := path.Split(p)
	for _, m := range c.VolumeMounts {
		if strings.TrimSuffix(dir, "/") != m.MountPath {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.Secret != nil:
				for _, item := range v.Secret.Items {
					if item.Path == file {
						return "secret:" + v.Secret.SecretName + "/" + item.Key
					}
				}
			case v.ConfigMap != nil:
				for _, item := range v.ConfigMap.Items {
					if item.Path == file {
						return "configmap:" + v.ConfigMap.Name + "/" + item.Key
					}
				}
			}
		}
	}
	return ""
}

// TestChartKafkaSecurity: with kafka.tls and kafka.sasl set, every Deployment and the topics Job get
// the KAFKA_TLS_* variables pointing at files mounted from the named Secrets, and KAFKA_SASL_* with the
// username and password as Secret references (never as plain values).
func TestChartKafkaSecurity(t *testing.T) {
	ws := kafkaWorkloads(t, kafkaSecureValues)
	if len(ws) != len(services)+1 {
		t.Fatalf("%d workloads, want %d Deployments and the topics Job", len(ws), len(services))
	}
	for _, w := range ws {
		t.Run(w.name, func(t *testing.T) {
			c := w.spec.Containers[0]
			env := envOf(c)
			for name, want := range map[string]string{
				"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_SERVER_NAME": "kafka.internal", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
			} {
				if got := env[name]; got.Value != want {
					t.Errorf("%s = %q, want %q", name, got.Value, want)
				}
			}
			for name, want := range map[string]string{
				"KAFKA_TLS_CA_FILE":   "secret:kafka-ca/ca.pem",
				"KAFKA_TLS_CERT_FILE": "secret:kafka-client/tls.crt",
				"KAFKA_TLS_KEY_FILE":  "secret:kafka-client/tls.key",
			} {
				file := env[name].Value
				if file == "" {
					t.Errorf("%s is not set", name)
					continue
				}
				if got := mountedFile(w.spec, c, file); got != want {
					t.Errorf("%s=%s is backed by %q, want %q", name, file, got, want)
				}
			}
			wantSecret := "kafka-latchkey"
			switch w.name {
			case "latchkey-identity":
				wantSecret = "kafka-identity"
			case "latchkey-topics":
				wantSecret = "kafka-admin"
			}
			for name, key := range map[string]string{"KAFKA_SASL_USERNAME": "username", "KAFKA_SASL_PASSWORD": "password"} {
				e := env[name]
				if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s is not a Secret reference: %+v", name, e)
					continue
				}
				if ref := e.ValueFrom.SecretKeyRef; ref.Name != wantSecret || ref.Key != key {
					t.Errorf("%s from %s/%s, want %s/%s", name, ref.Name, ref.Key, wantSecret, key)
				}
			}
		})
	}
	// The pods stay as locked down as without TLS (non-root, read-only root filesystem...).
	objs, err := render.Chart(chartDir, "latchkey", "latchkey", nil, kafkaSecureValues)
	if err != nil {
		t.Fatal(err)
	}
	checkWorkloads(t, objs)
}

// TestChartKafkaCAFromConfigMap: a CA bundle published in a ConfigMap (e.g. by trust-manager) is
// mounted from it; without SASL no KAFKA_SASL_* variable is rendered.
func TestChartKafkaCAFromConfigMap(t *testing.T) {
	for _, w := range kafkaWorkloads(t, []string{"kafka.topics.create=true", "kafka.tls.enabled=true", "kafka.tls.ca.configMapName=kafka-ca-bundle"}) {
		c := w.spec.Containers[0]
		env := envOf(c)
		if got := mountedFile(w.spec, c, env["KAFKA_TLS_CA_FILE"].Value); got != "configmap:kafka-ca-bundle/ca.crt" {
			t.Errorf("%s: KAFKA_TLS_CA_FILE=%q backed by %q, want configmap:kafka-ca-bundle/ca.crt", w.name, env["KAFKA_TLS_CA_FILE"].Value, got)
		}
		for _, name := range []string{"KAFKA_TLS_CERT_FILE", "KAFKA_TLS_KEY_FILE", "KAFKA_TLS_SERVER_NAME", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} {
			if _, ok := env[name]; ok {
				t.Errorf("%s: %s rendered, want it absent", w.name, name)
			}
		}
	}
}

// TestChartKafkaPlaintextByDefault: the default values render no Kafka security settings and no
// Kafka volumes (the services then default to plaintext without SASL).
func TestChartKafkaPlaintextByDefault(t *testing.T) {
	for _, w := range kafkaWorkloads(t, []string{"kafka.topics.create=true"}) {
		for name := range envOf(w.spec.Containers[0]) {
			if strings.HasPrefix(name, "KAFKA_TLS_") || strings.HasPrefix(name, "KAFKA_SASL_") {
				t.Errorf("%s: %s rendered by default", w.name, name)
			}
		}
		for _, v := range w.spec.Volumes {
			if strings.HasPrefix(v.Name, "kafka-") {
				t.Errorf("%s: volume %s rendered by default", w.name, v.Name)
			}
		}
	}
}

// TestChartKafkaSecurityRefusesBadValues: settings that cannot work fail the install with a message
// naming the value.
func TestChartKafkaSecurityRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"unknown mechanism", []string{"kafka.sasl.mechanism=GSSAPI", "kafka.sasl.existingSecret=k"}, "mechanism"},
		{"mechanism without Secret", []string{"kafka.sasl.mechanism=SCRAM-SHA-256"}, "kafka.sasl.existingSecret"},
		{"CA from Secret and ConfigMap", []string{"kafka.tls.enabled=true", "kafka.tls.ca.secretName=a", "kafka.tls.ca.configMapName=b"}, "kafka.tls.ca"},
		{"client certificate without TLS", []string{"kafka.tls.clientCert.secretName=c"}, "kafka.tls.enabled"},
		{"per-service Secret for an unknown service", []string{"kafka.sasl.serviceSecrets.billing=x"}, "billing"},
		{"misspelled TLS key", []string{"kafka.tls.enable=true"}, "enable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.Chart(chartDir, "latchkey", "latchkey", nil, tc.set)
			if err == nil {
				t.Fatalf("--set %v rendered; want it refused", tc.set)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
