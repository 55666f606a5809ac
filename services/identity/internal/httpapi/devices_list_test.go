package httpapi_test

import (
	"net/http"
	"regexp"
	"testing"
)

func TestTrustedDevicesListAndRevoke(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	adaID, adaToken := h.signedUp(t, "ada@example.com", "ada", "laptop")
	_, bobToken := h.signedUp(t, "bob@example.com", "bob", "bob-laptop")
	token, code := h.challenge(t, "ada@example.com", "phone")
	h.post(t, "/api/v1/account/device/verify", verifyBody(token, code, "phone")).wantStatus(t, http.StatusOK, "verify phone")

	// Item 21: both devices; without X-Device-Id the session's device is the current one.
	r := h.callAs(t, "GET", "/api/v1/account/devices", adaToken, nil).wantStatus(t, http.StatusOK, "list devices")
	if r.str("message") != "Devices retrieved" || r.at("success") != true {
		t.Errorf("envelope = %s", r.raw)
	}
	list := r.dataList(t)
	if len(list) != 2 {
		t.Fatalf("devices = %v, want laptop and phone", list)
	}
	byDevice := map[string]map[string]any{}
	isoTime := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`)
	for _, d := range list {
		byDevice[d["deviceId"].(string)] = d
		if !validUUIDString(d["id"]) || !isoTime.MatchString(d["lastUsedAt"].(string)) || !isoTime.MatchString(d["createdAt"].(string)) {
			t.Errorf("device = %v, want a UUID id and ISO times", d)
		}
	}
	if byDevice["laptop"]["isCurrent"] != true || byDevice["phone"]["isCurrent"] != false {
		t.Errorf("current marks = %v / %v, want the session's device (laptop)", byDevice["laptop"]["isCurrent"], byDevice["phone"]["isCurrent"])
	}
	if byDevice["phone"]["deviceName"] != "iPhone 15 Pro" || byDevice["phone"]["platform"] != "IOS" {
		t.Errorf("phone = %v, want its name and platform", byDevice["phone"])
	}
	r = h.callAs(t, "GET", "/api/v1/account/devices", adaToken, nil, "X-Device-Id", "phone").wantStatus(t, http.StatusOK, "list with X-Device-Id")
	for _, d := range r.dataList(t) {
		if want := d["deviceId"] == "phone"; d["isCurrent"] != want {
			t.Errorf("with X-Device-Id: phone: %v isCurrent = %v, want %v", d["deviceId"], d["isCurrent"], want)
		}
	}
	phoneKey := byDevice["phone"]["id"].(string)
	laptopKey := byDevice["laptop"]["id"].(string)

	// AudioPod GET /api/v1/auth/devices: {devices, total_count, active_count, trusted_count,
	// current_device}. A sign-in from the laptop through the ingress gives it a location, a time zone
	// and a last sign-in method.
	li := h.callAs(t, "POST", "/api/v1/auth/login", "", map[string]any{"identifier": "ada", "password": goodPassword, "device_id": "laptop", "timezone": "Europe/Berlin"},
		geoHeader, "Nairobi, KE").wantStatus(t, http.StatusOK, "login from the laptop")
	laptopToken, laptopSession := li.str("access_token"), li.str("session_id")
	env := h.callAs(t, "GET", "/api/v1/auth/devices", laptopToken, nil).wantStatus(t, http.StatusOK, "auth/devices")
	plain, ok := env.body["devices"].([]any)
	if !ok || len(plain) != 2 {
		t.Fatalf("auth/devices = %s, want {devices: [2 devices], ...}", env.raw)
	}
	if env.body["total_count"] != float64(2) || env.body["active_count"] != float64(2) || env.body["trusted_count"] != float64(2) {
		t.Errorf("counts = %s, want 2, 2, 2", env.raw)
	}
	if cur, _ := env.body["current_device"].(map[string]any); cur["device_fingerprint"] != "laptop" || cur["current_session_id"] != laptopSession {
		t.Errorf("current_device = %v, want the laptop with session %s", env.body["current_device"], laptopSession)
	}
	for _, item := range plain {
		d := item.(map[string]any)
		for _, f := range []string{"id", "device_fingerprint", "display_name", "browser", "os", "device_type", "ip_address", "location",
			"first_seen", "last_seen", "login_count", "is_active", "is_current_session", "is_trusted",
			"timezone", "last_login_method", "is_blocked", "current_session_id"} {
			if _, ok := d[f]; !ok {
				t.Errorf("device %v lacks %s", d["device_fingerprint"], f)
			}
		}
		if d["is_trusted"] != true || d["is_active"] != true || d["is_blocked"] != false {
			t.Errorf("device = %v, want trusted, active, not blocked", d)
		}
		if want := d["device_fingerprint"] == "laptop"; d["is_current_session"] != want {
			t.Errorf("%v is_current_session = %v, want %v", d["device_fingerprint"], d["is_current_session"], want)
		}
		switch d["device_fingerprint"] {
		case "phone":
			if d["login_count"] != float64(1) || d["ip_address"] != "198.51.100.7" || d["display_name"] != "iPhone 15 Pro" ||
				d["location"] != nil || d["timezone"] != nil || d["current_session_id"] != nil || d["last_login_method"] != "password" {
				t.Errorf("phone = %v, want one password sign-in from 198.51.100.7, no location, time zone or session of the caller", d)
			}
		case "laptop":
			if d["location"] != "Nairobi, KE" || d["timezone"] != "Europe/Berlin" || d["last_login_method"] != "password" || d["current_session_id"] != laptopSession {
				t.Errorf("laptop = %v, want location, time zone, method and the caller's session", d)
			}
		}
	}
	for _, q := range []string{"?include_inactive=maybe"} {
		if r := h.callAs(t, "GET", "/api/v1/auth/devices"+q, adaToken, nil); r.status != http.StatusUnprocessableEntity {
			t.Errorf("auth/devices%s = %d %s, want 422", q, r.status, r.raw)
		}
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/login", "", map[string]any{"identifier": "ada", "password": goodPassword, "device_id": "laptop", "timezone": "Mars/Olympus"}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("login with an unknown time zone = %d %s, want 422", r.status, r.raw)
	}

	// Object-level authorization and validation of item 22.
	cases := []struct {
		name, token, path string
		want              int
	}{
		{"another account's device", bobToken, "/api/v1/account/devices/" + laptopKey, http.StatusNotFound},
		{"unknown key", adaToken, "/api/v1/account/devices/7d0c8a2e-4a57-4b9c-9f0e-1a2b3c4d5e6f", http.StatusNotFound},
		{"malformed key", adaToken, "/api/v1/account/devices/not-a-uuid", http.StatusUnprocessableEntity},
		{"no token", "", "/api/v1/account/devices/" + phoneKey, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "DELETE", tc.path, tc.token, nil)
			if r.status != tc.want || r.at("success") != false || r.str("httpStatus") != statusName(tc.want) {
				t.Errorf("status = %d %s, want the %d envelope", r.status, r.raw, tc.want)
			}
		})
	}
	if got := h.callAs(t, "GET", "/api/v1/account/devices", bobToken, nil).dataList(t); len(got) != 1 || got[0]["deviceId"] != "bob-laptop" {
		t.Errorf("bob's devices = %v, want only his own", got)
	}
	if r := h.callAs(t, "GET", "/api/v1/account/devices", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("list without token = %d, want 401", r.status)
	}

	// Revoking the phone: the next sign-in from it needs device verification again.
	r = h.callAs(t, "DELETE", "/api/v1/account/devices/"+phoneKey, adaToken, nil).wantStatus(t, http.StatusOK, "revoke")
	if r.str("message") != "Device revoked" || r.at("data") != nil {
		t.Errorf("revoke = %s", r.raw)
	}
	if r := h.post(t, "/api/v1/auth/login", login("ada", goodPassword, "phone")); r.str("challenge") != "device_verification" {
		t.Errorf("login from revoked device = %s, want a device challenge", r.raw)
	}
	if r := h.callAs(t, "DELETE", "/api/v1/account/devices/"+phoneKey, adaToken, nil); r.status != http.StatusNotFound {
		t.Errorf("second revoke = %d, want 404", r.status)
	}
	// The revoked phone is inactive: left out by default, listed with include_inactive=true.
	env = h.callAs(t, "GET", "/api/v1/auth/devices", laptopToken, nil).wantStatus(t, http.StatusOK, "auth/devices after revoke")
	if devs, _ := env.body["devices"].([]any); len(devs) != 1 || env.body["total_count"] != float64(1) {
		t.Errorf("auth/devices after revoke = %s, want the laptop only", env.raw)
	}
	env = h.callAs(t, "GET", "/api/v1/auth/devices?include_inactive=true", laptopToken, nil).wantStatus(t, http.StatusOK, "include_inactive")
	devs, _ := env.body["devices"].([]any)
	if len(devs) != 2 || env.body["total_count"] != float64(2) || env.body["active_count"] != float64(1) || env.body["trusted_count"] != float64(1) {
		t.Fatalf("include_inactive = %s, want 2 devices, 1 active and trusted", env.raw)
	}
	for _, item := range devs {
		d := item.(map[string]any)
		if want := d["device_fingerprint"] != "phone"; d["is_active"] != want || d["is_trusted"] != want {
			t.Errorf("%v: is_active %v is_trusted %v, want %v", d["device_fingerprint"], d["is_active"], d["is_trusted"], want)
		}
	}
	_ = adaID
}

func validUUIDString(v any) bool {
	s, _ := v.(string)
	return regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(s)
}
