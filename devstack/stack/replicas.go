package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// balancerDialTimeout bounds the connection to one replica before the balancer tries the next.
const balancerDialTimeout = 2 * time.Second

// newServices prepares every service's replicas. With one replica a service listens on its own
// ports; with more, a balancer takes the service's ports and the replicas get free ones.
func (s *Stack) newServices(ports map[string]Ports) error {
	s.ports = ports
	n := s.cfg.Replicas
	if n <= 1 {
		for _, name := range Services {
			s.services[name] = []*service{s.newService(name, 0, ports[name], ports)}
		}
		return nil
	}
	// The balancers first: they hold the services' ports while the replicas' ports are chosen.
	type fronts struct{ http, internal *balancer }
	byName := make(map[string]fronts, len(Services))
	for _, name := range Services {
		var f fronts
		var err error
		if f.http, err = listenBalancer(ports[name].HTTP); err != nil {
			return fmt.Errorf("stack: %s: %w", name, err)
		}
		s.fronts = append(s.fronts, f.http)
		if f.internal, err = listenBalancer(ports[name].Internal); err != nil {
			return fmt.Errorf("stack: %s: %w", name, err)
		}
		s.fronts = append(s.fronts, f.internal)
		byName[name] = f
	}
	free, err := freePorts(2 * n * len(Services))
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	for _, name := range Services {
		f := byName[name]
		for i := range n {
			p := Ports{HTTP: free[0], Internal: free[1]}
			free = free[2:]
			svc := s.newService(name, i, p, ports)
			s.services[name] = append(s.services[name], svc)
			f.http.targets = append(f.http.targets, svc.httpAddr)
			f.internal.targets = append(f.internal.targets, svc.internalAddr)
		}
		f.http.serve()
		f.internal.serve()
	}
	return nil
}

// Replicas is how many replicas of the service run (Config.Replicas), 0 for an unknown service.
func (s *Stack) Replicas(name string) int { return len(s.services[name]) }

// Pids returns the process ids of the service's replicas in order, 0 for one not running.
func (s *Stack) Pids(name string) []int {
	svcs := s.services[name]
	pids := make([]int, len(svcs))
	for i, svc := range svcs {
		pids[i] = svc.pid()
	}
	return pids
}

// ReplicaURL is the base URL of replica i's public port (0 ≤ i < Replicas(name)), "" when there is
// no such replica.
func (s *Stack) ReplicaURL(name string, i int) string {
	if svc := s.replica(name, i); svc != nil {
		return "http://" + svc.httpAddr
	}
	return ""
}

// ReplicaInternalURL is the base URL of replica i's internal port (/readyz, /metrics,
// /internal/v1/...), "" when there is no such replica.
func (s *Stack) ReplicaInternalURL(name string, i int) string {
	if svc := s.replica(name, i); svc != nil {
		return "http://" + svc.internalAddr
	}
	return ""
}

// KillReplica SIGKILLs replica i of the service, as a crash would, and waits until it is gone.
func (s *Stack) KillReplica(name string, i int) error {
	svc := s.replica(name, i)
	if svc == nil {
		return fmt.Errorf("stack: no replica %d of %q", i, name)
	}
	if err := eachReplica([]*service{svc}, (*service).kill); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// StartReplica starts replica i of the service when it is not running and waits until it is ready.
func (s *Stack) StartReplica(ctx context.Context, name string, i int) error {
	svc := s.replica(name, i)
	if svc == nil {
		return fmt.Errorf("stack: no replica %d of %q", i, name)
	}
	err := eachReplica([]*service{svc}, func(svc *service) error {
		if svc.current() != nil {
			return nil
		}
		p, err := svc.start()
		if err != nil {
			return err
		}
		return svc.waitReady(ctx, p, s.cfg.ReadyTimeout)
	})
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

func (s *Stack) replica(name string, i int) *service {
	svcs := s.services[name]
	if i < 0 || i >= len(svcs) {
		return nil
	}
	return svcs[i]
}

// pid is the process id of the running process, or 0.
func (s *service) pid() int {
	if p := s.current(); p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// freePorts returns n distinct free ports on host.
func freePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("choose a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// balancer is a service's port in front of its replicas, as a Kubernetes Service is: each new TCP
// connection goes to the next replica in turn (kube-proxy balances connections, not requests), a
// replica that refuses the connection is skipped, and when none accepts, the connection is reset.
type balancer struct {
	ln      net.Listener
	targets []string // set before serve

	next   atomic.Uint64
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func listenBalancer(port int) (*balancer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	return &balancer{ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

func (b *balancer) serve() {
	b.wg.Go(func() {
		for {
			c, err := b.ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: do not spin
				continue
			}
			if !b.track(c) {
				_ = c.Close()
				return
			}
			b.wg.Go(func() { b.handle(c) })
		}
	})
}

// track registers c for Close; false when the balancer is closed.
func (b *balancer) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *balancer) untrack(c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, c)
	_ = c.Close()
}

func (b *balancer) handle(client net.Conn) {
	defer b.untrack(client)
	first := b.next.Add(1) - 1
	var upstream net.Conn
	for i := range len(b.targets) {
		addr := b.targets[(first+uint64(i))%uint64(len(b.targets))]
		c, err := net.DialTimeout("tcp", addr, balancerDialTimeout)
		if err == nil {
			upstream = c
			break
		}
	}
	if upstream == nil || !b.track(upstream) {
		if upstream != nil {
			_ = upstream.Close()
		}
		if tc, ok := client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // no replica: reset, as a Service without ready endpoints does
		}
		return
	}
	defer b.untrack(upstream)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}

// Close stops accepting, closes every open connection and waits for the handlers.
func (b *balancer) Close() {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	_ = b.ln.Close()
	b.wg.Wait()
}
