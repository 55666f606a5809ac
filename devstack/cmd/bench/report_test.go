package main

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestMannWhitneyZ(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name    string
		a, b    []time.Duration
		wantAbs func(float64) bool
	}{
		{"same samples", ms(1, 2, 3, 4, 5, 6, 7, 8), ms(1, 2, 3, 4, 5, 6, 7, 8), func(z float64) bool { return z == 0 }},
		{"disjoint samples", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), ms(11, 12, 13, 14, 15, 16, 17, 18, 19, 20), func(z float64) bool { return z < -3.5 }},
		{"interleaved samples", ms(1, 3, 5, 7, 9, 11, 13, 15), ms(2, 4, 6, 8, 10, 12, 14, 16), func(z float64) bool { return math.Abs(z) < 0.5 }},
		{"empty", nil, ms(1), func(z float64) bool { return z == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if z := mannWhitneyZ(tt.a, tt.b); !tt.wantAbs(z) {
				t.Fatalf("z = %.3f", z)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	v := []time.Duration{5, 1, 4, 2, 3}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 3}, {0.99, 5}, {0, 1}, {1, 5}} {
		if got := quantile(v, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestCPUTimeAndMemoryOfThisProcess(t *testing.T) {
	pid := os.Getpid()
	if _, err := cpuTime(pid); err != nil {
		t.Fatal(err)
	}
	rss, peak, err := memory(pid)
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("rss %d peak %d err %v", rss, peak, err)
	}
}
