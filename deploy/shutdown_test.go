package deploy_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// closeAllowance is the time a service needs after its HTTP servers have stopped: the workers finish
// the event in hand, the Kafka producer flushes, MongoDB disconnects, traces are flushed.
const closeAllowance = 5 * time.Second

// TestChartGracePeriodCoversShutdown: Kubernetes kills a pod terminationGracePeriodSeconds after
// SIGTERM. A service needs SHUTDOWN_DRAIN_DELAY (serving while /readyz fails), then up to
// SHUTDOWN_TIMEOUT for requests in flight, then closeAllowance; a shorter grace period kills it in
// the middle of a request or before the consumers commit. A bad duration is refused by the service
// at start-up, and here.
func TestChartGracePeriodCoversShutdown(t *testing.T) {
	broken := valueSet{name: "grace period too short", set: []string{"serviceDefaults.terminationGracePeriodSeconds=20"}}
	for _, vs := range append(valueSets, broken) {
		t.Run(vs.name, func(t *testing.T) {
			objs := renderChart(t, vs)
			cms := byName(render.Of[*corev1.ConfigMap](objs))
			var short []string
			for name, d := range byName(render.Of[*appsv1.Deployment](objs)) {
				cm, ok := cms[name]
				if !ok {
					t.Fatalf("no ConfigMap %s", name)
				}
				drain, err := time.ParseDuration(cm.Data["SHUTDOWN_DRAIN_DELAY"])
				if err != nil {
					t.Fatalf("%s: SHUTDOWN_DRAIN_DELAY: %v", name, err)
				}
				timeout, err := time.ParseDuration(cm.Data["SHUTDOWN_TIMEOUT"])
				if err != nil {
					t.Fatalf("%s: SHUTDOWN_TIMEOUT: %v", name, err)
				}
				grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
				if grace == nil {
					t.Fatalf("%s: no terminationGracePeriodSeconds", name)
				}
				if need := drain + timeout + closeAllowance; time.Duration(*grace)*time.Second < need {
					short = append(short, name)
					if vs.name != broken.name {
						t.Errorf("%s: terminationGracePeriodSeconds %d < SHUTDOWN_DRAIN_DELAY %s + SHUTDOWN_TIMEOUT %s + %s",
							name, *grace, drain, timeout, closeAllowance)
					}
				}
			}
			if vs.name == broken.name && len(short) == 0 {
				t.Error("a grace period shorter than drain + timeout was not noticed")
			}
		})
	}
}
