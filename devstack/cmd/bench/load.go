package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// client drives the stack through the gateway.
type client struct {
	base string
	http *http.Client
	ip   atomic.Uint32 // the next X-Forwarded-For address
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: conns * 4, MaxIdleConnsPerHost: conns * 4, IdleConnTimeout: time.Minute}
	return &client{base: base, http: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

// reply is a response read whole.
type reply struct {
	status int
	raw    []byte
	body   map[string]any
}

// nextIP is a fresh loopback address for X-Forwarded-For, so per-IP throttles see many clients
// (the gateway is told to believe loopback proxies; no traffic goes to these addresses).
func (c *client) nextIP() string {
	n := c.ip.Add(1)
	return fmt.Sprintf("127.%d.%d.%d", 1+(n>>16)&0x7f, (n>>8)&0xff, 1+n&0xfe)
}

func (c *client) do(ctx context.Context, method, path string, body any, token string) (reply, error) {
	return c.doAt(ctx, c.base, method, path, body, token)
}

// doAt is do against another base URL (a replica's own port rather than the gateway).
func (c *client) doAt(ctx context.Context, base, method, path string, body any, token string) (reply, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "latchkey-bench/1.0")
	req.Header.Set("X-Forwarded-For", c.nextIP())
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

// expect sends a request and fails unless the status is want.
func (c *client) expect(ctx context.Context, want int, method, path string, body any, token string) (reply, error) {
	r, err := c.do(ctx, method, path, body, token)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r.status != want {
		return r, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r, nil
}

func field(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

const benchPassword = "bench-Horse-42-staple"

// account is a registered user with one session.
type account struct {
	email, device        string
	access, refresh, sid string
	id                   string
}

// latestCode polls the dev outbox until a message to `to` arrives and returns its code.
func (c *client) latestCode(ctx context.Context, to string) (string, error) {
	code, _, err := c.delivered(ctx, to, 5*time.Millisecond)
	return code, err
}

// delivered polls the dev outbox every `every` until a message to `to` arrives and returns its
// code and the time the notification service stored it (created_at).
func (c *client) delivered(ctx context.Context, to string, every time.Duration) (string, time.Time, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.expect(ctx, 200, "GET", "/api/v1/dev/outbox?to="+url.QueryEscape(to), nil, "")
		if err != nil {
			return "", time.Time{}, err
		}
		if msgs, _ := r.body["messages"].([]any); len(msgs) > 0 {
			m, _ := msgs[0].(map[string]any)
			code, _ := m["code"].(string)
			at, err := time.Parse(time.RFC3339Nano, field(m, "created_at"))
			if err != nil {
				return "", time.Time{}, fmt.Errorf("dev outbox created_at: %w", err)
			}
			return code, at, nil
		}
		time.Sleep(every)
	}
	return "", time.Time{}, fmt.Errorf("no code for %s in the dev outbox after 30s", to)
}

// register signs a new account up through the OTP flow.
func (c *client) register(ctx context.Context, name string) (account, error) {
	a := account{email: name + "@bench.example.com", device: "device-" + name}
	if _, err := c.expect(ctx, 202, "POST", "/api/v1/auth/initiate-registration", map[string]any{"email": a.email}, ""); err != nil {
		return a, err
	}
	code, err := c.latestCode(ctx, a.email)
	if err != nil {
		return a, err
	}
	r, err := c.expect(ctx, 201, "POST", "/api/v1/auth/verify-registration", map[string]any{
		"email": a.email, "otp_code": code, "password": benchPassword, "username": name,
		"first_name": "Bench", "last_name": "User", "device_id": a.device, "device_name": "bench", "platform": "WEB",
	}, "")
	if err != nil {
		return a, err
	}
	a.access, a.refresh, a.sid, a.id = field(r.body, "access_token"), field(r.body, "refresh_token"), field(r.body, "session_id"), field(r.body, "user", "id")
	return a, nil
}

// login signs the account in from its registered device and returns the new session's tokens.
func (c *client) login(ctx context.Context, a account) (account, error) {
	r, err := c.expect(ctx, 200, "POST", "/api/v1/auth/login", map[string]any{"identifier": a.email, "password": benchPassword, "device_id": a.device}, "")
	if err != nil {
		return a, err
	}
	a.access, a.refresh, a.sid = field(r.body, "access_token"), field(r.body, "refresh_token"), field(r.body, "session_id")
	if a.access == "" {
		return a, fmt.Errorf("login answered no tokens: %s", r.raw)
	}
	return a, nil
}

// latencies collects request latencies from several goroutines.
type latencies struct {
	mu     sync.Mutex
	values []time.Duration
	errors int
	first  error
}

func (l *latencies) add(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errors++
		if l.first == nil {
			l.first = err
		}
		return
	}
	l.values = append(l.values, d)
}

// quantile returns the q-quantile (nearest rank) of the recorded latencies.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return quantile(l.values, q)
}

func quantile(values []time.Duration, q float64) time.Duration {
	if len(values) == 0 {
		return 0
	}
	v := slices.Clone(values)
	slices.Sort(v)
	i := int(q*float64(len(v))+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}

// closedLoop runs op from `workers` goroutines until `count` requests are done or `limit` passes.
// Worker w calls op(ctx, w, i) for its i-th request; op returns the latency to record (the whole
// call when it returns 0).
func closedLoop(ctx context.Context, workers, count int, limit time.Duration, op func(ctx context.Context, worker, i int) (time.Duration, error)) (*latencies, time.Duration) {
	lat := &latencies{}
	var next atomic.Int64
	deadline := time.Now().Add(limit)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				if n := next.Add(1); int(n) > count || time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				d, err := op(ctx, w, i)
				if d == 0 {
					d = time.Since(t0)
				}
				lat.add(d, err)
			}
		})
	}
	wg.Wait()
	return lat, time.Since(start)
}
