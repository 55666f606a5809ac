package deploy_test

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/deploy/render"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// This file turns a rendered chart into processes on the loopback interface, the way the kubelet and
// the cluster's DNS would: each Deployment's container environment is resolved exactly as Kubernetes
// does (envFrom, then env in order with $(VAR) references, secretKeyRef / configMapKeyRef against the
// rendered ConfigMaps and a test Secret store, secret volumes as files), every container port gets a
// free loopback port, and every cluster address of a rendered Service
// (<name>[.<ns>[.svc[.cluster.local]]]:<port>) is rewritten to the loopback port of the container port
// the Service targets. An address the cluster would not route (a wrong port, a Service selecting no
// pod) becomes a closed loopback port, so a call to it fails as it would in the cluster.

// secretStore holds the test Secrets: secret name -> key -> value.
type secretStore map[string]map[string]string

// pod is one Deployment made runnable.
type pod struct {
	// service is the Deployment's app.kubernetes.io/name (identity, session...), the binary to run.
	service    string
	deployment *appsv1.Deployment
	// ports maps each containerPort to its loopback address.
	ports map[int32]string
	// env is the container's resolved environment, with cluster addresses mapped to loopback.
	env map[string]string
	// files is the directory secret volumes are written to (mountPath -> dir).
	mounts map[string]string
}

// cluster is the rendered release on loopback.
type cluster struct {
	namespace string
	objs      []render.Object
	pods      map[string]*pod // by service
	// dns maps "host:port" of every cluster address of a Service to a loopback address.
	dns map[string]string
	// serviceHosts are the host names of the rendered Services (any port).
	serviceHosts map[string]bool
	// dead is a loopback address nothing listens on.
	dead string
	// portNames maps a Service's name and port name to its port number.
	portNames map[[2]string]int32
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// newCluster maps the rendered objects onto loopback and resolves every Deployment's environment.
func newCluster(t *testing.T, objs []render.Object, namespace string, secrets secretStore) *cluster {
	t.Helper()
	c := &cluster{namespace: namespace, objs: objs, pods: map[string]*pod{}, dns: map[string]string{},
		serviceHosts: map[string]bool{}, dead: freeAddr(t), portNames: map[[2]string]int32{}}
	configMaps := map[string]map[string]string{}
	for _, cm := range render.Of[*corev1.ConfigMap](objs) {
		configMaps[cm.Name] = cm.Data
	}
	deployments := render.Of[*appsv1.Deployment](objs)
	for _, d := range deployments {
		name := d.Spec.Template.Labels["app.kubernetes.io/name"]
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("Deployment %s: %d containers, want 1", d.Name, len(d.Spec.Template.Spec.Containers))
		}
		p := &pod{service: name, deployment: d, ports: map[int32]string{}, mounts: map[string]string{}}
		for _, cp := range d.Spec.Template.Spec.Containers[0].Ports {
			p.ports[cp.ContainerPort] = freeAddr(t)
		}
		c.pods[name] = p
	}
	// The cluster's DNS: each Service's names and ports, to the container port of the pods it selects.
	for _, svc := range render.Of[*corev1.Service](objs) {
		hosts := []string{svc.Name, svc.Name + "." + namespace, svc.Name + "." + namespace + ".svc", svc.Name + "." + namespace + ".svc.cluster.local"}
		var target *pod
		for _, p := range c.pods {
			if len(svc.Spec.Selector) > 0 && selects(svc.Spec.Selector, p.deployment.Spec.Template.Labels) {
				target = p
			}
		}
		for _, h := range hosts {
			c.serviceHosts[h] = true
		}
		for _, sp := range svc.Spec.Ports {
			c.portNames[[2]string{svc.Name, sp.Name}] = sp.Port
			addr := c.dead
			if target != nil {
				if cp, ok := containerPort(target.deployment, sp.TargetPort); ok {
					if a, ok := target.ports[cp]; ok {
						addr = a
					}
				}
			}
			for _, h := range hosts {
				c.dns[net.JoinHostPort(h, strconv.Itoa(int(sp.Port)))] = addr
			}
		}
	}
	for _, p := range c.pods {
		env, err := resolveEnv(p.deployment, namespace, configMaps, secrets)
		if err != nil {
			t.Fatalf("Deployment %s: %v", p.deployment.Name, err)
		}
		if err := c.writeVolumes(t, p, secrets); err != nil {
			t.Fatalf("Deployment %s: %v", p.deployment.Name, err)
		}
		for k, v := range env {
			mapped, err := c.mapValue(p, v)
			if err != nil {
				t.Fatalf("Deployment %s: %s: %v", p.deployment.Name, k, err)
			}
			env[k] = mapped
		}
		p.env = env
	}
	return c
}

