package session

import (
	"fmt"
	"testing"
	"time"
)

// TestToucherDue: within the interval of a recorded write no round trip; from the interval on, always
// one (the memo never holds a write back past the interval); a failed or revoked session is forgotten.
func TestToucherDue(t *testing.T) {
	const every = time.Minute
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var m toucher

	if !m.due("s-1", t0, every) {
		t.Fatal("an unknown session is not due")
	}
	for _, d := range []time.Duration{0, time.Second, every - time.Nanosecond} {
		if m.due("s-1", t0.Add(d), every) {
			t.Errorf("due %s after the write, within the interval %s", d, every)
		}
	}
	if !m.due("s-1", t0.Add(every), every) {
		t.Error("not due once the interval has passed")
	}
	// That due recorded the write at t0+every: the next is due an interval later, not before.
	if m.due("s-1", t0.Add(2*every-time.Nanosecond), every) {
		t.Error("due before an interval after the last write")
	}
	if !m.due("s-1", t0.Add(2*every), every) {
		t.Error("not due an interval after the last write")
	}

	// Create and Refresh record their own writes; an older report does not move the memo back.
	m.wrote("s-2", t0, every)
	m.wrote("s-2", t0.Add(-time.Hour), every)
	if m.due("s-2", t0.Add(every/2), every) {
		t.Error("due right after Create/Refresh wrote lastActiveAt")
	}
	if !m.due("s-2", t0.Add(every), every) {
		t.Error("a written session is not due an interval later")
	}

	// A revoked session (or one whose write failed) is forgotten: its next request writes again, and
	// the memo does not keep it.
	m.wrote("s-3", t0, every)
	m.forget("s-3")
	if _, ok := m.last["s-3"]; ok {
		t.Error("forget kept the session")
	}
	if !m.due("s-3", t0.Add(time.Second), every) {
		t.Error("a forgotten session is not due")
	}
}

// TestToucherBounded: the memo never holds more than maxTouched sessions. When full it drops those that
// are due anyway and keeps the recent ones; when nearly all are recent it starts afresh.
func TestToucherBounded(t *testing.T) {
	const every = time.Minute
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var m toucher
	for i := range maxTouched / 2 { // half of them old
		m.wrote(fmt.Sprintf("old-%d", i), t0, every)
	}
	now := t0.Add(2 * every)
	for i := range maxTouched - maxTouched/2 {
		m.wrote(fmt.Sprintf("new-%d", i), now, every)
	}
	if got := m.size(); got != maxTouched {
		t.Fatalf("size = %d, want %d", got, maxTouched)
	}
	if !m.due("one-more", now, every) {
		t.Fatal("a new session is not due")
	}
	if got, want := m.size(), maxTouched-maxTouched/2+1; got != want {
		t.Errorf("after the sweep size = %d, want %d (the stale half dropped)", got, want)
	}
	if m.due("new-7", now.Add(time.Second), every) {
		t.Error("a recently written session lost by the sweep")
	}

	// All recent: the sweep frees nothing, so the memo starts afresh rather than grow.
	var full toucher
	for i := range maxTouched {
		full.wrote(fmt.Sprintf("s-%d", i), now, every)
	}
	full.wrote("s-extra", now, every)
	if got := full.size(); got != 1 {
		t.Errorf("size = %d after overflowing a memo of recent sessions, want 1 (started afresh)", got)
	}
}
