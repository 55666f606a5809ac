package deploy_test

import (
	"net/url"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/latchkey/latchkey/deploy/render"
)

// statusCallbackPath is the route Twilio calls with delivery statuses (charts/latchkey/routes.yaml).
const statusCallbackPath = "/api/v1/notifications/twilio/status"

// providerSecrets are the notification service's provider credentials and their Secret keys.
var providerSecrets = map[string]string{
	"TWILIO_ACCOUNT_SID": "twilio-account-sid", "TWILIO_AUTH_TOKEN": "twilio-auth-token",
	"SMTP_USERNAME": "smtp-username", "SMTP_PASSWORD": "smtp-password",
}

// notificationEnv is the notification container's environment as rendered: its ConfigMap and its
// Secret references.
func notificationEnv(t *testing.T, objs []render.Object) (map[string]string, map[string]*corev1.SecretKeySelector) {
	t.Helper()
	cm, ok := byName(render.Of[*corev1.ConfigMap](objs))["latchkey-notification"]
	if !ok {
		t.Fatal("no ConfigMap latchkey-notification")
	}
	d, ok := byName(render.Of[*appsv1.Deployment](objs))["latchkey-notification"]
	if !ok {
		t.Fatal("no Deployment latchkey-notification")
	}
	secrets := map[string]*corev1.SecretKeySelector{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secrets[e.Name] = e.ValueFrom.SecretKeyRef
		}
	}
	return cm.Data, secrets
}

// TestChartDeliveryIsLive: the default and the production values send codes (Twilio and SMTP), with
// the providers' settings as values, their credentials as Secret keys and egress open to them; neither
// selects the dev outbox, turns on its route or development mode (the service refuses the outbox
// without it, see services/notification/internal/config).
func TestChartDeliveryIsLive(t *testing.T) {
	for _, vs := range []valueSet{valueSets[0], valueSets[2]} {
		t.Run(vs.name, func(t *testing.T) {
			objs := renderChart(t, vs)
			env, secrets := notificationEnv(t, objs)
			if env["DELIVERY_DRIVER"] != "live" {
				t.Errorf("DELIVERY_DRIVER = %q, want live", env["DELIVERY_DRIVER"])
			}
			for _, k := range []string{"DEVELOPMENT_MODE", "DEV_OUTBOX_ENABLED"} {
				if v, ok := env[k]; ok {
					t.Errorf("%s = %q is rendered; only the dev values may set it", k, v)
				}
			}
			for _, k := range []string{"TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_STATUS_CALLBACK_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "SMTP_TLS"} {
				if _, ok := env[k]; !ok {
					t.Errorf("provider setting %s is not a value of the chart", k)
				}
			}
			if !slices.Contains([]string{"starttls", "tls"}, env["SMTP_TLS"]) {
				t.Errorf("SMTP_TLS = %q, want starttls or tls", env["SMTP_TLS"])
			}
			for name, key := range providerSecrets {
				ref, ok := secrets[name]
				if !ok {
					t.Errorf("%s is not read from the Secret", name)
					continue
				}
				if ref.Key != key {
					t.Errorf("%s reads key %q, want %q", name, ref.Key, key)
				}
				if _, plain := env[name]; plain {
					t.Errorf("%s is in the ConfigMap", name)
				}
			}
			np, ok := byName(render.Of[*networkingv1.NetworkPolicy](objs))["latchkey-notification"]
			if !ok {
				t.Fatal("no NetworkPolicy latchkey-notification")
			}
			var ports []string
			for _, rule := range np.Spec.Egress {
				for _, p := range rule.Ports {
					ports = append(ports, p.Port.String())
				}
			}
			for _, want := range []string{"443", env["SMTP_PORT"]} {
				if !slices.Contains(ports, want) {
					t.Errorf("egress ports %v: the providers' port %s is closed", ports, want)
				}
			}
		})
	}
}

