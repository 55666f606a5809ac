//go:build unix

package argon2id

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// Pooled workspaces are mapped from the operating system, outside the Go heap. Kept in the heap,
// MaxHashes × 19 MiB of pointer-free bytes that never become garbage would still count as live
// heap, and the collector (GOGC=100) would let the other garbage grow to as much again before it
// collected: the process's peak would be about twice the workspaces. Mapped, they cost exactly
// their size, and the heap is paced by what the process really allocates. They are unmapped when
// their Pool is garbage (tests make many pools; identity makes one for its lifetime).

// mappings are the workspaces a pool has mapped; a cleanup on the pool unmaps them.
type mappings struct {
	mu      sync.Mutex
	regions [][]byte
}

// newWorkspaceMemory maps n blocks for p, or allocates them in the heap if the mapping fails.
func (p *Pool) newWorkspaceMemory(n uint32) []block {
	size := int(n) * blockLength * 8
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]block, n)
	}
	adviseHugePages(mem)
	p.mapOnce.Do(func() {
		p.mapped = &mappings{}
		runtime.AddCleanup(p, func(m *mappings) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, r := range m.regions {
				_ = syscall.Munmap(r)
			}
			m.regions = nil
		}, p.mapped)
	})
	p.mapped.mu.Lock()
	p.mapped.regions = append(p.mapped.regions, mem)
	p.mapped.mu.Unlock()
	return unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(mem))), n)
}
