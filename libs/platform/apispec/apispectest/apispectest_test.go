package apispectest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func exchange(method, path, reqBody string, status int, respBody string) error {
	req := httptest.NewRequest(method, path, strings.NewReader(reqBody))
	req.Header.Set("Content-Type", "application/json")
	h := http.Header{"Content-Type": []string{"application/json"}}
	return check(req, []byte(reqBody), status, h, []byte(respBody))
}

const okEnvelope = `{"success":true,"httpStatus":"OK","message":"Username changed successfully","action_time":"2024-01-15T10:30:00","data":{"oldUsername":null,"newUsername":"ada"}}`

func TestCheckAcceptsDocumentedAnswers(t *testing.T) {
	for name, err := range map[string]error{
		"envelope 200": exchange("POST", "/api/v1/account/username/change", `{"username":"ada"}`, 200, okEnvelope),
		"envelope 422": exchange("POST", "/api/v1/account/username/change", `{`, 422,
			`{"success":false,"httpStatus":"UNPROCESSABLE_ENTITY","message":"Validation failed","action_time":"2024-01-15T10:30:00","data":{"username":"Field required"}}`),
		"plain 422": exchange("POST", "/api/v1/auth/login", `{}`, 422,
			`{"detail":[{"loc":["body","identifier"],"msg":"Field required","type":"missing"}]}`),
		"plain 401":        exchange("POST", "/api/v1/auth/login", `{}`, 401, `{"detail":"Invalid credentials"}`),
		"literal wins":     exchange("GET", "/api/v1/account/username/check?username=ada", "", 200, `{"success":true,"httpStatus":"OK","message":"Username available","action_time":"2024-01-15T10:30:00","data":{"username":"ada","available":true,"reason":null,"suggestions":null}}`),
		"unknown path 404": exchange("GET", "/nope", "", 404, `{"detail":"Not Found"}`),
		"204 no body":      exchange("DELETE", "/api/v1/auth/api-keys/abc", "", 204, ``),
		"devices listing":  exchange("GET", "/api/v1/auth/devices", "", 200, `{"devices":[],"total_count":0,"active_count":0,"trusted_count":0,"current_device":null}`),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckRejectsDrift(t *testing.T) {
	for name, err := range map[string]error{
		"renamed field": exchange("POST", "/api/v1/account/username/change", `{"username":"ada"}`, 200,
			strings.Replace(okEnvelope, "newUsername", "new_username", 1)),
		"wrong type": exchange("POST", "/api/v1/account/username/change", `{"username":"ada"}`, 200,
			strings.Replace(okEnvelope, `"ada"`, `7`, 1)),
		"undocumented status":              exchange("POST", "/api/v1/auth/login", `{}`, 418, `{"detail":"teapot"}`),
		"plain error in the envelope path": exchange("POST", "/api/v1/account/username/change", `{}`, 400, `{"detail":"Bad"}`),
		"envelope in a plain path":         exchange("POST", "/api/v1/auth/login", `{}`, 400, `{"success":false}`),
		"undocumented success":             exchange("GET", "/api/v1/nowhere", "", 200, `{}`),
		"bad request on success":           exchange("POST", "/api/v1/auth/api-keys", `{"scopes":["admin"]}`, 201, `{}`),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckRoutesCompares(t *testing.T) {
	ops, err := Operations("notification")
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || !ops["GET /api/v1/dev/outbox"] {
		t.Fatalf("notification operations = %v", ops)
	}
	ft := &fakeT{TB: t}
	CheckRoutes(ft, "notification", []Route{{"POST", "/api/v1/notifications/twilio/status"}, {"GET", "/api/v1/extra"}}, true)
	if ft.errors != 2 { // GET /api/v1/extra undocumented; the dev outbox not registered
		t.Errorf("CheckRoutes reported %d errors, want 2", ft.errors)
	}
	ft = &fakeT{TB: t}
	CheckRoutes(ft, "notification", []Route{{"POST", "/api/v1/notifications/twilio/status"}, {"HEAD", "/x"}}, false)
	if ft.errors != 0 {
		t.Errorf("CheckRoutes reported %d errors, want 0", ft.errors)
	}
}

type fakeT struct {
	testing.TB
	errors int
}

func (f *fakeT) Errorf(string, ...any) { f.errors++ }
func (f *fakeT) Helper()               {}
