package osdp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
)

// KeyLen is the length of every secure channel key: AES-128.
const KeyLen = 16

// ErrSecure marks a secure channel failure: a handshake that did not verify, a MAC
// that did not match, or data that did not decrypt.
var ErrSecure = errors.New("osdp: secure channel")

// DefaultSCBK returns SCBK-D, the well-known install-mode key 0x30..0x3F (SIA OSDP
// v2.2, D.2; libosdp osdp_scbk_default in src/osdp_sc.c).
func DefaultSCBK() []byte {
	k := make([]byte, KeyLen)
	for i := range k {
		k[i] = 0x30 + byte(i)
	}
	return k
}

// sessionKeys are the keys of one secure session.
type sessionKeys struct {
	enc, mac1, mac2 [KeyLen]byte
}

// aesECB encrypts one block in place.
func aesECB(key []byte, block []byte) {
	c, err := aes.NewCipher(key)
	if err != nil { // key length is checked by callers
		panic(err)
	}
	c.Encrypt(block, block)
}

// deriveKeys derives S-ENC, S-MAC1 and S-MAC2 from the base key and the panel's
// random number RND.A: each is AES-ECB under SCBK of 0x01, a type byte (0x82 S-ENC,
// 0x01 S-MAC1, 0x02 S-MAC2), RND.A[0:6] and eight zero bytes.
func deriveKeys(scbk []byte, rndA [8]byte) (sessionKeys, error) {
	var k sessionKeys
	if len(scbk) != KeyLen {
		return k, fmt.Errorf("%w: key of %d bytes, want %d", ErrSecure, len(scbk), KeyLen)
	}
	for _, d := range []struct {
		out *[KeyLen]byte
		typ byte
	}{{&k.enc, 0x82}, {&k.mac1, 0x01}, {&k.mac2, 0x02}} {
		d.out[0], d.out[1] = 0x01, d.typ
		copy(d.out[2:8], rndA[:6])
		aesECB(scbk, d.out[:])
	}
	return k, nil
}

// clientCryptogram is the PD's proof of the key: AES-ECB(S-ENC, RND.A || RND.B).
func clientCryptogram(k sessionKeys, rndA, rndB [8]byte) (c [16]byte) {
	copy(c[:8], rndA[:])
	copy(c[8:], rndB[:])
	aesECB(k.enc[:], c[:])
	return c
}

// serverCryptogram is the panel's proof of the key: AES-ECB(S-ENC, RND.B || RND.A).
func serverCryptogram(k sessionKeys, rndA, rndB [8]byte) (c [16]byte) {
	copy(c[:8], rndB[:])
	copy(c[8:], rndA[:])
	aesECB(k.enc[:], c[:])
	return c
}

// initialRMAC is RMAC_I: AES-ECB(S-MAC2, AES-ECB(S-MAC1, server cryptogram)).
func initialRMAC(k sessionKeys, serverCrypt [16]byte) [16]byte {
	aesECB(k.mac1[:], serverCrypt[:])
	aesECB(k.mac2[:], serverCrypt[:])
	return serverCrypt
}

// session is an established secure channel: the keys and the two MAC chains.
// cmac is the MAC of the last command, rmac of the last reply (RMAC_I at first).
type session struct {
	enc, mac1, mac2 cipher.Block
	cmac, rmac      [16]byte
}

func newSession(k sessionKeys, rmacI [16]byte) *session {
	e, _ := aes.NewCipher(k.enc[:])
	m1, _ := aes.NewCipher(k.mac1[:])
	m2, _ := aes.NewCipher(k.mac2[:])
	return &session{enc: e, mac1: m1, mac2: m2, rmac: rmacI}
}

// computeMAC returns the MAC of msg chained from iv: msg is padded with 0x80 and
// zeros to a whole number of blocks (not padded if it already is one), all blocks
// but the last are AES-CBC encrypted under S-MAC1 from iv, and the last under S-MAC2
// chained from the one before. The wire carries the first 4 bytes.
func (s *session) computeMAC(iv [16]byte, msg []byte) [16]byte {
	n := len(msg)
	padded := n
	if n%16 != 0 || n == 0 {
		padded = (n/16 + 1) * 16
	}
	buf := make([]byte, padded)
	copy(buf, msg)
	if padded != n {
		buf[n] = 0x80
	}
	prev := iv
	if padded > 16 {
		cipher.NewCBCEncrypter(s.mac1, iv[:]).CryptBlocks(buf[:padded-16], buf[:padded-16])
		copy(prev[:], buf[padded-32:padded-16])
	}
	cipher.NewCBCEncrypter(s.mac2, prev[:]).CryptBlocks(buf[padded-16:], buf[padded-16:])
	var mac [16]byte
	copy(mac[:], buf[padded-16:])
	return mac
}

