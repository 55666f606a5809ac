//go:build !unix

package argon2id

import "sync"

// mappings is unused where workspaces live in the Go heap.
type mappings struct{ _ sync.Mutex }

// newWorkspaceMemory allocates n blocks in the Go heap.
func (p *Pool) newWorkspaceMemory(n uint32) []block { return make([]block, n) }
