package kafkax

import "time"

// SetOutboxTiming shortens the relay's longest idle wait and its sweep intervals (zero keeps one).
func SetOutboxTiming(o *Outbox, pollMax, sweepEvery, claimsSweepEvery time.Duration) {
	if pollMax > 0 {
		o.pollMax = pollMax
	}
	if sweepEvery > 0 {
		o.sweepEvery = sweepEvery
	}
	if claimsSweepEvery > 0 {
		o.claimsSweepEvery = claimsSweepEvery
	}
}

// SetOutboxAddedBuffer replaces the buffer of ids Add hands to the relay (before Run starts).
func SetOutboxAddedBuffer(o *Outbox, n int) { o.added = make(chan string, n) }