func complement(b [16]byte) [16]byte {
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

// encryptData pads data with 0x80 and zeros (always at least the 0x80) to a whole
// number of blocks and encrypts it with AES-CBC under S-ENC, IV = ^lastMAC.
func (s *session) encryptData(lastMAC [16]byte, data []byte) []byte {
	padded := (len(data)/16 + 1) * 16
	buf := make([]byte, padded)
	copy(buf, data)
	buf[len(data)] = 0x80
	iv := complement(lastMAC)
	cipher.NewCBCEncrypter(s.enc, iv[:]).CryptBlocks(buf, buf)
	return buf
}

// decryptData reverses encryptData, checking the padding.
func (s *session) decryptData(lastMAC [16]byte, data []byte) ([]byte, error) {
	if len(data) == 0 || len(data)%16 != 0 {
		return nil, fmt.Errorf("%w: encrypted data of %d bytes", ErrSecure, len(data))
	}
	buf := make([]byte, len(data))
	iv := complement(lastMAC)
	cipher.NewCBCDecrypter(s.enc, iv[:]).CryptBlocks(buf, data)
	i := len(buf) - 1
	for i > 0 && buf[i] == 0 {
		i--
	}
	if buf[i] != 0x80 || len(buf)-i > 16 {
		return nil, fmt.Errorf("%w: bad padding", ErrSecure)
	}
	return buf[:i:i], nil
}

// seal secures an outgoing frame: the data, if any, is encrypted (type enc, else
// type plain), and the MAC, chained from chainIV, is appended. It returns the full
// MAC, the new head of the sender's chain.
func (s *session) seal(f *Frame, plain, enc byte, chainIV, encIV [16]byte) [16]byte {
	if len(f.Data) > 0 {
		f.SCB = []byte{2, enc}
		f.Data = s.encryptData(encIV, f.Data)
	} else {
		f.SCB = []byte{2, plain}
	}
	f.raw = nil
	f.MAC = nil
	mac := s.computeMAC(chainIV, f.header(nil))
	f.MAC = append([]byte(nil), mac[:macLen]...)
	return mac
}

// open checks an incoming frame's MAC against chainIV and decrypts its data in
// place. It returns the full MAC on success; the caller advances its chain only then.
func (s *session) open(f *Frame, plain, enc byte, chainIV, encIV [16]byte) ([16]byte, error) {
	t := f.SCBType()
	if t != plain && t != enc {
		return [16]byte{}, fmt.Errorf("%w: security block type %#02x, want %#02x or %#02x", ErrSecure, t, plain, enc)
	}
	if len(f.MAC) != macLen {
		return [16]byte{}, fmt.Errorf("%w: no MAC", ErrMAC)
	}
	mac := s.computeMAC(chainIV, f.macInput())
	if subtle.ConstantTimeCompare(mac[:macLen], f.MAC) != 1 {
		return [16]byte{}, ErrMAC
	}
	if t == enc {
		d, err := s.decryptData(encIV, f.Data)
		if err != nil {
			return [16]byte{}, err
		}
		f.Data = d
	}
	return mac, nil
}

// sealCommand secures a command (panel side): SCS_15 or SCS_17.
func (s *session) sealCommand(f *Frame) { s.cmac = s.seal(f, SCS15, SCS17, s.rmac, s.rmac) }

// openReply checks and decrypts a reply (panel side): SCS_16 or SCS_18.
func (s *session) openReply(f *Frame) error {
	mac, err := s.open(f, SCS16, SCS18, s.cmac, s.cmac)
	if err == nil {
		s.rmac = mac
	}
	return err
}

// openCommand checks and decrypts a command (PD side).
func (s *session) openCommand(f *Frame) error {
	mac, err := s.open(f, SCS15, SCS17, s.rmac, s.rmac)
	if err == nil {
		s.cmac = mac
	}
	return err
}

// sealReply secures a reply (PD side): SCS_16 or SCS_18.
func (s *session) sealReply(f *Frame) { s.rmac = s.seal(f, SCS16, SCS18, s.cmac, s.cmac) }
