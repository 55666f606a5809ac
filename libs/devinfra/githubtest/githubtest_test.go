package githubtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The check-a-token endpoint answers as GitHub's does: 200 with the user for the app's own token and
// its credentials; 404 for another app's token, wrong credentials or an unknown token; 422 without
// an access_token.
func TestCheckToken(t *testing.T) {
	t.Parallel()
	s := New(t)
	u := User{ID: 7, Login: "ada"}
	ours, foreign := s.Token(u), s.TokenFor(ForeignClientID, u)
	check := func(clientID, id, secret, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/applications/"+clientID+"/token", strings.NewReader(body))
		req.SetBasicAuth(id, secret)
		req.Header.Set("User-Agent", "test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	body := func(tok string) string { return `{"access_token":"` + tok + `"}` }
	if st, out := check(ClientID, ClientID, ClientSecret, body(ours)); st != http.StatusOK || out["user"].(map[string]any)["id"] != float64(7) {
		t.Errorf("our token = %d %v, want 200 with user 7", st, out)
	}
	if st, _ := check(ForeignClientID, ForeignClientID, ForeignClientSecret, body(foreign)); st != http.StatusOK {
		t.Errorf("the foreign app's own check = %d, want 200", st)
	}
	for name, tc := range map[string][4]string{
		"another app's token": {ClientID, ClientID, ClientSecret, body(foreign)},
		"wrong secret":        {ClientID, ClientID, "nope", body(ours)},
		"id not the path's":   {ClientID, ForeignClientID, ForeignClientSecret, body(ours)},
		"unknown token":       {ClientID, ClientID, ClientSecret, body("gho_unknown")},
		"unregistered app":    {"Iv1.nobody", "Iv1.nobody", "x", body(ours)},
	} {
		if st, _ := check(tc[0], tc[1], tc[2], tc[3]); st != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", name, st)
		}
	}
	if st, _ := check(ClientID, ClientID, ClientSecret, `{}`); st != http.StatusUnprocessableEntity {
		t.Errorf("no access_token: %d, want 422", st)
	}
}