// TestChartProductionDeliverySettings: the production example is complete: senders, an SMTP relay,
// required credentials (a pod without them does not start), and a status callback URL on the
// production host that the production Ingress and HTTPRoute route to the notification service.
func TestChartProductionDeliverySettings(t *testing.T) {
	objs := renderChart(t, valueSets[2])
	env, secrets := notificationEnv(t, objs)
	for _, k := range []string{"TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM", "SMTP_HOST", "SMTP_FROM"} {
		if env[k] == "" {
			t.Errorf("production %s is empty", k)
		}
	}
	for name := range providerSecrets {
		if ref := secrets[name]; ref == nil || ref.Name != "latchkey" || (ref.Optional != nil && *ref.Optional) {
			t.Errorf("production %s = %+v, want a required key of the Secret latchkey", name, ref)
		}
	}
	cb, err := url.Parse(env["TWILIO_STATUS_CALLBACK_URL"])
	if err != nil || cb.Scheme != "https" || cb.Path != statusCallbackPath {
		t.Fatalf("TWILIO_STATUS_CALLBACK_URL = %q, want https://<host>%s", env["TWILIO_STATUS_CALLBACK_URL"], statusCallbackPath)
	}
	var hosts []string
	for _, ing := range render.Of[*networkingv1.Ingress](objs) {
		for _, rule := range ing.Spec.Rules {
			hosts = append(hosts, rule.Host)
		}
	}
	if !slices.Contains(hosts, cb.Host) {
		t.Errorf("status callback host %q is not an Ingress host %v", cb.Host, hosts)
	}
	for name, route := range map[string]router{"Ingress": ingressRouter(t, objs), "HTTPRoute": httpRouteRouter(t, objs)} {
		if got := route(cb.Path); got != "notification" {
			t.Errorf("%s sends %s to %q, want notification", name, cb.Path, got)
		}
	}
}

// TestChartDevelopmentModeOnlyInDev: the outbox driver and the dev outbox route come only with
// DEVELOPMENT_MODE=true, which only the dev values (Tilt) and the dev overlay set, and only for the
// notification service.
func TestChartDevelopmentModeOnlyInDev(t *testing.T) {
	check := func(t *testing.T, objs []render.Object, wantDev bool) {
		t.Helper()
		for name, cm := range byName(render.Of[*corev1.ConfigMap](objs)) {
			dev := cm.Data["DEVELOPMENT_MODE"] == "true"
			if name != "latchkey-notification" {
				if _, ok := cm.Data["DEVELOPMENT_MODE"]; ok {
					t.Errorf("%s sets DEVELOPMENT_MODE", name)
				}
				continue
			}
			if dev != wantDev {
				t.Errorf("DEVELOPMENT_MODE = %q, want development %v", cm.Data["DEVELOPMENT_MODE"], wantDev)
			}
			outbox := cm.Data["DELIVERY_DRIVER"] == "outbox" || cm.Data["DEV_OUTBOX_ENABLED"] == "true"
			if outbox != wantDev {
				t.Errorf("DELIVERY_DRIVER = %q, DEV_OUTBOX_ENABLED = %q: outbox %v, want %v", cm.Data["DELIVERY_DRIVER"], cm.Data["DEV_OUTBOX_ENABLED"], outbox, wantDev)
			}
		}
	}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) { check(t, renderChart(t, vs), vs.name == "dev") })
	}
	t.Run("kustomize dev overlay", func(t *testing.T) { check(t, buildOverlay(t, overlays[1]), true) })
}

// TestDevOutboxNeverRouted: with every values file, neither the Ingress nor the HTTPRoute routes the
// dev outbox (routes.yaml devOnly), even with both switched on.
func TestDevOutboxNeverRouted(t *testing.T) {
	for _, vs := range valueSets {
		vs.set = append(slices.Clone(vs.set), "ingress.enabled=true", "gatewayAPI.enabled=true",
			"gatewayAPI.parentRefs[0].name=public")
		t.Run(vs.name, func(t *testing.T) {
			objs := renderChart(t, vs)
			for name, route := range map[string]router{"Ingress": ingressRouter(t, objs), "HTTPRoute": httpRouteRouter(t, objs)} {
				if got := route("/api/v1/dev/outbox"); got != "" {
					t.Errorf("%s routes the dev outbox to %q", name, got)
				}
				if got := route(statusCallbackPath); got != "notification" {
					t.Errorf("%s routes the Twilio status callback to %q, want notification", name, got)
				}
			}
		})
	}
}
