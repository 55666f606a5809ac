package stack

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReplicas(t *testing.T) {
	var stdout syncBuffer
	cfg := fakeConfig(&stdout, nil)
	cfg.Replicas = 2
	st := startStack(t, cfg)

	pids := map[string][]int{}
	for _, name := range Services {
		got := st.Pids(name)
		if st.Replicas(name) != 2 || len(got) != 2 || got[0] == 0 || got[1] == 0 || got[0] == got[1] {
			t.Fatalf("%s: Replicas %d, Pids %v, want two running processes", name, st.Replicas(name), got)
		}
		if st.Pid(name) != got[0] || !st.Running(name) {
			t.Fatalf("%s: Pid %d, Running %v; want the first replica, running", name, st.Pid(name), st.Running(name))
		}
		pids[name] = got
	}

	t.Run("each replica on its own ports, same environment otherwise", func(t *testing.T) {
		for _, name := range Services {
			var envs []map[string]string
			for i := range 2 {
				_, r := fetch(t, st.ReplicaURL(name, i)+"/x", nil)
				if r.Service != name || r.Pid != pids[name][i] {
					t.Fatalf("ReplicaURL(%s, %d) reached %s pid %d, want pid %d", name, i, r.Service, r.Pid, pids[name][i])
				}
				if status, err := probe(context.Background(), st.ReplicaInternalURL(name, i)+"/readyz"); err != nil || status != http.StatusOK {
					t.Fatalf("ReplicaInternalURL(%s, %d)/readyz: %d %v", name, i, status, err)
				}
				envs = append(envs, r.Env)
			}
			for k, v := range envs[0] {
				differs := envs[1][k] != v
				perProcess := k == "HTTP_ADDR" || k == "INTERNAL_ADDR"
				if differs != perProcess {
					t.Errorf("%s: %s is %q and %q on the two replicas", name, k, v, envs[1][k])
				}
			}
		}
	})

	t.Run("the other services reach the balancer, not one replica", func(t *testing.T) {
		_, r := fetch(t, st.ReplicaURL(Identity, 1)+"/x", nil)
		if got, want := r.Env["SESSION_INTERNAL_URL"], st.InternalURL(Session); got != want {
			t.Fatalf("identity's SESSION_INTERNAL_URL = %q, want the balancer %q", got, want)
		}
		if slices.Contains([]string{st.ReplicaInternalURL(Session, 0), st.ReplicaInternalURL(Session, 1)}, st.InternalURL(Session)) {
			t.Fatalf("InternalURL(session) %s is a replica's", st.InternalURL(Session))
		}
	})

	t.Run("gateway balances requests round-robin", func(t *testing.T) {
		seen := map[int]int{}
		for range 6 {
			_, r := fetch(t, st.GatewayURL()+"/api/v1/me", nil) // one keep-alive connection
			seen[r.Pid]++
		}
		if seen[pids[Profile][0]] != 3 || seen[pids[Profile][1]] != 3 {
			t.Fatalf("six requests reached %v, want three on each of %v", seen, pids[Profile])
		}
	})

	t.Run("service balancer spreads connections", func(t *testing.T) {
		seen := newConnSeen(t, st.ServiceURL(Identity)+"/x", 4)
		if seen[pids[Identity][0]] != 2 || seen[pids[Identity][1]] != 2 {
			t.Fatalf("four connections reached %v, want two on each of %v", seen, pids[Identity])
		}
	})

	t.Run("a killed replica is skipped and comes back", func(t *testing.T) {
		if err := st.KillReplica(Identity, 0); err != nil {
			t.Fatal(err)
		}
		if st.Running(Identity) || st.Pids(Identity)[0] != 0 {
			t.Fatalf("Running %v, Pids %v after killing replica 0", st.Running(Identity), st.Pids(Identity))
		}
		seen := newConnSeen(t, st.ServiceURL(Identity)+"/x", 3)
		if seen[pids[Identity][1]] != 3 {
			t.Fatalf("three connections reached %v, want all on the live replica %d", seen, pids[Identity][1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.StartReplica(ctx, Identity, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.Restart(ctx, Identity); err != nil {
			t.Fatal(err)
		}
		after := st.Pids(Identity)
		if after[0] == 0 || after[1] == 0 || after[1] == pids[Identity][1] {
			t.Fatalf("Pids after StartReplica and Restart: %v (before %v), want both running and restarted", after, pids[Identity])
		}
	})

	t.Run("log lines name the replica", func(t *testing.T) {
		for _, prefix := range []string{"[identity-1] identity listening", "[identity-2] identity listening"} {
			if !strings.Contains(stdout.String(), prefix) {
				t.Fatalf("output lacks %q:\n%s", prefix, stdout.String())
			}
		}
	})
}

// newConnSeen sends n requests, each on a new connection, and counts the answering pids.
func newConnSeen(t *testing.T, url string, n int) map[int]int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[int]int{}
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		var r reply
		err = json.NewDecoder(resp.Body).Decode(&r)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		seen[r.Pid]++
	}
	return seen
}

func TestReplicasInvalid(t *testing.T) {
	cfg := fakeConfig(nil, nil)
	cfg.Replicas = -1
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "Replicas") {
		t.Fatalf("Start with Replicas -1: %v, want an error naming Replicas", err)
	}
}
