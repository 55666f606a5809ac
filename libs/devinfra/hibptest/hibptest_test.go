package hibptest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/hibptest"
)

func get(t *testing.T, url string, padding bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if padding {
		req.Header.Set("Add-Padding", "true")
	}
	req.Header.Set("User-Agent", "hibptest-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestRange(t *testing.T) {
	t.Parallel()
	srv := hibptest.New(t, "Tr0ub4dor&3")
	srv.Add("another one", 42)
	hash := hibptest.Hash("Tr0ub4dor&3")
	if len(hash) != 40 || strings.ToUpper(hash) != hash {
		t.Fatalf("Hash = %q", hash)
	}

	status, body := get(t, srv.URL+"/range/"+hash[:5], false)
	if status != http.StatusOK || body != hash[5:]+":1" {
		t.Errorf("unpadded range = %d %q, want the one suffix", status, body)
	}
	// Lower-case prefixes are accepted, as by the API.
	if status, body := get(t, srv.URL+"/range/"+strings.ToLower(hash[:5]), false); status != http.StatusOK || body != hash[5:]+":1" {
		t.Errorf("lower-case prefix = %d %q", status, body)
	}

	status, body = get(t, srv.URL+"/range/"+hash[:5], true)
	lines := strings.Split(body, "\r\n")
	if status != http.StatusOK || len(lines) < 800 || len(lines) > 1000 {
		t.Fatalf("padded range = %d, %d lines, want 800 to 1000", status, len(lines))
	}
	found, zeros := false, 0
	for _, l := range lines {
		suffix, count, ok := strings.Cut(l, ":")
		if !ok || len(suffix) != 35 || strings.ToUpper(suffix) != suffix {
			t.Fatalf("line %q is not SUFFIX:COUNT", l)
		}
		switch {
		case suffix == hash[5:] && count == "1":
			found = true
		case count == "0":
			zeros++
		}
	}
	if !found || zeros != len(lines)-1 {
		t.Errorf("padded range: found=%v, %d padding lines of %d", found, zeros, len(lines))
	}

	for _, bad := range []string{"8F40", "8F40A1", "XYZ12"} {
		if status, _ := get(t, srv.URL+"/range/"+bad, false); status != http.StatusBadRequest {
			t.Errorf("prefix %q = %d, want 400", bad, status)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 6 || reqs[0].Prefix != hash[:5] || reqs[0].Padding || !reqs[2].Padding || reqs[0].UserAgent != "hibptest-test" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	srv := hibptest.New(t, "x")
	srv.SetMode(hibptest.Fail)
	if status, _ := get(t, srv.URL+"/range/ABCDE", true); status != http.StatusServiceUnavailable {
		t.Errorf("Fail: status %d, want 503", status)
	}
	srv.SetMode(hibptest.Garbage)
	if status, body := get(t, srv.URL+"/range/ABCDE", true); status != http.StatusOK || strings.Contains(body, ":") {
		t.Errorf("Garbage: %d %q", status, body)
	}
	srv.SetMode(hibptest.Hang)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/range/ABCDE", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("Hang answered %d", resp.StatusCode)
	}
}
