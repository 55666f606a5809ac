package captcha_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/captcha"
)

func TestSiteVerify(t *testing.T) {
	t.Parallel()
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got = map[string]string{"secret": r.PostForm.Get("secret"), "response": r.PostForm.Get("response"), "remoteip": r.PostForm.Get("remoteip")}
		if r.PostForm.Get("response") == "boom" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		ok := r.PostForm.Get("secret") == "s3cret" && r.PostForm.Get("response") == "good"
		_, _ = w.Write([]byte(`{"success":` + map[bool]string{true: "true", false: "false"}[ok] + `,"error-codes":[]}`))
	}))
	t.Cleanup(srv.Close)
	v := captcha.NewSiteVerify(srv.URL, "s3cret", nil)
	ctx := context.Background()
	if ok, err := v.Verify(ctx, "good", "203.0.113.5"); !ok || err != nil {
		t.Fatalf("Verify(good) = %v, %v; want true", ok, err)
	}
	if got["secret"] != "s3cret" || got["remoteip"] != "203.0.113.5" || got["response"] != "good" {
		t.Errorf("form sent = %v", got)
	}
	if ok, err := v.Verify(ctx, "bad", ""); ok || err != nil {
		t.Errorf("Verify(bad) = %v, %v; want false, nil", ok, err)
	}
	got = nil
	if ok, err := v.Verify(ctx, "", "203.0.113.5"); ok || err != nil || got != nil {
		t.Errorf("Verify(empty) = %v, %v (asked: %v); want false without asking", ok, err, got != nil)
	}
	if ok, err := v.Verify(ctx, "boom", ""); ok || err == nil {
		t.Errorf("Verify() with a failing provider = %v, %v; want an error", ok, err)
	}
}
