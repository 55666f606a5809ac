// Package render turns Latchkey's deployment sources into Kubernetes objects the way the tools do:
// the Helm chart through helm's Go SDK (what `helm template` and `helm install` run) and the kustomize
// overlays through kustomize's krusty (what `kubectl kustomize` runs). Every object is decoded
// strictly into its Kubernetes API type, so a misspelled or misplaced field is an error, not a field
// the API server silently drops.
package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one rendered Kubernetes object.
type Object struct {
	// GVK is the object's apiVersion and kind.
	GVK schema.GroupVersionKind
	// Name is metadata.name.
	Name string
	// Source says where the object came from, e.g. "latchkey/templates/deployment.yaml".
	Source string
	// YAML is the object as rendered.
	YAML []byte
	// Typed is the object decoded into its API type (*appsv1.Deployment, *gatewayv1.HTTPRoute ...).
	Typed runtime.Object
}

// String names the object for messages, e.g. "Deployment latchkey-identity".
func (o Object) String() string { return o.GVK.Kind + " " + o.Name }

// Scheme knows the built-in Kubernetes API types, the Gateway API's and the Prometheus Operator's
// (ServiceMonitor, PrometheusRule).
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gatewayv1.Install, monitoringv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("render: build scheme: %v", err))
		}
	}
	return s
}

// strict decodes YAML into the scheme's types and refuses unknown and duplicate fields.
var strict = json.NewSerializerWithOptions(json.DefaultMetaFactory, Scheme, Scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// Decode splits a multi-document YAML stream and decodes every object strictly. Empty documents are
// skipped; a document of an unknown kind is an error.
func Decode(source string, stream []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var objs []Object
	var errs []error
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: split YAML: %w", source, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		src := source
		if s := sourceComment(doc); s != "" {
			src = s
		}
		typed, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
			continue
		}
		name := ""
		if m, ok := typed.(interface{ GetName() string }); ok {
			name = m.GetName()
		}
		objs = append(objs, Object{GVK: *gvk, Name: name, Source: src, YAML: doc, Typed: typed})
	}
	return objs, errors.Join(errs...)
}

// Chart renders the chart in dir like `helm template <release> <dir> -n <namespace> -f <valueFiles>...
// --set <set>...`, hooks included, and decodes the result strictly. Values that break the chart's
// values.schema.json are refused.
func Chart(dir, release, namespace string, valueFiles, set []string) ([]Object, error) {
	manifest, err := ChartManifest(dir, release, namespace, valueFiles, set)
	if err != nil {
		return nil, err
	}
	return Decode(filepath.Base(dir), []byte(manifest))
}

// ChartManifest renders the chart and returns the manifest text (hooks appended).
func ChartManifest(dir, release, namespace string, valueFiles, set []string) (string, error) {
	rel, err := Install(dir, release, namespace, valueFiles, set)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	hooks := rel.Hooks
	sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Path < hooks[j].Path })
	for _, h := range hooks {
		fmt.Fprintf(&b, "\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
}

// Install runs a client-only dry-run install (what `helm template` does) and returns the release:
// its manifest, hooks and NOTES.txt.
func Install(dir, release, namespace string, valueFiles, set []string) (*helmrelease.Release, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals, err := (&values.Options{ValueFiles: valueFiles, Values: set}).MergeValues(getter.Providers{})
	if err != nil {
		return nil, fmt.Errorf("read values: %w", err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = release
	install.Namespace = namespace
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", dir, err)
	}
	return rel, nil
}

// Lint runs `helm lint --strict` on the chart with the given values files: every warning is an error.
func Lint(dir string, valueFiles []string) error {
	vals, err := (&values.Options{ValueFiles: valueFiles}).MergeValues(getter.Providers{})
	if err != nil {
		return fmt.Errorf("read values: %w", err)
	}
	lint := action.NewLint()
	lint.Strict = true
	lint.Namespace = "latchkey"
	res := lint.Run([]string{dir}, vals)
	var errs []error
	for _, m := range res.Messages {
		if m.Severity > 1 { // support.InfoSev; --strict fails on warnings
			errs = append(errs, fmt.Errorf("%s", m.Error()))
		}
	}
	errs = append(errs, res.Errors...)
	return errors.Join(errs...)
}

// KubeVersion is the Kubernetes version the chart is rendered for.
var KubeVersion = chartutil.DefaultCapabilities.KubeVersion

// Kustomize builds the kustomization in dir like `kubectl kustomize <dir>` and decodes the result
// strictly.
func Kustomize(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return Decode(dir, out)
}

// Of returns the objects of the given kind.
func Of[T runtime.Object](objs []Object) []T {
	var out []T
	for _, o := range objs {
		if t, ok := o.Typed.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func sourceComment(doc []byte) string {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if s, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("# Source: ")); ok {
			return string(s)
		}
	}
	return ""
}
