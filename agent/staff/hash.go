package staff

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Hashing is the cost of argon2id password hashes. Each hash is stored with its
// parameters, so changing them affects new hashes (and rehashes on sign-in) only.
type Hashing struct {
	// Time is the number of passes over the memory.
	Time uint32
	// MemoryKiB is the memory used, in KiB; at least 8 per thread.
	MemoryKiB uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// The default is RFC 9106's second recommended option, for memory-constrained
// machines: t=3, m=64 MiB, p=4, with a 128-bit salt and a 256-bit tag.
const (
	defaultTime      = 3
	defaultMemoryKiB = 64 * 1024
	defaultThreads   = 4

	saltBytes = 16
	keyBytes  = 32

	// Bounds on parameters read from a stored hash, so a damaged file cannot make a
	// sign-in allocate without limit.
	maxMemoryKiB = 1 << 20
	maxTime      = 64
)

func (h Hashing) check() error {
	switch {
	case h.Time < 1 || h.Time > maxTime:
		return fmt.Errorf("argon2id time %d out of range 1-%d", h.Time, maxTime)
	case h.Threads < 1:
		return errors.New("argon2id needs at least one thread")
	case h.MemoryKiB < 8*uint32(h.Threads) || h.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB out of range %d-%d", h.MemoryKiB, 8*uint32(h.Threads), maxMemoryKiB)
	}
	return nil
}

func (h Hashing) key(password string, salt []byte, n uint32) []byte {
	return argon2.IDKey([]byte(password), salt, h.Time, h.MemoryKiB, h.Threads, n)
}

// phc hashes password with a new random salt and returns it in PHC string format:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>, unpadded standard base64.
func (h Hashing) phc(password string) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryKiB, h.Time, h.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h.key(password, salt, keyBytes))), nil
}

var errBadHash = errors.New("stored password hash is not a valid argon2id PHC string")

// verify reports whether password matches the PHC string stored, and the parameters
// it was hashed with.
func verify(stored, password string) (Hashing, bool, error) {
	h, salt, want, err := parsePHC(stored)
	if err != nil {
		return Hashing{}, false, err
	}
	got := h.key(password, salt, uint32(len(want)))
	return h, subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(s string) (h Hashing, salt, key []byte, err error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return Hashing{}, nil, nil, errBadHash
	}
	var m, t, p uint64
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return Hashing{}, nil, nil, errBadHash
	}
	for i, dst := range []*uint64{&m, &t, &p} {
		k, v, ok := strings.Cut(params[i], "=")
		if !ok || k != "mtp"[i:i+1] {
			return Hashing{}, nil, nil, errBadHash
		}
		if *dst, err = strconv.ParseUint(v, 10, 32); err != nil {
			return Hashing{}, nil, nil, errBadHash
		}
	}
	if p > 255 {
		return Hashing{}, nil, nil, errBadHash
	}
	h = Hashing{Time: uint32(t), MemoryKiB: uint32(m), Threads: uint8(p)}
	if h.check() != nil {
		return Hashing{}, nil, nil, errBadHash
	}
	if salt, err = base64.RawStdEncoding.DecodeString(f[4]); err != nil || len(salt) < 8 {
		return Hashing{}, nil, nil, errBadHash
	}
	if key, err = base64.RawStdEncoding.DecodeString(f[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return Hashing{}, nil, nil, errBadHash
	}
	return h, salt, key, nil
}
