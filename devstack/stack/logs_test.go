package stack

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("x", maxLineBytes)
	tests := []struct {
		name   string
		writes []string
		flush  bool
		want   string
	}{
		{name: "one line", writes: []string{"hello\n"}, want: "[svc] hello\n"},
		{name: "many lines in one write", writes: []string{"a\nb\nc\n"}, want: "[svc] a\n[svc] b\n[svc] c\n"},
		{name: "line split over writes", writes: []string{"hel", "lo\nwor", "ld\n"}, want: "[svc] hello\n[svc] world\n"},
		{name: "partial line held back", writes: []string{"a\npartial"}, want: "[svc] a\n"},
		{name: "partial line flushed", writes: []string{"a\npartial"}, flush: true, want: "[svc] a\n[svc] partial\n"},
		{name: "crlf", writes: []string{"dos\r\n"}, want: "[svc] dos\n"},
		{name: "empty line", writes: []string{"\n"}, want: "[svc] \n"},
		{name: "overlong partial line written out", writes: []string{long, "tail\n"}, want: "[svc] " + long + "\n[svc] tail\n"},
		{name: "long line in one write kept whole", writes: []string{long + "tail\n"}, want: "[svc] " + long + "tail\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := newLineWriter("[svc] ", newSink(&out, new(sync.Mutex)), nil)
			for _, s := range tt.writes {
				n, err := w.Write([]byte(s))
				if n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tt.flush {
				w.Flush()
			}
			if got := out.String(); got != tt.want {
				if len(got) > 200 || len(tt.want) > 200 {
					t.Fatalf("output of %d bytes, want %d bytes", len(got), len(tt.want))
				}
				t.Fatalf("output %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		lines []string
		want  string
	}{
		{name: "empty", n: 3, want: ""},
		{name: "fewer than n", n: 3, lines: []string{"a", "b"}, want: "a\nb"},
		{name: "more than n", n: 3, lines: []string{"a", "b", "c", "d", "e"}, want: "c\nd\ne"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTail(tt.n)
			var out bytes.Buffer
			w := newLineWriter("", newSink(&out, new(sync.Mutex)), tl)
			for _, l := range tt.lines {
				_, _ = w.Write([]byte(l + "\n"))
			}
			if got := tl.String(); got != tt.want {
				t.Fatalf("tail %q, want %q", got, tt.want)
			}
		})
	}
}
