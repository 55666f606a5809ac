package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"
)

// commandCounts counts the commands the embedded MongoDB-compatible server receives, by database,
// command and collection ("latchkey_session find sessions"), so that the bench can report the round
// trips of each operation.
type commandCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *commandCounts) add(db, command, collection string) {
	switch command {
	case "hello", "isMaster", "ismaster", "ping", "endSessions", "saslStart", "saslContinue", "buildInfo":
		return // the driver's connection housekeeping
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[strings.TrimPrefix(db, "latchkey_")+" "+command+" "+collection]++
}

// serve answers GET / with the counts as JSON on a loopback port and returns its URL.
func (c *commandCounts) serve(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	// The embedded server's own profile (it runs in this process), for the bench's -pprof.
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		raw, err := json.Marshal(c.n)
		c.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(raw)
	})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String() + "/", nil
}

// commandSnapshot reads the mongo role's counts.
func (b *benchRun) commandSnapshot(ctx context.Context) (map[string]int64, error) {
	if b.commandsURL == "" {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, "GET", b.commandsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("command counts: %w", err)
	}
	return out, nil
}

// commandsPerRequest is the number of MongoDB commands per successful request.
func (r opResult) commandsPerRequest() float64 {
	if r.requests == 0 {
		return 0
	}
	var sum int64
	for _, n := range r.commands {
		sum += n
	}
	return float64(sum) / float64(r.requests)
}

// topCommands lists the operation's commands per request, most frequent first.
func (r opResult) topCommands(limit int) string {
	type kv struct {
		k string
		n int64
	}
	var all []kv
	for k, n := range r.commands {
		if n > 0 {
			all = append(all, kv{k, n})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var parts []string
	for i, e := range all {
		if i == limit {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%.2f `%s`", float64(e.n)/float64(max(r.requests, 1)), e.k))
	}
	return strings.Join(parts, ", ")
}
