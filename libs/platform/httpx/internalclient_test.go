package httpx_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/httpx"
)

// An internal call carries the internal token and a JSON body, and hands back any status with its
// body; no answer at all is an error.
func TestInternalClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("Content-Type") != "application/json" ||
			json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"path":"` + r.URL.Path + `","name":"` + in["name"] + `"}`))
	}))
	defer srv.Close()

	a, err := httpx.NewInternalClient(srv.URL+"/", config.Secret("s3cret"), nil).Call(context.Background(), http.MethodPost, "/internal/v1/x", map[string]string{"name": "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != http.StatusTooManyRequests || a.Header.Get("Retry-After") != "7" || string(a.Body) != `{"path":"/internal/v1/x","name":"ada"}` {
		t.Errorf("answer = %d %v %s", a.Status, a.Header, a.Body)
	}
	if got := a.Unexpected(http.MethodPost, "/internal/v1/x"); got != `POST /internal/v1/x answered 429: {"path":"/internal/v1/x","name":"ada"}` {
		t.Errorf("Unexpected = %s", got)
	}

	srv.Close()
	if _, err := httpx.NewInternalClient(srv.URL, config.Secret("s3cret"), nil).Call(context.Background(), http.MethodPost, "/internal/v1/x", nil); err == nil {
		t.Error("call to a closed server succeeded, want an error")
	}
}
