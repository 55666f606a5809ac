package wire_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/wire"
)

func TestPlainText(t *testing.T) {
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{"latin", "Ada Lovelace", true},
		{"accents and apostrophe", "Zoë O'Brien-Łukasz", true},
		{"cjk", "李小龍", true},
		{"arabic letters", "محمد", true},
		{"emoji", "Ada 🚀", true},
		{"empty", "", true},
		{"right-to-left override", "Ada\u202Egpj.exe", false},
		{"left-to-right embedding", "\u202AAda", false},
		{"isolate", "Ada\u2066x\u2069", false},
		{"pop directional", "Ada\u202C", false},
		{"right-to-left mark", "Ada\u200F", false},
		{"arabic letter mark", "Ada\u061C", false},
		{"zero-width space", "ad\u200Bmin", false},
		{"zero-width non-joiner", "ad\u200Cmin", false},
		{"zero-width joiner", "ad\u200Dmin", false},
		{"word joiner", "ad\u2060min", false},
		{"byte order mark", "\uFEFFAda", false},
		{"nul", "Ada\x00", false},
		{"newline", "Ada\nLovelace", false},
		{"tab", "Ada\tLovelace", false},
		{"escape", "Ada\x1b[31m", false},
		{"delete", "Ada\x7f", false},
		{"c1 control", "Ada\u0085", false},
		{"line separator", "Ada\u2028", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := wire.NewChecker()
			v.PlainText("first_name", tc.value)
			if got := v.Err() == nil; got != tc.ok {
				t.Errorf("PlainText(%q) ok = %v, want %v", tc.value, got, tc.ok)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	if got, want := wire.CleanText("Mozilla/5.0 \u202E(X11)\x00\u200B"), "Mozilla/5.0 (X11)"; got != want {
		t.Errorf("CleanText = %q, want %q", got, want)
	}
	if got := wire.CleanText("Mozilla/5.0 (X11; Linux x86_64)"); got != "Mozilla/5.0 (X11; Linux x86_64)" {
		t.Errorf("CleanText changed a clean value: %q", got)
	}
}
