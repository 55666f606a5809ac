package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// TestKustomizeOverlaysBuildStrictly builds every kustomization like `kubectl kustomize` and decodes
// every object strictly; the workloads keep the chart's security settings, dev infra included.
func TestKustomizeOverlaysBuildStrictly(t *testing.T) {
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs := buildOverlay(t, dir)
			deployments := byName(render.Of[*appsv1.Deployment](objs))
			for _, name := range services {
				if _, ok := deployments["latchkey-"+name]; !ok {
					t.Errorf("no Deployment latchkey-%s", name)
				}
			}
			checkWorkloads(t, objs)
		})
	}
}

// TestKustomizeDevOverlayRunsInfra: the dev overlay adds MongoDB and Kafka and a Secret that points
// the services at them, and the services' secret references follow the generated Secret's name.
func TestKustomizeDevOverlayRunsInfra(t *testing.T) {
	objs := buildOverlay(t, overlays[1])
	sets := byName(render.Of[*appsv1.StatefulSet](objs))
	for name, image := range map[string]string{"latchkey-mongodb": "mongo:8.0", "latchkey-kafka": "apache/kafka:4.1.0"} {
		s, ok := sets[name]
		if !ok {
			t.Errorf("no StatefulSet %s", name)
			continue
		}
		if got := s.Spec.Template.Spec.Containers[0].Image; got != image {
			t.Errorf("%s image = %s, want the official %s", name, got, image)
		}
		if s.Namespace != "latchkey-dev" {
			t.Errorf("%s namespace = %q, want latchkey-dev", name, s.Namespace)
		}
	}
	if args := sets["latchkey-mongodb"].Spec.Template.Spec.Containers[0].Args; len(args) < 2 || args[0] != "--replSet" {
		t.Errorf("MongoDB args %v: want a replica set", args)
	}
	secrets := render.Of[*corev1.Secret](objs)
	if len(secrets) != 1 {
		t.Fatalf("%d Secrets, want the generated one", len(secrets))
	}
	data := secrets[0].Data
	if string(data["mongodb-uri"]) != "mongodb://latchkey-mongodb:27017/?replicaSet=rs0" || string(data["kafka-brokers"]) != "latchkey-kafka:9092" {
		t.Errorf("dev Secret does not point at the dev infra: %v", secrets[0].Data)
	}
	for _, d := range render.Of[*appsv1.Deployment](objs) {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != secrets[0].Name {
				t.Errorf("%s env %s reads Secret %q, want the generated %q", d.Name, e.Name, e.ValueFrom.SecretKeyRef.Name, secrets[0].Name)
			}
		}
	}
	cms := byName(render.Of[*corev1.ConfigMap](objs))
	if cms["latchkey-notification"].Data["DEV_OUTBOX_ENABLED"] != "true" {
		t.Error("dev overlay does not turn the dev outbox on")
	}
	if cms["latchkey-notification"].Data["HTTP_ADDR"] != ":8084" {
		t.Error("dev overlay's ConfigMap merge lost the base's variables")
	}
}

// TestKustomizeBaseUpToDate: k8s/base/latchkey.yaml is the chart's rendering (make k8s); a chart
// change without regenerating it fails here.
func TestKustomizeBaseUpToDate(t *testing.T) {
	want, err := render.KustomizeBase(chartDir, filepath.Join(root, "k8s", "base", "chart-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "k8s", "base", "latchkey.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("k8s/base/latchkey.yaml is stale: run make k8s")
	}
}

// TestTiltGatewayManifest: the dev gateway that Tilt deploys decodes strictly and follows the
// security rules too.
func TestTiltGatewayManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "tilt", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Decode("tilt/gateway.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	checkWorkloads(t, objs)
}
