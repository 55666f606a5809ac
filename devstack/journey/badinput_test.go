package journey_test

import (
	"strings"
	"testing"
)

// TestBadInput sends malformed and invalid requests to every endpoint of the journey through the
// gateway and checks that each gets a clear 4xx in its path's wire style.
func TestBadInput(t *testing.T) {
	c := startStack(t)
	big := `{"email":"` + strings.Repeat("a", 100<<10) + `@example.com"}`
	tests := []struct {
		name, method, path string
		body               any
		headers            []string
		wantStatus         int
		envelope           bool
		wantDetail         string // plain: the detail string, or the type of the first 422 entry
	}{
		{"initiate: malformed json", "POST", "/api/v1/auth/initiate-registration", `{"email":`, nil, 422, false, "json_invalid"},
		{"initiate: no body", "POST", "/api/v1/auth/initiate-registration", nil, nil, 422, false, "missing"},
		{"initiate: missing email", "POST", "/api/v1/auth/initiate-registration", `{}`, nil, 422, false, "missing"},
		{"initiate: wrong type", "POST", "/api/v1/auth/initiate-registration", `{"email":42}`, nil, 422, false, "string_type"},
		{"initiate: bad email", "POST", "/api/v1/auth/initiate-registration", `{"email":"not-an-email"}`, nil, 422, false, "value_error"},
		{"initiate: oversized body", "POST", "/api/v1/auth/initiate-registration", big, nil, 413, false, "Request body too large"},
		{"verify registration: missing fields", "POST", "/api/v1/auth/verify-registration", `{"email":"x@example.com"}`, nil, 422, false, "missing"},
		{"verify registration: wrong code", "POST", "/api/v1/auth/verify-registration", `{"email":"x@example.com","otp_code":"123456","password":"correct-Horse-42"}`, nil, 400, false, "Invalid or expired code"},
		{"login: malformed json", "POST", "/api/v1/auth/login", `{"identifier"`, nil, 422, false, "json_invalid"},
		{"login: missing password", "POST", "/api/v1/auth/login", `{"identifier":"x@example.com","device_id":"d"}`, nil, 422, false, "missing"},
		{"refresh: missing token", "POST", "/api/v1/auth/refresh", `{}`, nil, 422, false, "missing"},
		{"refresh: garbage token", "POST", "/api/v1/auth/refresh", `{"refresh_token":"garbage"}`, nil, 401, false, "Invalid refresh token"},
		{"logout: no auth", "POST", "/api/v1/auth/logout", nil, nil, 401, false, "Not authenticated"},
		{"logout: bad token", "POST", "/api/v1/auth/logout", nil, bearer("not.a.jwt"), 401, false, "Invalid or expired token"},
		{"me: no auth", "GET", "/api/v1/me", nil, nil, 401, false, "Not authenticated"},
		{"me: alg none token", "GET", "/api/v1/me", nil, bearer("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwic2lkIjoieSJ9."), 401, false, "Invalid or expired token"},
		{"device verify: malformed json", "POST", "/api/v1/account/device/verify", `{"otp":`, nil, 400, true, ""},
		{"device verify: otp not 6 digits", "POST", "/api/v1/account/device/verify", `{"deviceVerificationToken":"x","otp":"12ab","deviceId":"d"}`, nil, 422, true, ""},
		{"device verify: unknown token", "POST", "/api/v1/account/device/verify", `{"deviceVerificationToken":"x","otp":"123456","deviceId":"d"}`, nil, 403, true, ""},
		{"dev outbox: missing to", "GET", "/api/v1/dev/outbox", nil, nil, 422, false, "missing"},
		{"unrouted path", "GET", "/api/v1/nowhere", nil, nil, 404, false, "Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, tc.body, tc.headers...)
			r.want(t, tc.wantStatus, tc.name)
			if tc.envelope {
				if r.Body["success"] != false || str(r.Body, "httpStatus") == "" || str(r.Body, "message") == "" || r.Body["action_time"] == nil {
					t.Fatalf("body = %s, want the error envelope", r.Raw)
				}
				if tc.wantStatus == 422 {
					if _, ok := r.Body["data"].(map[string]any); !ok {
						t.Fatalf("body = %s, want field errors in data", r.Raw)
					}
				}
				return
			}
			switch detail := r.Body["detail"].(type) {
			case string:
				if detail != tc.wantDetail {
					t.Fatalf("detail = %q, want %q", detail, tc.wantDetail)
				}
			case []any:
				first, _ := detail[0].(map[string]any)
				if first["type"] != tc.wantDetail || first["msg"] == "" || first["loc"] == nil {
					t.Fatalf("detail = %s, want a %s entry with loc and msg", r.Raw, tc.wantDetail)
				}
			default:
				t.Fatalf("body = %s, want a FastAPI-style detail", r.Raw)
			}
		})
	}
}
