// Package hibptest is a local stand-in for Have I Been Pwned's Pwned Passwords range API
// (GET /range/{first five hex characters of a SHA-1}), speaking its protocol: an upper-case hex
// suffix and a count per line ("SUFFIX:COUNT\r\n"), padding lines with a count of 0 when the request
// carries "Add-Padding: true", 400 for a prefix that is not five hex characters. Tests and the local
// stack point a Latchkey identity service's BREACHED_PASSWORDS_API_URL at it (see Env), seed it with
// the passwords that count as breached, and read back what was asked (Requests) — to check that only
// a five-character prefix ever leaves the service. SetMode makes it fail, hang or answer garbage, as
// an unreachable or broken API would.
package hibptest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// DevPasswords are the passwords the local stack's range server knows as breached (Start seeds
// nothing; the stack passes these): long enough and uncommon enough for Latchkey's password policy,
// so that only the breach check refuses them. Each is a real, well-known breached password.
var DevPasswords = []string{"Tr0ub4dor&3", "correcthorsebatterystaple", "Summer2019!", "P@ssw0rd2020"}

// Mode is how the server answers.
type Mode int

// The modes.
const (
	// Normal answers as the API does.
	Normal Mode = iota
	// Fail answers 503, as the API behind an outage.
	Fail
	// Hang answers nothing until the client gives up (or the server closes).
	Hang
	// Garbage answers 200 with a body that is not the range format.
	Garbage
)

// Request is one request the server received.
type Request struct {
	Path      string // the request path as sent, e.g. /range/21BD1
	Prefix    string // what followed /range/, unchecked
	Padding   bool   // "Add-Padding: true" was sent
	UserAgent string
}

// Server is a running local range API.
type Server struct {
	// URL is the API's base URL (what BREACHED_PASSWORDS_API_URL takes).
	URL string

	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	counts   map[string]int // upper-case SHA-1 hex → times seen in breaches
	requests []Request
	mode     Mode
}

// Start starts serving, with each of passwords breached once; Close stops it.
func Start(passwords ...string) *Server {
	s := &Server{counts: map[string]int{}, closed: make(chan struct{})}
	for _, p := range passwords {
		s.Add(p, 1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /range/{prefix}", s.serveRange)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// New starts a server that stops when the test ends.
func New(t testing.TB, passwords ...string) *Server {
	t.Helper()
	s := Start(passwords...)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server; a hanging request returns at once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.srv.Close()
}

// Hash is the upper-case hex SHA-1 of password's UTF-8 bytes, as the API keys passwords.
func Hash(password string) string {
	sum := sha1.Sum([]byte(password))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Add records password as seen count times in breaches (0 removes it).
func (s *Server) Add(password string, count int) { s.AddHash(Hash(password), count) }

// AddHash is Add for a SHA-1 given in hex.
func (s *Server) AddHash(sha1Hex string, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if count <= 0 {
		delete(s.counts, strings.ToUpper(sha1Hex))
		return
	}
	s.counts[strings.ToUpper(sha1Hex)] = count
}

// SetMode changes how the server answers from the next request on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Env returns the variables that point a Latchkey identity service's breached-password check at
// this server: BREACHED_PASSWORDS_ONLINE and BREACHED_PASSWORDS_API_URL.
func (s *Server) Env() map[string]string {
	return map[string]string{"BREACHED_PASSWORDS_ONLINE": "true", "BREACHED_PASSWORDS_API_URL": s.URL}
}

func (s *Server) serveRange(w http.ResponseWriter, r *http.Request) {
	prefix := r.PathValue("prefix")
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Path: r.URL.EscapedPath(), Prefix: prefix, Padding: strings.EqualFold(r.Header.Get("Add-Padding"), "true"), UserAgent: r.Header.Get("User-Agent"),
	})
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case Fail:
		http.Error(w, "error code: 503", http.StatusServiceUnavailable)
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	case Garbage:
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>Just a moment...</body></html>")
		return
	}
	if len(prefix) != 5 || !isHex(prefix) {
		http.Error(w, "The hash prefix was not in a valid format", http.StatusBadRequest)
		return
	}
	prefix = strings.ToUpper(prefix)
	lines := map[string]int{} // suffix → count
	s.mu.Lock()
	for h, n := range s.counts {
		if suffix, ok := strings.CutPrefix(h, prefix); ok {
			lines[suffix] = n
		}
	}
	s.mu.Unlock()
	if strings.EqualFold(r.Header.Get("Add-Padding"), "true") {
		// As the API: padded to a random 800 to 1,000 lines with random suffixes of count 0.
		want := 800 + randInt(201)
		for len(lines) < want {
			var b [18]byte
			_, _ = rand.Read(b[:])
			suffix := strings.ToUpper(hex.EncodeToString(b[:]))[1:] // 35 hex characters
			if _, taken := lines[suffix]; !taken {
				lines[suffix] = 0
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	var out strings.Builder
	for _, suffix := range slices.Sorted(maps.Keys(lines)) {
		fmt.Fprintf(&out, "%s:%d\r\n", suffix, lines[suffix])
	}
	_, _ = w.Write([]byte(strings.TrimSuffix(out.String(), "\r\n")))
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func randInt(n int64) int {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}
