package session

import (
	"strings"
	"testing"
)

func TestRefreshTokenFormat(t *testing.T) {
	const sid = "0b6f1d7e-2f0a-4c53-9a51-3c1d3f0e8a11"
	tok := newRefreshToken(sid)
	if other := newRefreshToken(sid); other == tok {
		t.Fatal("two refresh tokens are equal")
	}
	if got, want := len(tok), 36+1+43; got != want {
		t.Errorf("len(token) = %d, want %d", got, want)
	}

	tests := []struct {
		name   string
		token  string
		wantID string
		wantOK bool
	}{
		{"fresh token", tok, sid, true},
		{"no dot", strings.ReplaceAll(tok, ".", ""), "", false},
		{"session id not a uuid", "not-a-uuid." + strings.SplitN(tok, ".", 2)[1], "", false},
		{"short secret", sid + ".abc", "", false},
		{"secret not base64url", sid + "." + strings.Repeat("!", 43), "", false},
		{"extra segment", tok + ".x", "", false},
		{"empty", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotID, gotOK := parseRefreshToken(tc.token)
			if gotID != tc.wantID || gotOK != tc.wantOK {
				t.Errorf("parseRefreshToken(%q) = %q, %v; want %q, %v", tc.token, gotID, gotOK, tc.wantID, tc.wantOK)
			}
		})
	}
}

func TestHashRefreshToken(t *testing.T) {
	a, b := newRefreshToken("0b6f1d7e-2f0a-4c53-9a51-3c1d3f0e8a11"), newRefreshToken("0b6f1d7e-2f0a-4c53-9a51-3c1d3f0e8a11")
	if hashRefreshToken(a) != hashRefreshToken(a) {
		t.Error("hash is not deterministic")
	}
	if hashRefreshToken(a) == hashRefreshToken(b) {
		t.Error("two tokens hash alike")
	}
	if strings.Contains(hashRefreshToken(a), strings.SplitN(a, ".", 2)[1]) {
		t.Error("hash contains the secret")
	}
}
