package argon2id

import (
	"sync"
	"sync/atomic"
)

// Pool is the working memory of at most Size derivations at a time, kept between them. Each of
// its Size workspaces allocates its blocks — memory KiB, the size the pool was made for — the first
// time a derivation needs it, and keeps them; no more than Size are ever allocated. A derivation
// borrows one for its whole run and returns it. On Unix the workspaces are mapped outside the Go
// heap (memory_unix.go), so they do not double the heap the garbage collector lets grow.
//
// Callers bound their concurrent derivations to Size (identity's hashing gate does): then every
// derivation finds a workspace free. A derivation that finds none (more callers than Size at
// once), or whose parameter set needs more memory than the pool's size, runs in memory allocated
// for it alone and dropped afterwards, as x/crypto does; Stats counts those. A parameter set with
// less memory (an older stored hash) uses the first blocks of a pooled workspace.
//
// A Pool is safe for concurrent use.
type Pool struct {
	size      int
	blocks    uint32          // blocks of a workspace
	free      chan *workspace // returned workspaces; capacity size
	allocated atomic.Int64    // workspaces that have allocated their blocks: never more than size
	oneOff    atomic.Int64    // derivations that ran in memory of their own

	mapOnce sync.Once
	mapped  *mappings // workspaces mapped outside the Go heap (memory_unix.go)
}

type workspace struct {
	blocks []block
	pooled bool // one of the pool's; false: a derivation's own, dropped after it
}

// NewPool returns a pool for size concurrent derivations of up to memory KiB each (with one lane; a
// derivation with more lanes needs at most as many blocks, since blocksFor rounds down). Nothing is
// allocated until a derivation needs it. size below 1 counts as 1.
func NewPool(size int, memory uint32) *Pool {
	size = max(size, 1)
	return &Pool{size: size, blocks: blocksFor(memory, 1), free: make(chan *workspace, size)}
}

// Size is the most workspaces the pool ever holds.
func (p *Pool) Size() int { return p.size }

// Stats is what a Pool has allocated.
type Stats struct {
	Workspaces int   // workspaces that hold their blocks (at most Size)
	Bytes      int64 // memory they hold
	OneOff     int64 // derivations that ran in memory of their own (no workspace free, or a bigger parameter set)
}

// Stats returns what the pool has allocated so far.
func (p *Pool) Stats() Stats {
	n := p.allocated.Load()
	return Stats{Workspaces: int(n), Bytes: n * int64(p.blocks) * blockLength * 8, OneOff: p.oneOff.Load()}
}

// get returns a workspace with at least n blocks: a free one, a new one while fewer than size
// exist, or else one of its own that put drops.
func (p *Pool) get(n uint32) *workspace {
	if n > p.blocks {
		p.oneOff.Add(1)
		return &workspace{blocks: make([]block, n)}
	}
	select {
	case w := <-p.free:
		return w
	default:
	}
	for {
		a := p.allocated.Load()
		if a >= int64(p.size) {
			break
		}
		if p.allocated.CompareAndSwap(a, a+1) {
			return &workspace{blocks: p.newWorkspaceMemory(p.blocks), pooled: true}
		}
	}
	p.oneOff.Add(1)
	return &workspace{blocks: make([]block, n)}
}

// put returns a pooled workspace; one of a derivation's own is left to the garbage collector.
func (p *Pool) put(w *workspace) {
	if !w.pooled {
		return
	}
	select {
	case p.free <- w:
	default: // cannot happen: at most size pooled workspaces exist, and the channel holds size
	}
}
