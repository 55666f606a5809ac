// Package providertest runs local stand-ins for the third-party services the notification service
// talks to, speaking their real protocols, for tests only: a Twilio Messaging API server (reached
// through twilio-go) and an SMTP server with STARTTLS and authentication (reached through go-mail).
// They check what the real services would receive and let a test script failures.
package providertest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // Twilio's request signature is HMAC-SHA1
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Twilio test credentials.
const (
	TwilioAccountSID = "AC0123456789abcdef0123456789abcdef"
	TwilioAuthToken  = "0123456789abcdef0123456789abcdef"
)

// TwilioMessage is one message Twilio accepted.
type TwilioMessage struct {
	SID                 string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
}

// TwilioAnswer is a scripted failure: HTTP status, Twilio error code, and an optional Retry-After.
type TwilioAnswer struct {
	Status     int
	Code       int
	Message    string
	RetryAfter string
}

// Twilio is a local Twilio Messaging API (POST /2010-04-01/Accounts/{sid}/Messages.json).
type Twilio struct {
	URL string

	t        testing.TB
	mu       sync.Mutex
	delay    time.Duration // how long each request takes (SetDelay)
	accepted []TwilioMessage
	requests map[string]int            // by To
	script   map[string][]TwilioAnswer // by To: answers before success
	problems []string                  // requests the real Twilio would have refused
}

// NewTwilio starts the server; it stops when the test ends.
func NewTwilio(t testing.TB) *Twilio {
	f := &Twilio{t: t, requests: map[string]int{}, script: map[string][]TwilioAnswer{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// SetDelay makes each request take d, so a test can stop the service in the middle of a stream.
func (f *Twilio) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Total returns how many messages Twilio accepted, for every destination.
func (f *Twilio) Total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.accepted)
}

// Script makes the next requests for to fail with answers, in order; later requests succeed.
func (f *Twilio) Script(to string, answers ...TwilioAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[to] = append(f.script[to], answers...)
}

// Messages returns the messages accepted for to ("+1555..." or "whatsapp:+1555...").
func (f *Twilio) Messages(to string) []TwilioMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []TwilioMessage
	for _, m := range f.accepted {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// Requests returns how many requests were made for to, accepted or not.
func (f *Twilio) Requests(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[to]
}

// Problems returns the requests the real Twilio would have refused (bad auth, missing fields).
func (f *Twilio) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

func (f *Twilio) fail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "more_info": "https://www.twilio.com/docs/errors/" + fmt.Sprint(code), "status": status})
}

func (f *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	want := "/2010-04-01/Accounts/" + TwilioAccountSID + "/Messages.json"
	if r.Method != http.MethodPost || r.URL.Path != want {
		f.problem("unexpected %s %s", r.Method, r.URL.Path)
		f.fail(w, http.StatusNotFound, 20404, "The requested resource was not found")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != TwilioAccountSID || pass != TwilioAuthToken {
		f.problem("bad basic auth %q", user)
		f.fail(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.problem("content type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.problem("form: %v", err)
		f.fail(w, http.StatusBadRequest, 20001, "bad form")
		return
	}
	m := TwilioMessage{
		To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), MessagingServiceSID: r.PostForm.Get("MessagingServiceSid"),
		Body: r.PostForm.Get("Body"), StatusCallback: r.PostForm.Get("StatusCallback"),
	}
	switch {
	case m.To == "":
		f.problem("no To")
		f.fail(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case m.From == "" && m.MessagingServiceSID == "":
		f.problem("neither From nor MessagingServiceSid")
		f.fail(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case m.Body == "":
		f.problem("no Body")
		f.fail(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case strings.HasPrefix(m.To, "whatsapp:") != strings.HasPrefix(m.From, "whatsapp:") && m.From != "":
		f.problem("To %q and From %q mix WhatsApp and SMS", m.To, m.From)
		f.fail(w, http.StatusBadRequest, 63007, "Twilio could not find a Channel with the specified From address")
		return
	}

	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)

	f.mu.Lock()
	f.requests[m.To]++
	var answer *TwilioAnswer
	if s := f.script[m.To]; len(s) > 0 {
		answer, f.script[m.To] = &s[0], s[1:]
	}
	if answer == nil {
		m.SID = "SM" + randomHex(16)
		f.accepted = append(f.accepted, m)
	}
	f.mu.Unlock()

	if answer != nil {
		if answer.RetryAfter != "" {
			w.Header().Set("Retry-After", answer.RetryAfter)
		}
		f.fail(w, answer.Status, answer.Code, answer.Message)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": m.SID, "account_sid": TwilioAccountSID, "to": m.To, "from": m.From, "body": m.Body, "status": "queued",
		"messaging_service_sid": m.MessagingServiceSID, "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
	})
}

func (f *Twilio) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// SignTwilio computes X-Twilio-Signature for a POST of params to url, as Twilio does: base64 of the
// HMAC-SHA1, keyed with the auth token, of the URL followed by each parameter's name and value in
// name order.
func SignTwilio(authToken, url string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(url)
	for _, k := range keys {
		b.WriteString(k + params.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
