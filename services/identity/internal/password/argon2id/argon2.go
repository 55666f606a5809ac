// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package argon2id is golang.org/x/crypto/argon2 v0.58.0 (the version in Latchkey's module graph),
// cut down to Argon2id and changed for one purpose: the working memory of a derivation (m KiB of
// 1 KiB blocks, 19 MiB at OWASP's m=19456) comes from a Pool and goes back to it, instead of being
// allocated, zeroed by the runtime and left to the garbage collector on every call.
//
// Why a copy: x/crypto/argon2 allocates that memory inside IDKey and offers no way to pass a buffer
// in. Every password hash or check in identity then made 19 MiB of garbage; with logins in flight
// the heap grew to several times the memory the derivations actually needed (a 125 MiB peak with
// 8 concurrent logins), and allocating, zeroing, faulting in and collecting the block cost about
// 10 ms of a login's CPU on top of Argon2 itself.
//
// What changed against x/crypto v0.58.0 (argon2.go; blake2b.go and the blamka_* files, including
// the amd64 and loong64 assembly, are copied unchanged but for the package name):
//   - IDKey is a method of Pool; Key (Argon2i) and the Argon2d mode are gone.
//   - deriveKey takes its blocks from the caller instead of make([]block, memory).
//   - The first pass over memory overwrites each block it computes (processBlock) where x/crypto
//     XORs into it (processBlockXOR). Argon2 (RFC 9106 section 3.2 steps 5-6) computes a block of
//     the first pass from blocks already computed in this derivation and XORs into the old value
//     only from the second pass on; x/crypto XORs in every pass and relies on make() having zeroed
//     the memory. Overwriting gives the same bytes on zeroed memory and makes reused, dirty memory
//     safe without clearing it: see processBlocks.
//   - With one lane (p=1) the segments run on the calling goroutine instead of a new one each.
//
// pool.go and memory_*.go, hugepages_*.go are new: the Pool, and its workspaces mapped outside
// the Go heap on Unix.
//
// Output is byte-identical to x/crypto/argon2.IDKey (argon2id_test.go compares many parameter sets
// and checks RFC 9106's Argon2id test vector).
//
// The copyright and licence of the original are kept: see LICENSE in this directory (BSD-3-Clause).
package argon2id

import (
	"encoding/binary"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// The Argon2 version implemented by this package.
const Version = 0x13

// argon2id is the type number of Argon2id (x/crypto's argon2d and argon2i are 0 and 1). The Argon2i
// branches of x/crypto's code are kept (mode == argon2i is never true here) so that this file reads
// line by line against the original.
const (
	argon2i  = 1
	argon2id = 2
)

// IDKey derives a key from the password, salt, and cost parameters using Argon2id, exactly as
// golang.org/x/crypto/argon2.IDKey does, with working memory taken from the pool (see Pool).
// The time parameter is the number of passes over the memory, memory is its size in KiB, threads
// the number of lanes; time and threads must be greater than zero.
func (p *Pool) IDKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("argon2: number of rounds too small")
	}
	if threads < 1 {
		panic("argon2: parallelism degree too low")
	}
	w := p.get(blocksFor(memory, threads))
	defer p.put(w)
	return deriveKey(argon2id, w.blocks, password, salt, nil, nil, time, memory, threads, keyLen)
}

// blocksFor is the number of 1 KiB blocks a derivation with memory KiB and threads lanes uses: memory
// rounded down to a multiple of 4 × threads, and at least 8 × threads (as deriveKey computes it).
func blocksFor(memory uint32, threads uint8) uint32 {
	memory = memory / (syncPoints * uint32(threads)) * (syncPoints * uint32(threads))
	if memory < 2*syncPoints*uint32(threads) {
		memory = 2 * syncPoints * uint32(threads)
	}
	return memory
}

// deriveKey is x/crypto's, with the blocks passed in: mem must hold at least blocksFor(memory,
// threads) blocks, of any content (processBlocks never reads a block of this derivation before it
// has written it).
func deriveKey(mode int, mem []block, password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("argon2: number of rounds too small")
	}
	if threads < 1 {
		panic("argon2: parallelism degree too low")
	}
	h0 := initHash(password, salt, secret, data, time, memory, uint32(threads), keyLen, mode)

	memory = blocksFor(memory, threads)
	B := initBlocks(&h0, mem[:memory:memory], uint32(threads))
	processBlocks(B, time, memory, uint32(threads), mode)
	return extractKey(B, memory, uint32(threads), keyLen)
}

const (
	blockLength = 128
	syncPoints  = 4
)

type block [blockLength]uint64

func initHash(password, salt, key, data []byte, time, memory, threads, keyLen uint32, mode int) [blake2b.Size + 8]byte {
	var (
		h0     [blake2b.Size + 8]byte
		params [24]byte
		tmp    [4]byte
	)

	b2, _ := blake2b.New512(nil)
	binary.LittleEndian.PutUint32(params[0:4], threads)
	binary.LittleEndian.PutUint32(params[4:8], keyLen)
	binary.LittleEndian.PutUint32(params[8:12], memory)
	binary.LittleEndian.PutUint32(params[12:16], time)
	binary.LittleEndian.PutUint32(params[16:20], uint32(Version))
	binary.LittleEndian.PutUint32(params[20:24], uint32(mode))
	b2.Write(params[:])
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(password)))
	b2.Write(tmp[:])
	b2.Write(password)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(salt)))
	b2.Write(tmp[:])
	b2.Write(salt)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(key)))
	b2.Write(tmp[:])
	b2.Write(key)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(data)))
	b2.Write(tmp[:])
	b2.Write(data)
	b2.Sum(h0[:0])
	return h0
}

