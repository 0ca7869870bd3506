package proof

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/sitekey"
)

// OriginPrefix precedes the site code in the origin of a site's log.
const OriginPrefix = "apedge/"

// MaxCheckpointSize bounds a signed checkpoint; anything larger is refused unread.
const MaxCheckpointSize = 64 << 10

// algEd25519 is the signed-note signature type of Ed25519 keys.
const algEd25519 = 0x01

// Origin returns the origin of site's log, "apedge/{site}": the first line of its
// checkpoints and the key name their signatures carry.
func Origin(site string) string { return OriginPrefix + site }

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin, its size (number
// of leaves) and the root hash of the tree of that size.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   tlog.Hash
}

// Body returns the checkpoint text: "origin\nsize\nbase64(root)\n", with the size in
// decimal and the root in standard padded base64. It is what the note signature signs.
func (c Checkpoint) Body() []byte {
	b := make([]byte, 0, len(c.Origin)+64)
	b = append(b, c.Origin...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, c.Size, 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, c.Root[:])
	return append(b, '\n')
}

// ParseCheckpoint parses a checkpoint body (the text of the signed note, without its
// signatures) per C2SP tlog-checkpoint, strictly: valid UTF-8 with no control character
// but newline, ending in a newline; an origin that could be a note key name (non-empty,
// no spaces, no '+'); a size in decimal with no sign and no leading zero (other than
// "0" itself) of at most MaxTreeSize; a root of exactly 32 bytes in canonical standard
// padded base64. Extension lines after the root are allowed, must be non-empty, and are
// ignored. It never panics on any input.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: "+format, append([]any{ErrMalformedCheckpoint}, args...)...)
	}
	if len(body) > MaxCheckpointSize {
		return bad("body of %d bytes exceeds %d", len(body), MaxCheckpointSize)
	}
	if !utf8.Valid(body) {
		return bad("not valid UTF-8")
	}
	for _, c := range body {
		if c < 0x20 && c != '\n' || c == 0x7f {
			return bad("control character %#02x", c)
		}
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return bad("body does not end in a newline")
	}
	lines := strings.Split(string(body[:len(body)-1]), "\n")
	if len(lines) < 3 {
		return bad("%d lines, want origin, size and root", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return bad("line %d is empty", i+1)
		}
	}
	origin, size, root := lines[0], lines[1], lines[2]
	if !validName(origin) {
		return bad("origin %.80q is not a key name (spaces or '+')", origin)
	}
	n, err := parseSize(size)
	if err != nil {
		return bad("%v", err)
	}
	h, err := parseHash(root)
	if err != nil {
		return bad("root: %v", err)
	}
	return Checkpoint{Origin: origin, Size: n, Root: h}, nil
}

