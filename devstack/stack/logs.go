package stack

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// maxLineBytes bounds a buffered partial line; a longer line is written out in pieces.
const maxLineBytes = 64 << 10

// tailLines is how many log lines of a service a start-up failure quotes.
const tailLines = 40

// sink serialises whole lines from many writers onto one destination, so lines of different
// services never interleave mid-line. Sinks may share a mutex: stdout and stderr may be the same
// writer.
type sink struct {
	mu *sync.Mutex
	w  io.Writer
}

func newSink(w io.Writer, mu *sync.Mutex) *sink {
	if w == nil {
		w = io.Discard
	}
	return &sink{w: w, mu: mu}
}

func (s *sink) writeLine(prefix string, line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(buf, prefix...)
	buf = append(buf, line...)
	buf = append(buf, '\n')
	_, _ = s.w.Write(buf) // a failing log destination must not stop a service
}

// lineWriter is an io.Writer that splits what it gets into lines, writes each to a sink with a
// prefix such as "[identity] ", and keeps the last lines in a tail.
type lineWriter struct {
	prefix string
	sink   *sink
	tail   *tail

	mu      sync.Mutex
	partial []byte
}

func newLineWriter(prefix string, s *sink, t *tail) *lineWriter {
	return &lineWriter{prefix: prefix, sink: s, tail: t}
}

// Write implements io.Writer; it never fails.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= maxLineBytes {
				w.emit(w.partial)
				w.partial = w.partial[:0]
			}
			break
		}
		line := p[:i]
		if len(w.partial) > 0 {
			line = append(w.partial, line...)
		}
		w.emit(line)
		w.partial = w.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Flush writes out a last line that did not end in a newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(w.partial)
		w.partial = w.partial[:0]
	}
}

func (w *lineWriter) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	w.sink.writeLine(w.prefix, line)
	if w.tail != nil {
		w.tail.add(string(line))
	}
}

// tail keeps the last n lines written to it.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == t.n {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:t.n-1]
	}
	t.lines = append(t.lines, line)
}

// String returns the kept lines, one per line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
