package deploy_test

import (
	"path"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// TestChartJWTIssuer: every service gets one JWT_ISSUER: the explicit value, else the https URL of the
// ingress host, else of the Gateway API hostname; the schema refuses an issuer the services would
// refuse at start-up.
func TestChartJWTIssuer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		set   []string
		want  string
		warn  bool // NOTES warn that the issuer is the loopback default
	}{
		{name: "default", want: "http://127.0.0.1:8080", warn: true},
		{name: "dev", files: valueSets[1].files, want: "http://127.0.0.1:8080"},
		{name: "production", files: valueSets[2].files, want: "https://accounts.example.com"},
		{name: "ingress host", set: []string{"ingress.host=id.example.org"}, want: "https://id.example.org"},
		{name: "gateway API hostname", set: []string{"ingress.enabled=false", "gatewayAPI.enabled=true", "gatewayAPI.parentRefs[0].name=public",
			"gatewayAPI.hostnames[0]=gw.example.org", "gatewayAPI.hostnames[1]=other.example.org"}, want: "https://gw.example.org"},
		{name: "explicit wins", files: valueSets[2].files, set: []string{"config.jwtIssuer=https://login.example.net"}, want: "https://login.example.net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := render.Chart(chartDir, "latchkey", "latchkey", tc.files, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			cms := byName(render.Of[*corev1.ConfigMap](objs))
			for _, name := range services {
				if got := cms["latchkey-"+name].Data["JWT_ISSUER"]; got != tc.want {
					t.Errorf("%s: JWT_ISSUER = %q, want %q", name, got, tc.want)
				}
			}
			rel, err := render.Install(chartDir, "latchkey", "latchkey", tc.files, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(strings.Fields(rel.Info.Notes), " ")
			if !strings.Contains(notes, tc.want+"/.well-known/openid-configuration") {
				t.Errorf("NOTES do not show the discovery URL:\n%s", rel.Info.Notes)
			}
			if got := strings.Contains(notes, "This is the loopback default"); got != tc.warn {
				t.Errorf("NOTES warn about the issuer = %v, want %v:\n%s", got, tc.warn, rel.Info.Notes)
			}
		})
	}

	for _, bad := range []string{"latchkey", "http://accounts.example.com", "https://accounts.example.com/", "https://example.com/auth"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if _, err := render.Chart(chartDir, "latchkey", "latchkey", nil, []string{"config.jwtIssuer=" + bad}); err == nil || !strings.Contains(err.Error(), "jwtIssuer") {
				t.Fatalf("config.jwtIssuer=%s: error %v, want the schema to refuse it", bad, err)
			}
		})
	}
}

// TestChartVerificationKeys: services.session.signingKey.verificationKeys mounts each Secret key into
// one read-only directory and lists exactly those files in JWT_VERIFICATION_KEY_FILES; without them
// nothing is mounted, and without a signing key they are refused.
func TestChartVerificationKeys(t *testing.T) {
	rotation := []string{
		"services.session.signingKey.verificationKeys[0].secretName=latchkey-jwt-signing-key-2",
		"services.session.signingKey.verificationKeys[0].key=jwt-signing-key.pem",
		"services.session.signingKey.verificationKeys[1].secretName=latchkey-jwt-signing-key-0",
		"services.session.signingKey.verificationKeys[1].key=old.pub.pem",
	}
	objs, err := render.Chart(chartDir, "latchkey", "latchkey", valueSets[2].files, rotation)
	if err != nil {
		t.Fatal(err)
	}
	cms := byName(render.Of[*corev1.ConfigMap](objs))
	deployments := byName(render.Of[*appsv1.Deployment](objs))

	files := strings.Split(cms["latchkey-session"].Data["JWT_VERIFICATION_KEY_FILES"], ",")
	wantFiles := []string{"/var/run/secrets/latchkey/verification-keys/0-jwt-signing-key.pem", "/var/run/secrets/latchkey/verification-keys/1-old.pub.pem"}
	if strings.Join(files, ",") != strings.Join(wantFiles, ",") {
		t.Fatalf("JWT_VERIFICATION_KEY_FILES = %v, want %v", files, wantFiles)
	}
	if got := cms["latchkey-session"].Data["JWT_SIGNING_KEY_FILE"]; got != "/var/run/secrets/latchkey/signing-key/jwt-signing-key.pem" {
		t.Errorf("JWT_SIGNING_KEY_FILE = %q", got)
	}

	// Each listed file is a key of the named Secret, projected into the mounted directory.
	pod := deployments["latchkey-session"].Spec.Template.Spec
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.Name] = m
	}
	m, ok := mounts["verification-keys"]
	if !ok || !m.ReadOnly || m.MountPath != "/var/run/secrets/latchkey/verification-keys" {
		t.Fatalf("verification-keys mount = %+v (found %v), want read-only at /var/run/secrets/latchkey/verification-keys", m, ok)
	}
	var projected *corev1.ProjectedVolumeSource
	for _, v := range pod.Volumes {
		if v.Name == "verification-keys" {
			projected = v.Projected
		}
	}
	if projected == nil {
		t.Fatal("no projected verification-keys volume")
	}
	wantSources := map[string]string{ // file -> secret/key
		"0-jwt-signing-key.pem": "latchkey-jwt-signing-key-2/jwt-signing-key.pem",
		"1-old.pub.pem":         "latchkey-jwt-signing-key-0/old.pub.pem",
	}
	got := map[string]string{}
	for _, src := range projected.Sources {
		if src.Secret == nil {
			t.Fatalf("projected source %+v is not a Secret", src)
		}
		for _, item := range src.Secret.Items {
			got[item.Path] = src.Secret.Name + "/" + item.Key
		}
	}
	for _, f := range files {
		if want := wantSources[path.Base(f)]; got[path.Base(f)] != want || path.Dir(f) != m.MountPath {
			t.Errorf("%s comes from %q, want %q", f, got[path.Base(f)], want)
		}
	}
	if len(got) != len(wantSources) {
		t.Errorf("projected items = %v, want %v", got, wantSources)
	}
	for _, name := range []string{"identity", "profile", "notification"} {
		if _, ok := cms["latchkey-"+name].Data["JWT_VERIFICATION_KEY_FILES"]; ok {
			t.Errorf("%s gets JWT_VERIFICATION_KEY_FILES", name)
		}
	}

	// Without verification keys: no variable, no volume.
	plain := renderChart(t, valueSets[2])
	if _, ok := byName(render.Of[*corev1.ConfigMap](plain))["latchkey-session"].Data["JWT_VERIFICATION_KEY_FILES"]; ok {
		t.Error("JWT_VERIFICATION_KEY_FILES rendered without verification keys")
	}
	for _, v := range byName(render.Of[*appsv1.Deployment](plain))["latchkey-session"].Spec.Template.Spec.Volumes {
		if v.Name == "verification-keys" {
			t.Error("verification-keys volume rendered without verification keys")
		}
	}

	// Verification keys need a file-based signing key (the default keeps its keys in MongoDB), and
	// each entry needs both fields.
	for _, tc := range []struct {
		name  string
		files []string
		set   []string
		want  string
	}{
		{"without a signing key", nil, rotation[:2], "needs services.session.signingKey.secretName"},
		{"entry without key", valueSets[2].files, rotation[:1], "key"},
		{"unknown field", valueSets[2].files, append(rotation[:2:2], "services.session.signingKey.verificationKeys[0].path=x"), "path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := render.Chart(chartDir, "latchkey", "latchkey", tc.files, tc.set); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
