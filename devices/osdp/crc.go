package osdp

// crcTable is the byte-wise table of the CRC-16 OSDP uses: polynomial 0x1021,
// not reflected (CRC-16/AUG-CCITT when started at 0x1D0F).
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 returns the OSDP CRC-16 of b: polynomial 0x1021, initial value 0x1D0F, no
// reflection, no final XOR. A frame carries it least significant byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0x1D0F)
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^c]
	}
	return crc
}

// Checksum returns the OSDP 8-bit checksum of b: the two's complement of the sum of
// its bytes, so that the bytes and the checksum add up to zero.
func Checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}
