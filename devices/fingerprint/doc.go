// Package fingerprint speaks the serial protocol of the widely used optical and
// capacitive fingerprint modules of the R30x / ZFM-20 / AS608 / R503 family
// (Hangzhou Grow, Zhiantec and the Synochip AS60x chips they are built on): the
// packet codec (Packet, Decode, Reader), the instructions and their replies
// (Command, Reply and their builders and parsers), the confirmation codes
// (Code, with an errors.Is-able sentinel for each), a host-side driver
// (Terminal) and a simulated module (Sim), each tested against the other and
// against frames published by others, byte for byte. The bridge's device class
// for a fingerprint terminal is built on it elsewhere; this package knows
// nothing of the site bus.
//
// # Packets
//
// Every command, reply and data transfer is one packet, all fields big-endian:
//
//	EF 01         header
//	AA AA AA AA   module address (default FF FF FF FF)
//	PP            packet identifier: 01 command, 02 data (more follow),
//	              07 acknowledge (the module's reply), 08 end of data
//	LL LL         length: the payload's bytes plus the 2 of the checksum
//	...           payload: an instruction code and its parameters, a
//	              confirmation code and its results, or data
//	SS SS         checksum: the sum of the identifier, the two length bytes
//	              and every payload byte, carries past 16 bits dropped
//
// The module answers only packets with its own address, and only the host
// sends commands. A payload is at most MaxPayload (256) bytes, the content of a
// data packet at packet size code 3; every acknowledgement is shorter. The
// default line is 57600 baud (9600 x 6), 8N1, and the default password is
// 00000000, which the module does not ask to be verified; a module whose
// password was changed refuses every instruction until VfyPwd gives it.
//
// A Reader finds packets in a byte stream: it skips to the next EF 01, and
// refuses a packet, counting it by cause, for an unknown packet identifier
// (CausePID), a length below 3 or above MaxPayload+2 (CauseLength), a
// checksum that does not match (CauseChecksum) or another module's address
// (CauseAddress); bytes before a header are one bad frame of CauseGarbage, and a
// frame the stream ends in the middle of one of CauseTruncated. After a bad
// header or length it looks for a header again from the byte after the bad
// one's EF 01, so that a good packet after noise is never lost.
//
// # Instructions
//
// Those this package builds, parses and simulates (code, the manuals' mnemonic,
// parameters, and what the reply carries after its confirmation code):
//
//	code  mnemonic         parameters                     reply data
//	01    GenImg           -                              -
//	02    Img2Tz           buffer (1 or 2)                -
//	03    Match            -                              score (2)
//	04    Search           buffer, start (2), count (2)   page id (2), score (2)
//	05    RegModel         -                              -
//	06    Store            buffer, page id (2)            -
//	07    LoadChar         buffer, page id (2)            -
//	0C    DeletChar        page id (2), count (2)         -
//	0D    Empty            -                              -
//	0E    SetSysPara       parameter (4, 5 or 6), value   -
//	0F    ReadSysPara      -                              16 bytes, below
//	12    SetPwd           password (4)                   -
//	13    VfyPwd           password (4)                   -
//	1B    HighSpeedSearch  buffer, start (2), count (2)   page id (2), score (2)
//	1D    TemplateNum      -                              count (2)
//	1F    ReadIndexTable   index page (0 to 3)            32 bytes (bit b of byte i:
//	                                                      page id 256 x page + 8 x i + b)
//	35    AuraLedConfig    control, speed, colour, count  -
//	50    LEDOn            -                              -
//	51    LEDOff           -                              -
//
// ReadSysPara's 16 bytes are eight big-endian words: the status register (bit 0
// busy, bit 1 a finger matched, bit 2 the password verified, bit 3 a valid image
// in the image buffer), the system identifier, the library's capacity, the
// security level (1 to 5), the device address (two words), the packet size code
// (0 to 3: 32, 64, 128 or 256 bytes) and the baud rate's multiple of 9600. The
// parameters SetSysPara sets are 4 (that multiple), 5 (the security level) and 6
// (the packet size code).
//
// The confirmation codes and their errors are listed at Code. The module's LED
// is the host's to control on some modules only, two ways: AuraLedConfig on the
// R503 and R502 (control 1 breathing, 2 flashing, 3 on, 4 off, 5 fading on, 6
// fading off; colour 1 red, 2 blue, 3 purple, and on later firmware 4 green, 5
// yellow, 6 cyan, 7 white; count 0 for ever), LEDOn and LEDOff on ZFM-60 and
// DY50-style green-LED modules. Options.LED says which a module has.
//
// # Sources
//
// Numbers here come from these documents and libraries, each of which agrees
// with at least one other on everything used, except where said below:
//
//   - ZFM-20 series User Manual, Hangzhou Zhian Technology, ver. 2.0, June 2010
//     (Google's translation of the Chinese datasheet, in the Adafruit Arduino
//     library's documentation/ZFM-20_Fingerprint_Module.pdf): 4.3 the system
//     parameters, 4.4 the status register, 4.5 the password, 4.6 the address,
//     5.1 the packet format, 5.2 the confirmation codes, chapter 6 each
//     instruction with its checksum for those without parameters (GenImg 0005,
//     RegModel 0009, Match 0007, Empty 0011, TempleteNum 0021), 6.4 the
//     instruction table. The same library's documentation/fingerprint_en.pdf has
//     TempleteNum and Empty.
//   - R503 Fingerprint Module User Manual, Hangzhou Grow Technology, ver. 1.1
//     (2019) and 1.2.2 (2022): the confirmation code list, ReadSysPara,
//     ReadIndexTable, AuraLedConfig (0x35) and its control and colour codes.
//   - R307 Fingerprint Module User Manual, Hangzhou Grow Technology, ver. 1.20
//     (2011), and the ZFM-70 Series User Manual (Zhiantec, in Velleman's VMA329
//     manual): the confirmation codes 0x19 to 0x1D, ReadSysPara.
//   - Adafruit-Fingerprint-Sensor-Library (Arduino, C++), Adafruit_Fingerprint.h
//     and .cpp: packet identifiers, instruction codes including
//     HISPEEDSEARCH 0x1B, AURALEDCONFIG 0x35, LEDON 0x50 and LEDOFF 0x51, the
//     confirmation codes, the checksum, getParameters' field offsets.
//   - Adafruit_CircuitPython_Fingerprint, adafruit_fingerprint.py: the same
//     codes, reply lengths (28 bytes for ReadSysPara, 44 for ReadIndexTable, 16
//     for a search), the index table's bit order, set_led's parameter order; its
//     issue #48 publishes an AuraLedConfig frame (testdata/frames/r503-aura.hex).
//   - pyfingerprint (Python), pyfingerprint.py: the codes, the checksum,
//     getTemplateIndex's bit order, SetSysPara's parameters and their ranges.
//   - libdriver/as608 (C), src/driver_as608.c and .h: the AS608's instruction
//     codes including HighSpeedSearch, its confirmation codes (0x00 to 0x1F), its
//     ReadSysPara layout.
//   - brianrho/FPM (Arduino, C++), src/fpm.h: LEDON 0x50 and LEDOFF 0x51 (tested
//     on the ZFM-60, it says), LEDCONTROL 0x35, HISPEEDSEARCH 0x1B.
//   - Frames captured from modules and published with code:
//     bluelul/AS608_BasicFlowUART fingerSensorAS608Cmd.c (VfyPwd, GenImg, Img2Tz,
//     Search and their replies), sawyer1262/T6 User/main/uart_fp.h (a lock's
//     module: ReadSysPara, TempleteNum, GenImg, Img2Tz, RegModel, Store, Match,
//     Search, DeletChar, Empty and their replies; its list of confirmation codes
//     0x00 to 0x29 in Chinese). They are testdata/frames.
//
// Where the sources disagree:
//
//   - 0x13: the manuals, pyfingerprint and the T6 list say wrong password; the
//     Adafruit libraries name it PASSFAIL ("whether the fingerprint passed or
//     failed"), and libdriver "command invalid" (口令, password, read as
//     command). It is the wrong password: VfyPwd's own notes say so.
//   - 0x04, 0x05, 0x12, 0x14, 0x16, 0x17 and 0x1E are the AS608's (libdriver, the
//     T6 list and the AS608 datasheet's list copied into AS608 driver headers):
//     the Grow and Zhiantec manuals reserve them.
//   - 0x19: "no definition error" (R503, R307), "unknown" (libdriver), "random
//     number failed" (T6).
//   - 0x22: "fingerprint template is empty" (R503); the T6 list has 0x22
//     template not empty and 0x23 template empty. 0x22 is taken as the R503 has it
//     and 0x23 is not given a name. 0xFC, 0xFD and 0xFE are the R503 manual's
//     alone.
//   - The word at offset 1 of ReadSysPara: "system identifier, fixed 0x0000"
//     (ZFM-20, R503), "fixed 0x0009" (R307, ZFM-70), the sensor type (libdriver;
//     0x2EC8 in the T6 capture). It is reported as it comes.
//   - ReadSysPara's sizes: the R503 manual's table says 2 for each field and 4 for
//     the address but means bytes; the ZFM-20's says words (1, and 2 for the
//     address). The reply's length, 0x0013, settles it: 16 bytes.
//   - The packet size and baud: pyfingerprint's getSystemParameters and the
//     CircuitPython library return the raw codes, the Arduino library bytes and
//     baud. SysParams has both.
//   - The index table: the ZFM-20 manual's words say each byte is sent from its
//     high bit, but its table puts template 0 at bit 0, 7 at bit 7, as
//     pyfingerprint and the CircuitPython library read it. Bit 0 is taken as the
//     lowest page id.
//   - The length field: the ZFM-20 manual gives it a maximum of 256, yet a data
//     packet at packet size code 3 carries 256 bytes and its length is 258. A
//     Reader accepts up to MaxPayload+2.
//   - The baud multiple: 1 to 12 (ZFM-20, R307, pyfingerprint); the R503 manual
//     allows 1, 2, 4, 6 and 12 only.
//   - HighSpeedSearch is not among the ZFM-20's 21 instructions; the AS608
//     (libdriver) and the Adafruit libraries have it, with Search's parameters
//     and reply. The Adafruit Arduino library searches 0xA3 pages from 0 whatever
//     the capacity; the CircuitPython library the capacity; a Terminal searches
//     what it is told.
//   - 0x35 is AuraLedConfig on the R503 (manual, Adafruit, FPM), but HandShake on
//     the T6's newer module; the LED is sent only where Options.LED says.
//   - The reply timeout: 1 s in the Adafruit Arduino library, 2 s in
//     pyfingerprint. DefaultTimeout is 2 s: GenImg takes up to 1 s (ZFM-20
//     chapter 2) and a search of 1000 templates as long (R307).
//
// Assumptions where no source says: a module whose password must be verified
// answers other instructions with 0x21 (the code says "password must be
// verified"); one that does not have an instruction answers 0xFC (R503); and a
// bad checksum is answered with 0x01, "error when receiving package". The
// simulator does so.
//
// # The simulator
//
// Sim is the module's side: a library of Capacity slots, each empty or holding
// the template of a synthetic finger named by a string ("X100001/right-index"),
// an image buffer and character buffers 1 and 2 that behave as the module's
// (GenImg finds no finger when none is on the sensor; Img2Tz makes features
// from the image; RegModel succeeds only when both buffers hold the same
// finger; Search finds the slot holding the buffer's finger with a score from 50
// to 200 that depends only on the finger, or one a test sets). Tests and the
// demo drive it with PlaceFinger, LiftFinger, FailNextCaptures, Silent, Garbage,
// SetPassword, SetScore, PutTemplate (an orphan template no one enrolled) and
// read it with Slots and State.
package fingerprint
