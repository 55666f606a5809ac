package gateway

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestReplicasRoundRobin(t *testing.T) {
	var replicas []string
	for i := range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(strconv.Itoa(i)))
		}))
		t.Cleanup(srv.Close)
		replicas = append(replicas, srv.URL)
	}
	gw := newTestGateway(t, func(o *Options) {
		o.Replicas = map[string][]string{"profile": replicas}
	})
	var got string
	for range 6 {
		_, body := get(t, gw.URL+"/api/v1/me", nil)
		got += string(body)
	}
	if got != "012012" {
		t.Fatalf("six requests were served by replicas %q, want 012012 (round-robin)", got)
	}
	// The other services keep their single upstream.
	if _, body := get(t, gw.URL+"/api/v1/auth/login", nil); decodeEcho(t, body).Service != "identity" {
		t.Fatalf("identity's route answered %s", body)
	}
}

func TestReplicasBadURL(t *testing.T) {
	table := realTable(t)
	ups := echoUpstreams(t, table)
	_, err := New(Options{Table: table, Upstreams: ups, Replicas: map[string][]string{"profile": {ups["profile"], "127.0.0.1:1"}}})
	if err == nil {
		t.Fatal("New accepted a replica URL without a scheme")
	}
}
