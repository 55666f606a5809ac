package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// TestREADMEDeployCommands runs the README's "Deploy with Helm" block the way this module can: each
// command is either carried out here (helm lint, the install's rendering) or recognised as one the
// tests run (make tools before make test; the signing key TestChartRun generates), and the Secrets
// the block creates must hold every Secret key the installed pods require. A command the tests do not
// exercise fails the test, so the README cannot drift from what is tested.
func TestREADMEDeployCommands(t *testing.T) {
	cmds := readmeDeployCommands(t)
	if len(cmds) == 0 {
		t.Fatal("no commands found under README.md's \"## Deploy with Helm\"")
	}
	namespace := ""
	secrets := map[string]map[string]bool{} // Secret name → keys the block creates
	generated := map[string]bool{}          // files the block writes
	installed := false
	for _, args := range cmds {
		line := strings.Join(args, " ")
		switch {
		case len(args) == 4 && args[0] == "kubectl" && args[1] == "create" && args[2] == "namespace":
			namespace = args[3]

		case len(args) >= 7 && args[0] == "kubectl" && args[1] == "-n" && args[3] == "create" && args[4] == "secret" && args[5] == "generic":
			if args[2] != namespace {
				t.Errorf("%s: namespace %q, want the one created, %q", line, args[2], namespace)
			}
			keys := map[string]bool{}
			for _, a := range args[7:] {
				switch {
				case strings.HasPrefix(a, "--from-literal="):
					k, v, ok := strings.Cut(strings.TrimPrefix(a, "--from-literal="), "=")
					if !ok || k == "" || v == "" {
						t.Errorf("%s: %q has no key or value", line, a)
					}
					keys[k] = true
				case strings.HasPrefix(a, "--from-file="):
					spec := strings.TrimPrefix(a, "--from-file=")
					key, file, ok := strings.Cut(spec, "=")
					if !ok {
						key, file = filepath.Base(spec), spec
					}
					if !generated[file] {
						t.Errorf("%s: %s is not a file the block wrote before", line, file)
					}
					keys[key] = true
				default:
					t.Errorf("%s: unknown argument %q", line, a)
				}
			}
			secrets[args[6]] = keys

		case len(args) == 6 && args[0] == "openssl" && args[1] == "genpkey" && args[2] == "-algorithm" && args[3] == "ed25519" && args[4] == "-out":
			// An Ed25519 key in PKCS#8 PEM, the form TestChartRun generates for the session service.
			generated[args[5]] = true

		case line == "make tools":
			makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(makefile), "\ntest: tools") {
				t.Errorf("make tools: the Makefile's test target no longer builds the tools first")
			}

		case len(args) >= 4 && args[0] == "bin/helm" && args[1] == "lint" && args[2] == "--strict":
			chart, files := helmArgs(t, line, args[3:], nil)
			if err := render.Lint(chart, files); err != nil {
				t.Errorf("%s: %v", line, err)
			}

		case len(args) >= 4 && args[0] == "bin/helm" && args[1] == "install":
			var ns string
			chart, files := helmArgs(t, line, args[3:], &ns)
			if ns != namespace {
				t.Errorf("%s: namespace %q, want %q", line, ns, namespace)
			}
			if !slices.Equal(files, valueSets[2].files) {
				t.Errorf("%s: values %v; TestChartRun runs the install with %v", line, files, valueSets[2].files)
			}
			objs, err := render.Chart(chart, args[2], ns, files, nil)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			for _, need := range requiredSecretKeys(objs) {
				if keys, ok := secrets[need[0]]; !ok || (need[1] != "" && !keys[need[1]]) {
					t.Errorf("%s: the pods need key %q of Secret %q, which the block does not create", line, need[1], need[0])
				}
			}
			installed = true

		default:
			t.Errorf("README deploy command not exercised by any test: %s", line)
		}
	}
	if !installed {
		t.Error("the block installs nothing")
	}
}

// helmArgs reads `<chart> [-n ns] [-f file]...` (paths relative to the repository root). ns, when
// given, receives -n.
func helmArgs(t *testing.T, line string, args []string, ns *string) (chart string, files []string) {
	t.Helper()
	chart = filepath.Join(root, args[0])
	if filepath.Clean(chart) != filepath.Clean(chartDir) {
		t.Errorf("%s: chart %s, want charts/latchkey", line, args[0])
	}
	for i := 1; i < len(args); i++ {
		switch {
		case args[i] == "-f" && i+1 < len(args):
			files = append(files, filepath.Join(root, args[i+1]))
			i++
		case args[i] == "-n" && ns != nil && i+1 < len(args):
			*ns = args[i+1]
			i++
		default:
			t.Errorf("%s: argument %q not understood by the test", line, args[i])
		}
	}
	return chart, files
}

// requiredSecretKeys lists the (Secret, key) pairs a rendered release's pods cannot start without:
// non-optional secretKeyRefs and secret volumes of Deployments and Jobs (key "" when a volume takes the
// whole Secret).
func requiredSecretKeys(objs []render.Object) [][2]string {
	var specs []corev1.PodSpec
	for _, d := range render.Of[*appsv1.Deployment](objs) {
		specs = append(specs, d.Spec.Template.Spec)
	}
	for _, j := range render.Of[*batchv1.Job](objs) {
		specs = append(specs, j.Spec.Template.Spec)
	}
	var out [][2]string
	for _, spec := range specs {
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			for _, e := range c.Env {
				if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && (ref.SecretKeyRef.Optional == nil || !*ref.SecretKeyRef.Optional) {
					out = append(out, [2]string{ref.SecretKeyRef.Name, ref.SecretKeyRef.Key})
				}
			}
		}
		for _, v := range spec.Volumes {
			if s := v.Secret; s != nil && (s.Optional == nil || !*s.Optional) {
				if len(s.Items) == 0 {
					out = append(out, [2]string{s.SecretName, ""}) // the whole Secret
				}
				for _, item := range s.Items {
					out = append(out, [2]string{s.SecretName, item.Key})
				}
			}
		}
	}
	return out
}

// readmeDeployCommands returns the commands of the first sh block under README.md's "## Deploy with
// Helm", split into words as a shell would (quotes removed, continuation lines joined, comments dropped).
func readmeDeployCommands(t *testing.T) [][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Deploy with Helm\n")
	if !ok {
		t.Fatal("README.md has no \"## Deploy with Helm\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("no sh block in README.md's deploy section")
	}
	block, _, _ = strings.Cut(block, "```")
	block = strings.ReplaceAll(block, "\\\n", " ")
	var cmds [][]string
	for _, line := range strings.Split(block, "\n") {
		if words := shellWords(t, line); len(words) > 0 {
			cmds = append(cmds, words)
		}
	}
	return cmds
}

// shellWords splits a command line into words: single and double quotes group (their contents are
// kept as written, $(…) included), an unquoted # starts a comment.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var (
		words []string
		cur   strings.Builder
		inTok bool
		quote rune
	)
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inTok = r, true
		case r == ' ' || r == '\t':
			if inTok {
				words = append(words, cur.String())
				cur.Reset()
				inTok = false
			}
		case r == '#' && !inTok:
			return words
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in README line %q", line)
	}
	if inTok {
		words = append(words, cur.String())
	}
	return words
}
