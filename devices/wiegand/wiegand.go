// Package wiegand decodes and encodes Wiegand card data: the bit strings that readers
// send on D0/D1 wires and that OSDP readers pass on in their RAW card-data replies.
//
// Two formats are decoded into a facility code and card number, with parity checked:
//
//   - 26-bit (HID H10301): even parity over bits 1–12, facility code in bits 1–8,
//     card number in bits 9–24, odd parity over bits 13–24 in bit 25.
//   - 34-bit (HID H10306): even parity over bits 1–16, facility code in bits 1–16,
//     card number in bits 17–32, odd parity over bits 17–32 in bit 33.
//
// Bits are numbered from 0 in the order they arrive (most significant first), and are
// packed into bytes most significant bit first, as OSDP's osdp_RAW reply carries them
// (SIA OSDP v2.2, 7.10). Any other length is kept as raw bits, never guessed at.
package wiegand

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Formats a Card can have.
const (
	Format26  = "wiegand-26"
	Format34  = "wiegand-34"
	FormatRaw = "raw"
)

// MaxBits is the longest bit string Decode accepts.
const MaxBits = 1024

// ErrParity marks a 26- or 34-bit read whose parity bits do not match its data: a
// misread, never a different card.
var ErrParity = errors.New("wiegand: parity error")

// Card is one decoded card read.
type Card struct {
	// Bits is how many bits were read; Raw holds them, most significant first.
	Bits int
	Raw  []byte
	// Format is Format26, Format34 or FormatRaw.
	Format string
	// Facility and Number are the facility code and card number of a 26- or 34-bit
	// card; zero for raw reads.
	Facility uint32
	Number   uint32
}

// bit returns bit i of raw.
func bit(raw []byte, i int) int { return int(raw[i/8]>>(7-uint(i%8))) & 1 }

// field returns bits [from, from+n) of raw as a number.
func field(raw []byte, from, n int) uint32 {
	var v uint32
	for i := from; i < from+n; i++ {
		v = v<<1 | uint32(bit(raw, i))
	}
	return v
}

// ones counts the set bits in [from, from+n).
func ones(raw []byte, from, n int) int {
	c := 0
	for i := from; i < from+n; i++ {
		c += bit(raw, i)
	}
	return c
}

// Decode decodes nbits bits packed in raw. A 26- or 34-bit read with bad parity is
// refused with ErrParity; other lengths decode as FormatRaw. It never panics.
func Decode(raw []byte, nbits int) (Card, error) {
	switch {
	case nbits <= 0 || nbits > MaxBits:
		return Card{}, fmt.Errorf("wiegand: %d bits: want 1 to %d", nbits, MaxBits)
	case len(raw) != (nbits+7)/8:
		return Card{}, fmt.Errorf("wiegand: %d bits in %d bytes: want %d bytes", nbits, len(raw), (nbits+7)/8)
	}
	c := Card{Bits: nbits, Raw: append([]byte(nil), raw...), Format: FormatRaw}
	// Clear the padding so that equal reads compare equal.
	if pad := len(c.Raw)*8 - nbits; pad > 0 {
		c.Raw[len(c.Raw)-1] &^= byte(1<<pad - 1)
	}
	var half int
	switch nbits {
	case 26:
		half = 12
	case 34:
		half = 16
	default:
		return c, nil
	}
	// Even parity: bit 0 plus the first half has an even count of ones. Odd parity:
	// the second half plus the last bit has an odd count.
	if (bit(c.Raw, 0)+ones(c.Raw, 1, half))%2 != 0 || (ones(c.Raw, 1+half, half)+bit(c.Raw, nbits-1))%2 != 1 {
		return Card{}, fmt.Errorf("%w: %d-bit read %s", ErrParity, nbits, hex.EncodeToString(c.Raw))
	}
	fcBits := 8
	if nbits == 34 {
		fcBits = 16
	}
	c.Facility = field(c.Raw, 1, fcBits)
	c.Number = field(c.Raw, 1+fcBits, 16)
	c.Format = Format26
	if nbits == 34 {
		c.Format = Format34
	}
	return c, nil
}

// Encode26 returns the 26-bit read of facility fc (0–255) and card cn (0–65535) with
// correct parity, as a reader would send it.
func Encode26(fc uint8, cn uint16) []byte { return encode(26, uint32(fc), 8, cn) }

// Encode34 returns the 34-bit read of facility fc and card cn with correct parity.
func Encode34(fc uint16, cn uint16) []byte { return encode(34, uint32(fc), 16, cn) }

func encode(nbits int, fc uint32, fcBits int, cn uint16) []byte {
	raw := make([]byte, (nbits+7)/8)
	set := func(i int, v uint32) {
		if v&1 == 1 {
			raw[i/8] |= 1 << (7 - uint(i%8))
		}
	}
	for i := range fcBits {
		set(1+i, fc>>(fcBits-1-i))
	}
	for i := range 16 {
		set(1+fcBits+i, uint32(cn)>>(15-i))
	}
	half := (nbits - 2) / 2
	set(0, uint32(ones(raw, 1, half)%2))
	set(nbits-1, uint32(1-ones(raw, 1+half, half)%2))
	return raw
}

// ID names the card as credential lists and rosters do: "facility:number" for a 26-
// or 34-bit card (what Parse reads), otherwise its bits in hex. It is the id of the
// credential the bridge reports the card as.
func (c Card) ID() string {
	if c.Format == FormatRaw {
		return hex.EncodeToString(c.Raw)
	}
	return strconv.FormatUint(uint64(c.Facility), 10) + ":" + strconv.FormatUint(uint64(c.Number), 10)
}

// Parse makes the card a credential id names ("facility:number", as ID writes it)
// in the 26- or 34-bit format, with correct parity: what a simulated reader
// presents. It refuses numbers the format cannot hold.
func Parse(id string, nbits int) (Card, error) {
	fcS, cnS, ok := strings.Cut(id, ":")
	fc, err1 := strconv.ParseUint(fcS, 10, 16)
	cn, err2 := strconv.ParseUint(cnS, 10, 16)
	if !ok || err1 != nil || err2 != nil || strconv.FormatUint(fc, 10) != fcS || strconv.FormatUint(cn, 10) != cnS {
		return Card{}, fmt.Errorf("wiegand: %q: write a card as facility:number, e.g. 12:10001", id)
	}
	var raw []byte
	switch nbits {
	case 26:
		if fc > 255 {
			return Card{}, fmt.Errorf("wiegand: %q: a 26-bit card's facility is 0-255", id)
		}
		raw = Encode26(uint8(fc), uint16(cn))
	case 34:
		raw = Encode34(uint16(fc), uint16(cn))
	default:
		return Card{}, fmt.Errorf("wiegand: %d bits: cards are made as 26 or 34 bits", nbits)
	}
	return Decode(raw, nbits)
}
