package argon2id

import "syscall"

// adviseHugePages asks for transparent huge pages (where the system's setting is "madvise"): a
// derivation reads its workspace at random, and fewer TLB misses make it faster. Only advice.
func adviseHugePages(mem []byte) { _ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE) }
