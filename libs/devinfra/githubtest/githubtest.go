// Package githubtest is a local stand-in for the parts of GitHub's REST API that prove who holds an
// OAuth access token: GET /user and GET /user/emails, with GitHub's headers, status codes and error
// bodies. Tests and the local stack point a Latchkey identity service's OAUTH_GITHUB_API_URL at it
// (see Env) and mint tokens with Token — the local stand-in for a person authorizing the GitHub app.
package githubtest

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The OAuth app Env configures (Latchkey's own), and another app registered at the same server: a
// token minted for ForeignClientID is one a third-party app holds for the person.
const (
	ClientID            = "Iv1.latchkeydev"
	ClientSecret        = "latchkeydev-github-secret" // a fake credential, known to this server only
	ForeignClientID     = "Iv1.foreignapp"
	ForeignClientSecret = "foreign-github-secret"
)

// User is a GitHub account.
type User struct {
	ID    int64  // GitHub's numeric user id (the subject Latchkey links)
	Login string // the handle
	Email string // the primary e-mail; empty for none
	// EmailVerified tells whether GitHub verified the primary e-mail.
	EmailVerified bool
	// NoEmailScope makes GET /user/emails answer 404, as for a token without the user:email scope.
	NoEmailScope bool
}

// Server is a running local GitHub API.
type Server struct {
	// URL is the API's base URL (what OAUTH_GITHUB_API_URL takes).
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	tokens   map[string]grant
	apps     map[string]string // client id → client secret
	requests atomic.Int64
}

// grant is an access token: the user it was issued for and the OAuth app it was issued to.
type grant struct {
	user     User
	clientID string
}

// Start starts serving; Close stops it.
func Start() *Server {
	s := &Server{tokens: map[string]grant{}, apps: map[string]string{ClientID: ClientSecret, ForeignClientID: ForeignClientSecret}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /applications/{client_id}/token", s.serveCheckToken)
	mux.HandleFunc("GET /user", s.serveUser)
	mux.HandleFunc("GET /user/emails", s.serveEmails)
	mux.HandleFunc("POST /dev/token", s.serveDevToken)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// New starts a server that stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests counts the API requests served so far.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Token issues an access token ("gho_…", as GitHub's OAuth tokens) for u, to Latchkey's app
// (ClientID).
func (s *Server) Token(u User) string { return s.TokenFor(ClientID, u) }

// TokenFor issues an access token for u to the OAuth app clientID (ForeignClientID: a third-party
// app's token for the same person).
func (s *Server) TokenFor(clientID string, u User) string {
	tok := "gho_" + rand.Text()
	s.mu.Lock()
	s.tokens[tok] = grant{user: u, clientID: clientID}
	s.mu.Unlock()
	return tok
}

// Revoke makes tok unusable, as when the person revokes the app's authorization.
func (s *Server) Revoke(tok string) {
	s.mu.Lock()
	delete(s.tokens, tok)
	s.mu.Unlock()
}

// Env returns the variables that point a Latchkey identity service's GitHub provider at this server:
// OAUTH_GITHUB_API_URL, OAUTH_GITHUB_CLIENT_IDS and OAUTH_GITHUB_CLIENT_SECRET (Latchkey's app).
func (s *Server) Env() map[string]string {
	return map[string]string{"OAUTH_GITHUB_API_URL": s.URL, "OAUTH_GITHUB_CLIENT_IDS": ClientID, "OAUTH_GITHUB_CLIENT_SECRET": ClientSecret}
}

// user authenticates the request as GitHub does ("Authorization: Bearer" or "token"), or answers 401.
func (s *Server) user(w http.ResponseWriter, r *http.Request) (User, bool) {
	s.requests.Add(1)
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "token ")
	}
	s.mu.Lock()
	g, known := s.tokens[tok]
	s.mu.Unlock()
	u := g.user
	if r.Header.Get("User-Agent") == "" { // GitHub refuses requests without a User-Agent
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"})
		return User{}, false
	}
	if !ok || !known {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return User{}, false
	}
	return u, true
}

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.user(w, r)
	if !ok {
		return
	}
	var email any
	if u.Email != "" {
		email = u.Email
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": u.ID, "login": u.Login, "type": "User", "email": email, "name": nil})
}

func (s *Server) serveEmails(w http.ResponseWriter, r *http.Request) {
	u, ok := s.user(w, r)
	if !ok {
		return
	}
	if u.NoEmailScope {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	list := []map[string]any{}
	if u.Email != "" {
		list = append(list, map[string]any{"email": u.Email, "primary": true, "verified": u.EmailVerified, "visibility": "private"})
	}
	writeJSON(w, http.StatusOK, list)
}

// serveCheckToken is GitHub's "check a token" API: POST /applications/{client_id}/token with HTTP
// Basic client_id:client_secret and {"access_token"}. 200 with the token's app and user when the
// token belongs to that app; 404 for wrong app credentials or another app's (or an unknown) token;
// 422 without an access_token.
func (s *Server) serveCheckToken(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	notFound := map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/apps/oauth-applications#check-a-token"}
	if r.Header.Get("User-Agent") == "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"})
		return
	}
	clientID := r.PathValue("client_id")
	id, secret, ok := r.BasicAuth()
	s.mu.Lock()
	want, registered := s.apps[clientID]
	s.mu.Unlock()
	if !ok || !registered || id != clientID || secret != want {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	var req struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.AccessToken == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	g, known := s.tokens[req.AccessToken]
	s.mu.Unlock()
	if !known || g.clientID != clientID {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": 1, "token": req.AccessToken, "token_last_eight": req.AccessToken[max(0, len(req.AccessToken)-8):],
		"scopes": []string{"read:user", "user:email"}, "expires_at": nil,
		"app":  map[string]any{"client_id": clientID, "name": clientID, "url": "http://localhost"},
		"user": map[string]any{"id": g.user.ID, "login": g.user.Login, "type": "User"},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveDevToken mints an access token for the local stack (not a GitHub endpoint): body {"id",
// "login", "email", "email_verified" (default true), "client_id" (default ClientID, Latchkey's app)}
// → {"access_token"}. Never expose this server beyond tests and the local stack.
func (s *Server) serveDevToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID            int64  `json:"id"`
		Login         string `json:"login"`
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		ClientID      string `json:"client_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.ID <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": `want {"id": 1, "login": "...", "email": "..."}`})
		return
	}
	if req.ClientID == "" {
		req.ClientID = ClientID
	}
	tok := s.TokenFor(req.ClientID, User{ID: req.ID, Login: req.Login, Email: req.Email, EmailVerified: req.EmailVerified == nil || *req.EmailVerified})
	writeJSON(w, http.StatusOK, map[string]string{"access_token": tok, "token_type": "bearer"})
}
