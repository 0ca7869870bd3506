package journal

import (
	"hash/maphash"
	"math/bits"
)

// originFilter is a scalable Bloom filter of every origin in the journal: when it says
// an origin is absent, it is, and the writer skips the database lookup; when it says
// maybe (always for a journaled origin, and for about 1% of others), the writer looks.
// So a new origin, the common case, costs a few memory reads, and the UNIQUE index on
// origin stays the guarantee.
//
// It holds about 10 bits per origin: 1.2 MB per million. It grows by adding a layer
// twice the size of the last whenever the last is full, so it never needs the
// database again after Open.
type originFilter struct {
	seed   maphash.Seed
	layers []*bloomLayer
}

type bloomLayer struct {
	bits     []uint64
	mask     uint64 // len(bits)*64 - 1; the size is a power of two
	n, limit int
}

const (
	bloomBitsPerOrigin = 10 // with bloomProbes, about 1% false positives at the limit
	bloomProbes        = 7
	bloomMinOrigins    = 1 << 14
)

func newOriginFilter(expected int) *originFilter {
	f := &originFilter{seed: maphash.MakeSeed()}
	f.grow(max(bloomMinOrigins, 2*expected))
	return f
}

func (f *originFilter) grow(origins int) {
	nbits := 1 << bits.Len(uint(origins*bloomBitsPerOrigin-1)) // a power of two >= origins*10
	f.layers = append(f.layers, &bloomLayer{
		bits:  make([]uint64, nbits/64),
		mask:  uint64(nbits - 1),
		limit: nbits / bloomBitsPerOrigin,
	})
}

// Add records origin.
func (f *originFilter) Add(origin string) {
	l := f.layers[len(f.layers)-1]
	if l.n >= l.limit {
		f.grow(2 * l.limit)
		l = f.layers[len(f.layers)-1]
	}
	h1, h2 := f.hash(origin)
	for i := range uint64(bloomProbes) {
		b := (h1 + i*h2) & l.mask
		l.bits[b/64] |= 1 << (b % 64)
	}
	l.n++
}

// MayContain reports false only if origin was never added.
func (f *originFilter) MayContain(origin string) bool {
	h1, h2 := f.hash(origin)
	for _, l := range f.layers {
		if l.has(h1, h2) {
			return true
		}
	}
	return false
}

func (l *bloomLayer) has(h1, h2 uint64) bool {
	for i := range uint64(bloomProbes) {
		b := (h1 + i*h2) & l.mask
		if l.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// hash returns two independent-enough hashes of origin for double hashing; h2 is odd
// so that the probes cover the power-of-two table.
func (f *originFilter) hash(origin string) (h1, h2 uint64) {
	h := maphash.String(f.seed, origin)
	return h, bits.RotateLeft64(h, 32)*0x9e3779b97f4a7c15 | 1
}