// parseSize parses a canonical decimal tree size of at most MaxTreeSize.
func parseSize(s string) (uint64, error) {
	if len(s) > 20 {
		return 0, fmt.Errorf("size %.24q... is too long", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("size %q is not a decimal number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("size %q has a leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > MaxTreeSize {
		return 0, fmt.Errorf("size %s exceeds %d", s, MaxTreeSize)
	}
	return n, nil
}

// parseHash decodes a hash in canonical standard padded base64: exactly the string
// that encoding the 32 bytes gives back.
func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	if len(s) != base64.StdEncoding.EncodedLen(tlog.HashSize) {
		return h, fmt.Errorf("%d characters, want %d of base64", len(s), base64.StdEncoding.EncodedLen(tlog.HashSize))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != tlog.HashSize || base64.StdEncoding.EncodeToString(b) != s {
		return h, fmt.Errorf("%q is not canonical base64 of %d bytes", s, tlog.HashSize)
	}
	copy(h[:], b)
	return h, nil
}

// validName reports whether name can be a note key name: non-empty UTF-8 with no
// Unicode space and no '+' (the rule of golang.org/x/mod/sumdb/note).
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// KeyHash returns the signed-note key hash of an Ed25519 key under name: the first four
// bytes, big-endian, of SHA-256(name || "\n" || 0x01 || 32-byte public key).
func KeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the signed-note verifier key of a site's public key,
// "apedge/{site}+{keyhash}+{base64(0x01 || key)}", as golang.org/x/mod/sumdb/note and
// other note implementations take it.
func VerifierKey(pub *sitekey.Public) (string, error) {
	if pub == nil || !sitekey.ValidSiteCode(pub.Site) {
		return "", errors.New("proof: verifier key: the public key must name its site")
	}
	vk, err := note.NewEd25519VerifierKey(Origin(pub.Site), pub.Key)
	if err != nil {
		return "", fmt.Errorf("proof: verifier key: %w", err)
	}
	return vk, nil
}

// signer is a note.Signer for a site key under the name of the site's origin.
type signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *signer) Name() string                    { return s.name }
func (s *signer) KeyHash() uint32                 { return s.hash }
func (s *signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// newSigner returns the note signer of k under name. The key is derived again from its
// seed, so the signature always matches the key hash.
func newSigner(k *sitekey.Private, name string) (*signer, error) {
	if k == nil || len(k.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("proof: not an Ed25519 site key")
	}
	if !validName(name) {
		return nil, fmt.Errorf("proof: %q cannot name a note key", name)
	}
	priv := ed25519.NewKeyFromSeed(k.Key.Seed())
	return &signer{name: name, hash: KeyHash(name, priv.Public().(ed25519.PublicKey)), key: priv}, nil
}

// SignCheckpoint returns c as a signed note by k: the checkpoint body, a blank line and
// one signature line "— apedge/{site} base64(keyhash || signature)". It refuses a
// checkpoint whose origin is not Origin(k.Site) or whose size exceeds MaxTreeSize.
func SignCheckpoint(k *sitekey.Private, c Checkpoint) ([]byte, error) {
	if k == nil || !sitekey.ValidSiteCode(k.Site) {
		return nil, errors.New("proof: sign checkpoint: the key must name its site")
	}
	if c.Origin != Origin(k.Site) {
		return nil, fmt.Errorf("proof: sign checkpoint: origin %q is not %q, the origin of the key's site", c.Origin, Origin(k.Site))
	}
	if c.Size > MaxTreeSize {
		return nil, fmt.Errorf("proof: sign checkpoint: size %d exceeds %d", c.Size, MaxTreeSize)
	}
	s, err := newSigner(k, c.Origin)
	if err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Body())}, s)
	if err != nil {
		return nil, fmt.Errorf("proof: sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint of site's log and returns it with the key
// that signed it. The note must carry a valid signature under the name Origin(site) by
// one of keys (several when the site rotated its key; keys of other sites are ignored);
// signatures by other keys, such as witnesses' cosignatures, are ignored as the note
// format requires. Its body must parse (ParseCheckpoint) and name Origin(site). Every
// signature must be in canonical base64, so that a note has one encoding.
//
// Errors wrap ErrMalformedCheckpoint, ErrUnknownSigner, ErrCheckpointSignature or
// ErrWrongOrigin, each of which is also an ErrCheckpoint. It never panics on any input.
func OpenCheckpoint(msg []byte, site string, keys []*sitekey.Public) (Checkpoint, *sitekey.Public, error) {
	fail := func(kind error, format string, args ...any) (Checkpoint, *sitekey.Public, error) {
		return Checkpoint{}, nil, fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)
	}
	if len(msg) > MaxCheckpointSize {
		return fail(ErrMalformedCheckpoint, "%d bytes exceeds %d", len(msg), MaxCheckpointSize)
	}
	if !sitekey.ValidSiteCode(site) {
		return fail(ErrCheckpoint, "site code %.40q is not valid", site)
	}
	origin := Origin(site)
	if err := canonicalSignatures(msg); err != nil {
		return fail(ErrMalformedCheckpoint, "%v", err)
	}
	var verifiers []note.Verifier
	byHash := map[uint32]*sitekey.Public{}
	for _, k := range siteKeys(site, keys) {
		vk, err := note.NewEd25519VerifierKey(origin, k.Key)
		if err != nil {
			continue
		}
		v, err := note.NewVerifier(vk)
		if err != nil {
			continue
		}
		if _, dup := byHash[v.KeyHash()]; dup {
			// Two keys with one 32-bit key hash: the note format cannot tell them
			// apart. Keep the first; a signature by the other fails as a bad one.
			continue
		}
		byHash[v.KeyHash()] = k
		verifiers = append(verifiers, v)
	}
	if len(verifiers) == 0 {
		return fail(ErrUnknownSigner, "no public key of site %s given", site)
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			var by []string
			for _, s := range unverified.Note.UnverifiedSigs {
				by = append(by, fmt.Sprintf("%.80s+%08x", s.Name, s.Hash))
			}
			return fail(ErrUnknownSigner, "signed by %s, none of the %d keys of site %s", strings.Join(by, ", "), len(verifiers), site)
		case errors.As(err, &invalid):
			id := "?"
			if k := byHash[invalid.Hash]; k != nil {
				id = k.ID
			}
			return fail(ErrCheckpointSignature, "signature by key %s (%s+%08x) does not verify", id, invalid.Name, invalid.Hash)
		default:
			return fail(ErrMalformedCheckpoint, "%v", err)
		}
	}
	// Every verifier is named origin, so a verified signature is by one of byHash.
	var signer *sitekey.Public
	for _, s := range n.Sigs {
		if k, ok := byHash[s.Hash]; ok && s.Name == origin {
			signer = k
			break
		}
	}
	if signer == nil {
		return fail(ErrUnknownSigner, "no signature by a key of site %s", site)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != origin {
		return fail(ErrWrongOrigin, "origin %q, want %q", c.Origin, origin)
	}
	return c, signer, nil
}

// canonicalSignatures checks that every signature line of a signed note has its
// signature in canonical standard base64 (note.Open alone would accept the same
// signature with different unused bits in its last character). Lines note.Open would
// refuse are left for it to refuse.
func canonicalSignatures(msg []byte) error {
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return nil
	}
	for _, line := range bytes.Split(msg[split+2:], []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("— "))
		if !ok {
			continue
		}
		_, b64, ok := bytes.Cut(rest, []byte{' '})
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(string(b64))
		if err != nil || base64.StdEncoding.EncodeToString(raw) != string(b64) {
			return fmt.Errorf("signature %.100q is not canonical base64", b64)
		}
	}
	return nil
}
