// Package osdp speaks OSDP v2.2 (SIA Open Supervised Device Protocol, IEC
// 60839-11-5) on an RS-485 line: the control panel (CP) side that polls door
// readers, a simulated reader (PD) that answers with the same bytes, and the codec
// and secure channel both share.
//
// # Wire format
//
// A frame is SOM (0x53), the address (bit 7 set in replies, 0x7F broadcast), a
// two-byte length (least significant first, counting from SOM through the check
// characters), a control byte (bits 0–1 sequence number, bit 2 CRC, bit 3 security
// block), an optional security block, the command or reply code, data, a 4-byte MAC
// inside a secure session, and a CRC-16 (polynomial 0x1021, initial 0x1D0F, sent
// least significant byte first) or an 8-bit two's-complement checksum. The panel
// sends a 0xFF mark byte before each frame; the simulator mirrors it. Sequence
// numbers run 0 (first message or reset), then 1, 2, 3, 1, ...; a command sent again
// after a missed reply keeps its number and bytes, and the PD answers it with its
// last reply rather than acting twice. The panel polls each PD in turn, at most once
// every PollInterval (50 ms by default, as libosdp's CP does), sends queued commands
// at once, retries a missed reply up to OfflineAfter times before calling the PD
// offline, and then probes it every four reply timeouts.
//
// # Secure channel
//
// The panel sends osdp_CHLNG with its random RND.A (security block SCS_11, data
// byte 0 for the default key SCBK-D 0x30..0x3F, 1 for the PD's SCBK). Both sides
// derive S-ENC, S-MAC1 and S-MAC2 by AES-ECB under SCBK of 01 82|01|02 RND.A[0:6]
// 00...; the PD answers osdp_CCRYPT (SCS_12) with its client UID, RND.B and the
// client cryptogram AES(S-ENC, RND.A||RND.B); the panel answers osdp_SCRYPT
// (SCS_13) with the server cryptogram AES(S-ENC, RND.B||RND.A) and the PD answers
// osdp_RMAC_I (SCS_14) with AES(S-MAC2, AES(S-MAC1, server cryptogram)). From then
// on every command carries SCS_15 (no data) or SCS_17 (data encrypted) and every
// reply SCS_16 or SCS_18. The MAC covers the frame from SOM to the MAC, padded with
// 0x80 and zeros: AES-CBC under S-MAC1 for all blocks but the last, S-MAC2 for the
// last, chained from the last MAC of the other direction (RMAC_I first); the first
// 4 bytes are sent. Data is padded with 0x80 and zeros and encrypted with AES-CBC
// under S-ENC, IV the bitwise complement of the last MAC received. In install mode
// the panel opens the channel with SCBK-D, sends osdp_KEYSET with the PD's SCBK,
// and opens it again with that key.
//
// # Sources
//
// Codes, layouts and vectors were checked against SIA OSDP v2.2 (sections 5
// "Packet Structure", 6 "Commands", 7 "Replies", annex A/D secure channel, annex E
// examples) and libosdp (github.com/goToMain/libosdp): src/osdp_common.h (command,
// reply and SCS codes), src/osdp_phy.c (framing, sequence numbers, NAK reasons,
// MAC and encryption placement), src/osdp_sc.c (key derivation, cryptograms,
// RMAC_I, MAC chaining, data padding), src/osdp_cp.c and src/osdp_pd.c (command and
// reply data layouts), tests/unit-tests/test-sc-sia-vectors.c (annex E CRC,
// checksum, session key, cryptogram and RMAC_I vectors) and
// tests/unit-tests/test-sc.c (MAC and data encryption vectors). This package's
// tests carry those vectors. No code was copied.
//
// # Scope
//
// Implemented: POLL, ID, CAP, LSTAT, ISTAT, OSTAT, LED, BUZ, OUT, COMSET, KEYSET,
// CHLNG, SCRYPT; ACK, NAK, PDID, PDCAP, LSTATR, ISTATR, OSTATR, RAW, FMT, KEYPAD,
// COM, CCRYPT, RMAC_I, BUSY. Not implemented: TEXT, file transfer, biometrics,
// multi-part messages, master-key (SCBK derived from a master key) mode, the
// panel following a COMSET to the new address or speed.
package osdp