// initBlocks writes the first two blocks of every lane, whole, from h0 (x/crypto allocated B here).
func initBlocks(h0 *[blake2b.Size + 8]byte, B []block, threads uint32) []block {
	var block0 [1024]byte
	memory := uint32(len(B))
	for lane := uint32(0); lane < threads; lane++ {
		j := lane * (memory / threads)
		binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)

		binary.LittleEndian.PutUint32(h0[blake2b.Size:], 0)
		blake2bHash(block0[:], h0[:])
		for i := range B[j+0] {
			B[j+0][i] = binary.LittleEndian.Uint64(block0[i*8:])
		}

		binary.LittleEndian.PutUint32(h0[blake2b.Size:], 1)
		blake2bHash(block0[:], h0[:])
		for i := range B[j+1] {
			B[j+1][i] = binary.LittleEndian.Uint64(block0[i*8:])
		}
	}
	return B
}

// processBlocks fills the memory, pass by pass.
//
// Why reused memory needs no clearing: in the first pass (n == 0) every block B[offset] is computed
// from B[prev] (offset-1, the block just computed, or for the first two blocks of a lane, written by
// initBlocks) and B[newOffset], which indexAlpha picks, for n == 0, only among the blocks already
// computed in this pass (slice*segments + index blocks of earlier slices and this segment, minus one
// when index == 0 or same lane, as RFC 9106 section 3.4.2 prescribes), and it is written with
// processBlock, which overwrites it without reading it. So no block is read before this derivation
// wrote it; only later passes XOR into blocks, and those hold this derivation's first-pass values.
// The address blocks (addresses, in, zero) are local and zero. x/crypto used processBlockXOR in the
// first pass too, XORing into memory make() had zeroed: the same bytes on zeroed memory, wrong bytes
// on reused memory (TestReusedDirtyMemory catches that).
func processBlocks(B []block, time, memory, threads uint32, mode int) {
	lanes := memory / threads
	segments := lanes / syncPoints

	processSegment := func(n, slice, lane uint32, wg *sync.WaitGroup) {
		var addresses, in, zero block
		if mode == argon2i || (mode == argon2id && n == 0 && slice < syncPoints/2) {
			in[0] = uint64(n)
			in[1] = uint64(lane)
			in[2] = uint64(slice)
			in[3] = uint64(memory)
			in[4] = uint64(time)
			in[5] = uint64(mode)
		}

		index := uint32(0)
		if n == 0 && slice == 0 {
			index = 2 // we have already generated the first two blocks
			if mode == argon2i || mode == argon2id {
				in[6]++
				processBlock(&addresses, &in, &zero)
				processBlock(&addresses, &addresses, &zero)
			}
		}

		offset := lane*lanes + slice*segments + index
		var random uint64
		for index < segments {
			prev := offset - 1
			if index == 0 && slice == 0 {
				prev += lanes // last block in lane
			}
			if mode == argon2i || (mode == argon2id && n == 0 && slice < syncPoints/2) {
				if index%blockLength == 0 {
					in[6]++
					processBlock(&addresses, &in, &zero)
					processBlock(&addresses, &addresses, &zero)
				}
				random = addresses[index%blockLength]
			} else {
				random = B[prev][0]
			}
			newOffset := indexAlpha(random, lanes, segments, threads, n, slice, lane, index)
			if n == 0 {
				processBlock(&B[offset], &B[prev], &B[newOffset]) // first pass: overwrite (see above)
			} else {
				processBlockXOR(&B[offset], &B[prev], &B[newOffset])
			}
			index, offset = index+1, offset+1
		}
		wg.Done()
	}

	for n := uint32(0); n < time; n++ {
		for slice := uint32(0); slice < syncPoints; slice++ {
			var wg sync.WaitGroup
			if threads == 1 { // one lane: no goroutine to start and wait for
				wg.Add(1)
				processSegment(n, slice, 0, &wg)
				continue
			}
			for lane := uint32(0); lane < threads; lane++ {
				wg.Add(1)
				go processSegment(n, slice, lane, &wg)
			}
			wg.Wait()
		}
	}

}

func extractKey(B []block, memory, threads, keyLen uint32) []byte {
	lanes := memory / threads
	for lane := uint32(0); lane < threads-1; lane++ {
		for i, v := range B[(lane*lanes)+lanes-1] {
			B[memory-1][i] ^= v
		}
	}

	var block [1024]byte
	for i, v := range B[memory-1] {
		binary.LittleEndian.PutUint64(block[i*8:], v)
	}
	key := make([]byte, keyLen)
	blake2bHash(key, block[:])
	return key
}

func indexAlpha(rand uint64, lanes, segments, threads, n, slice, lane, index uint32) uint32 {
	refLane := uint32(rand>>32) % threads
	if n == 0 && slice == 0 {
		refLane = lane
	}
	m, s := 3*segments, ((slice+1)%syncPoints)*segments
	if lane == refLane {
		m += index
	}
	if n == 0 {
		m, s = slice*segments, 0
		if slice == 0 || lane == refLane {
			m += index
		}
	}
	if index == 0 || lane == refLane {
		m--
	}
	return phi(rand, uint64(m), uint64(s), refLane, lanes)
}

func phi(rand, m, s uint64, lane, lanes uint32) uint32 {
	p := rand & 0xFFFFFFFF
	p = (p * p) >> 32
	p = (p * m) >> 32
	return lane*lanes + uint32((s+m-(p+1))%uint64(lanes))
}