// selects reports whether a label selector matches labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort resolves a port reference (a name or a number) against the Deployment's container.
func containerPort(d *appsv1.Deployment, ref intstr.IntOrString) (int32, bool) {
	for _, cp := range d.Spec.Template.Spec.Containers[0].Ports {
		if (ref.Type == intstr.String && cp.Name == ref.StrVal) || (ref.Type == intstr.Int && cp.ContainerPort == ref.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// listenAddr matches a listen address such as ":9081" or "0.0.0.0:9081".
var listenAddr = regexp.MustCompile(`^(0\.0\.0\.0|\[::\])?:([0-9]+)$`)

// mapValue rewrites one environment value: a listen address to the container port's loopback
// address, a URL of a cluster Service to loopback, a path under a secret volume's mountPath to the
// directory holding its files.
func (c *cluster) mapValue(p *pod, v string) (string, error) {
	if m := listenAddr.FindStringSubmatch(v); m != nil {
		port, _ := strconv.Atoi(m[2])
		addr, ok := p.ports[int32(port)]
		if !ok {
			return "", fmt.Errorf("listens on %s, not a containerPort of the Deployment (ports %v)", v, sortedPorts(p.ports))
		}
		return addr, nil
	}
	for mount, dir := range p.mounts {
		if rest, ok := strings.CutPrefix(v, mount+"/"); ok {
			return filepath.Join(dir, rest), nil
		}
	}
	if u, err := url.Parse(v); err == nil && (u.Scheme == "http" || u.Scheme == "https") && c.serviceHosts[u.Hostname()] {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		addr, ok := c.dns[net.JoinHostPort(u.Hostname(), port)]
		if !ok {
			addr = c.dead // the Service has no such port: nothing answers
		}
		u.Host = addr
		return u.String(), nil
	}
	return v, nil
}

func sortedPorts(m map[int32]string) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// resolveEnv is the container's environment as the kubelet builds it.
func resolveEnv(d *appsv1.Deployment, namespace string, configMaps map[string]map[string]string, secrets secretStore) (map[string]string, error) {
	ctr := d.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, from := range ctr.EnvFrom {
		var (
			data     map[string]string
			ok       bool
			optional bool
			what     string
		)
		switch {
		case from.ConfigMapRef != nil:
			data, ok = configMaps[from.ConfigMapRef.Name]
			optional = from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional
			what = "ConfigMap " + from.ConfigMapRef.Name
		case from.SecretRef != nil:
			data, ok = secrets[from.SecretRef.Name]
			optional = from.SecretRef.Optional != nil && *from.SecretRef.Optional
			what = "Secret " + from.SecretRef.Name
		default:
			return nil, fmt.Errorf("envFrom %+v: unsupported source", from)
		}
		if !ok && !optional {
			return nil, fmt.Errorf("envFrom: %s does not exist", what)
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range ctr.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, env)
			continue
		}
		switch ref := e.ValueFrom; {
		case ref.SecretKeyRef != nil:
			v, ok := secrets[ref.SecretKeyRef.Name][ref.SecretKeyRef.Key]
			if !ok {
				if ref.SecretKeyRef.Optional != nil && *ref.SecretKeyRef.Optional {
					continue
				}
				return nil, fmt.Errorf("env %s: Secret %s has no key %q (the test Secret holds the keys the chart is known to expect)", e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
			}
			env[e.Name] = v
		case ref.ConfigMapKeyRef != nil:
			v, ok := configMaps[ref.ConfigMapKeyRef.Name][ref.ConfigMapKeyRef.Key]
			if !ok {
				if ref.ConfigMapKeyRef.Optional != nil && *ref.ConfigMapKeyRef.Optional {
					continue
				}
				return nil, fmt.Errorf("env %s: ConfigMap %s has no key %q", e.Name, ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key)
			}
			env[e.Name] = v
		case ref.FieldRef != nil:
			switch ref.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = d.Name + "-0"
			case "metadata.namespace":
				env[e.Name] = namespace
			case "status.podIP", "status.hostIP":
				env[e.Name] = "127.0.0.1"
			default:
				return nil, fmt.Errorf("env %s: fieldRef %s not supported by the test", e.Name, ref.FieldRef.FieldPath)
			}
		default:
			return nil, fmt.Errorf("env %s: valueFrom %+v not supported by the test", e.Name, ref)
		}
	}
	return env, nil
}

// expand replaces $(VAR) with VAR's value when VAR is defined, as Kubernetes does; $$ escapes.
func expand(v string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		switch v[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			if end := strings.IndexByte(v[i:], ')'); end > 0 {
				name := v[i+2 : i+end]
				if val, ok := env[name]; ok {
					b.WriteString(val)
					i += end
					continue
				}
			}
			b.WriteByte('$')
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// writeVolumes writes the pod's secret volumes that the container mounts into directories.
func (c *cluster) writeVolumes(t *testing.T, p *pod, secrets secretStore) error {
	volumes := map[string]corev1.Volume{}
	for _, v := range p.deployment.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range p.deployment.Spec.Template.Spec.Containers[0].VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return fmt.Errorf("volumeMount %s: no such volume", m.Name)
		}
		if v.Secret == nil {
			continue // emptyDir /tmp and the like: the process has the machine's
		}
		data, ok := secrets[v.Secret.SecretName]
		if !ok && (v.Secret.Optional == nil || !*v.Secret.Optional) {
			return fmt.Errorf("volume %s: Secret %s does not exist", v.Name, v.Secret.SecretName)
		}
		dir := t.TempDir()
		files := map[string]string{}
		if len(v.Secret.Items) == 0 {
			for k, val := range data {
				files[k] = val
			}
		}
		for _, item := range v.Secret.Items {
			val, ok := data[item.Key]
			if !ok {
				return fmt.Errorf("volume %s: Secret %s has no key %q", v.Name, v.Secret.SecretName, item.Key)
			}
			files[item.Path] = val
		}
		for name, val := range files {
			path := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(val), 0o400); err != nil {
				return err
			}
		}
		p.mounts[strings.TrimRight(m.MountPath, "/")] = dir
	}
	return nil
}

// secretRefs lists every (Secret, key) the Deployments reference, and whether each is optional.
func secretRefs(objs []render.Object) map[[2]string]bool {
	refs := map[[2]string]bool{}
	add := func(name, key string, optional *bool) {
		k := [2]string{name, key}
		opt := optional != nil && *optional
		if prev, seen := refs[k]; seen {
			opt = opt && prev
		}
		refs[k] = opt
	}
	for _, d := range render.Of[*appsv1.Deployment](objs) {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, e.ValueFrom.SecretKeyRef.Optional)
			}
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				for _, item := range v.Secret.Items {
					add(v.Secret.SecretName, item.Key, v.Secret.Optional)
				}
			}
		}
	}
	return refs
}

// TestResolveEnv: the environment resolution follows Kubernetes (envFrom first, env in order and
// overriding it, $(VAR) references, optional references), and a missing non-optional key is an error.
func TestResolveEnv(t *testing.T) {
	optional := true
	d := &appsv1.Deployment{}
	d.Name = "x"
	d.Spec.Template.Spec.Containers = []corev1.Container{{
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			{Name: "B", Value: "env-wins"},
			{Name: "C", Value: "$(A)/x $$(A) $(UNSET)"},
			{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "k"}}},
			{Name: "O", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "absent", Optional: &optional}}},
		},
	}}
	cms := map[string]map[string]string{"cm": {"A": "a", "B": "from-cm"}}
	env, err := resolveEnv(d, "ns", cms, secretStore{"sec": {"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "a", "B": "env-wins", "C": "a/x $(A) $(UNSET)", "S": "v"}
	if len(env) != len(want) {
		t.Errorf("env = %v, want %v", env, want)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, err := resolveEnv(d, "ns", cms, secretStore{"sec": {}}); err == nil || !strings.Contains(err.Error(), `no key "k"`) {
		t.Errorf("missing secret key: err = %v", err)
	}
}
