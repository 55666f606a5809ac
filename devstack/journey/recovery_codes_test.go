package journey_test

import (
	"regexp"
	"strings"
	"testing"
)

var journeyRecoveryCode = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

// generatedCodes reads the ten codes of a POST /api/v1/account/2fa/recovery-codes answer.
func generatedCodes(t *testing.T, r response) []string {
	t.Helper()
	data, _ := r.Body["data"].(map[string]any)
	raw, _ := data["codes"].([]any)
	seen := map[string]bool{}
	var codes []string
	for _, c := range raw {
		s, _ := c.(string)
		if !journeyRecoveryCode.MatchString(s) || seen[s] {
			t.Fatalf("code %v malformed or repeated: %s", c, r.Raw)
		}
		seen[s] = true
		codes = append(codes, s)
	}
	if len(codes) != 10 || r.Body["success"] != true || str(r.Body, "data", "generatedAt") == "" {
		t.Fatalf("answer = %s, want the envelope with 10 codes and generatedAt", r.Raw)
	}
	return codes
}

// TestRecoveryCodesJourney: through the gateway, recovery codes need a step-up and a second factor;
// with both the owner gets ten codes once and an alert, and generating again returns a fresh set.
func TestRecoveryCodesJourney(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "recoverada")
	const path = "/api/v1/account/2fa/recovery-codes"

	r := c.do("POST", path, nil, bearer(a.access)...).want(t, 401, "recovery codes without step-up")
	if str(r.Body, "message") != "Re-authentication required" || r.Header.Get("WWW-Authenticate") != "ReauthToken" {
		t.Fatalf("without step-up = %s, want the step-up 401", r.Raw)
	}
	h := c.stepUp(t, a.access, password)
	r = c.do("POST", path, nil, h...).want(t, 400, "recovery codes without a second factor")
	if !strings.Contains(str(r.Body, "message"), "two-factor") {
		t.Fatalf("without a second factor = %s", r.Raw)
	}

	envelopeOK(t, c.do("POST", "/api/v1/account/2fa/enable", map[string]any{"password": password}, bearer(a.access)...), "Two-factor authentication enabled successfully")
	first := generatedCodes(t, c.do("POST", path, nil, h...).want(t, 200, "recovery codes"))
	if text := c.latestAlert(t, a.email, "recovery_codes_generated"); !strings.Contains(text, "recovery codes") {
		t.Errorf("alert = %q", text)
	}
	second := generatedCodes(t, c.do("POST", path, nil, h...).want(t, 200, "recovery codes again"))
	for _, c2 := range second {
		for _, c1 := range first {
			if c1 == c2 {
				t.Fatalf("the second set repeats %s of the first", c1)
			}
		}
	}
}
