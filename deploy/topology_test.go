package deploy_test

import (
	"slices"
	"testing"

	"github.com/latchkey/latchkey/deploy/render"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A pod as a NetworkPolicy sees it: its labels, its namespace's labels and its container ports.
type policyPod struct {
	labels   map[string]string
	nsLabels map[string]string
	ports    []corev1.ContainerPort
}

func selectorMatches(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(set))
}

// peerAdmits reports whether a NetworkPolicyPeer list selects pod (from a policy in namespace ns).
func peerAdmits(t *testing.T, peers []networkingv1.NetworkPolicyPeer, ns map[string]string, pod policyPod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			continue // pods are matched by selectors here; an ipBlock is checked by TestChartNetworkPoliciesNeverOpen's rules
		}
		if p.NamespaceSelector == nil {
			if labels.Equals(ns, pod.nsLabels) && (p.PodSelector == nil || selectorMatches(t, p.PodSelector, pod.labels)) {
				return true
			}
			continue
		}
		if selectorMatches(t, p.NamespaceSelector, pod.nsLabels) && (p.PodSelector == nil || selectorMatches(t, p.PodSelector, pod.labels)) {
			return true
		}
	}
	return false
}

// portAdmits reports whether a rule's ports include a container port of the target pod.
func portAdmits(ports []networkingv1.NetworkPolicyPort, target corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.String && p.Port.StrVal == target.Name && target.Name != "" {
			return true
		}
		if p.Port.Type == intstr.Int {
			end := p.Port.IntVal
			if p.EndPort != nil {
				end = *p.EndPort
			}
			if target.ContainerPort >= p.Port.IntVal && target.ContainerPort <= end {
				return true
			}
		}
	}
	return false
}

// ingressAdmits: does the policy np (protecting target) admit from on the target's port?
func ingressAdmits(t *testing.T, np *networkingv1.NetworkPolicy, ns map[string]string, from policyPod, port corev1.ContainerPort) bool {
	for _, rule := range np.Spec.Ingress {
		if portAdmits(rule.Ports, port) && peerAdmits(t, rule.From, ns, from) {
			return true
		}
	}
	return false
}

// egressAdmits: does the policy np (of the caller) admit traffic to pod on port? Ports in egress
// rules are the destination's, matched by number (a name would be the destination's port name).
func egressAdmits(t *testing.T, np *networkingv1.NetworkPolicy, ns map[string]string, to policyPod, port corev1.ContainerPort) bool {
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		return true
	}
	for _, rule := range np.Spec.Egress {
		if portAdmits(rule.Ports, port) && peerAdmits(t, rule.To, ns, to) {
			return true
		}
	}
	return false
}

// TestChartNetworkPoliciesMatchTopology: with every values file, each service's NetworkPolicy admits
// on its internal port exactly the services that call it in routes.yaml (and no other pod of the
// namespace, nor the callers of another release), and each caller's egress reaches the internal port
// of exactly the services it calls.
func TestChartNetworkPoliciesMatchTopology(t *testing.T) {
	table := routeTable(t)
	const ns = "latchkey"
	nsLabels := map[string]string{"kubernetes.io/metadata.name": ns}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := renderChart(t, vs)
			pods := map[string]policyPod{}
			for _, d := range render.Of[*appsv1.Deployment](objs) {
				name := d.Spec.Template.Labels["app.kubernetes.io/name"]
				pods[name] = policyPod{labels: d.Spec.Template.Labels, nsLabels: nsLabels, ports: d.Spec.Template.Spec.Containers[0].Ports}
			}
			policies := map[string]*networkingv1.NetworkPolicy{}
			for _, np := range render.Of[*networkingv1.NetworkPolicy](objs) {
				for name, pod := range pods {
					if selectorMatches(t, &np.Spec.PodSelector, pod.labels) {
						if policies[name] != nil {
							t.Fatalf("%s is selected by two NetworkPolicies", name)
						}
						policies[name] = np
					}
				}
			}
			internalPort := func(name string) corev1.ContainerPort {
				for _, p := range pods[name].ports {
					if p.ContainerPort == int32(table.Services[name].InternalPort) {
						return p
					}
				}
				t.Fatalf("%s: no containerPort %d (routes.yaml internalPort)", name, table.Services[name].InternalPort)
				return corev1.ContainerPort{}
			}
			strangers := map[string]policyPod{
				"another pod of the namespace": {labels: map[string]string{"app.kubernetes.io/name": "debug", "app.kubernetes.io/instance": "latchkey"}, nsLabels: nsLabels},
				"another release's identity":   {labels: map[string]string{"app.kubernetes.io/name": "identity", "app.kubernetes.io/instance": "other"}, nsLabels: nsLabels},
			}
			for _, callee := range services {
				np := policies[callee]
				if np == nil {
					t.Fatalf("no NetworkPolicy selects %s", callee)
				}
				port := internalPort(callee)
				callers := table.Callers(callee)
				for _, caller := range services {
					if caller == callee {
						continue
					}
					want := slices.Contains(callers, caller)
					if got := ingressAdmits(t, np, nsLabels, pods[caller], port); got != want {
						t.Errorf("%s's policy admits %s on its internal port %d: %v, want %v (routes.yaml calls)", callee, caller, port.ContainerPort, got, want)
					}
					if got := egressAdmits(t, policies[caller], nsLabels, pods[callee], port); want && !got {
						t.Errorf("%s's egress does not reach %s's internal port %d, which it calls", caller, callee, port.ContainerPort)
					} else if !want && got && slices.Contains(policies[caller].Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
						t.Errorf("%s's egress reaches %s's internal port %d, which it does not call", caller, callee, port.ContainerPort)
					}
				}
				for what, pod := range strangers {
					if ingressAdmits(t, np, nsLabels, pod, port) {
						t.Errorf("%s's policy admits %s on its internal port", callee, what)
					}
				}
			}
		})
	}
}
