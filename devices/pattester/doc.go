// Package pattester is the device class of portable appliance (PAT) testers
// whose results download over a serial line (RS-232, a USB serial adapter, or a
// Bluetooth serial port), from the configuration's patTesters section. Each
// tester is a device of site-bus class "pat-tester": its Status is its retained
// state (kind "status"), and each test record it sends is an event of kind "test"
// whose data is a Test: the test as a formats/pat Record, with the tester's id and
// the instrument's serial. The bridge says what the instrument said: whether a
// "pass" is one (the figures against the limits of the item's class), whether the
// instrument was in calibration, and which item and whose it is, are the agent's
// to decide.
//
// # Where the protocol comes from
//
// The protocol is ours, in the style of real testers' downloads, which send their
// stored results to a PC one test record at a time, each with the asset's id,
// the date, the user, the visual inspection, the readings and the result:
// Seaward's Supernova, Europa and PrimeTest 300/350 download in their own SSS
// format or as ASCII text, with the asset id, site, location, user and test code
// of each result, and free text lines the software maps to the asset's
// description (Seaward PATGuard Elite SQL 2 user manual, rev. 1.4, "Options" and
// "SSS Format Data"); the Apollo 500 keeps asset details and results and
// downloads them over Bluetooth or USB (Seaward Apollo 500 operating
// instructions, part 380A570 rev. 3, 2015, sections 10.3 and 10.5); Megger's
// PAT400 series exports results to CSV or transfers them with PowerSuite
// Professional (Megger PAT400 series user guide, sections 7 and 12); Kewtech's
// data-logging testers transfer their stored results to a PC (Kewtech KT65DL
// instruction manual, section 16.4). None of their byte formats is published as a
// standard, so a real tester is joined by a small adapter that reads its download
// (or its software's export) and writes the records below; the examples here and
// in testdata/good are what such an adapter must produce.
//
// # Lines
//
// A record is one line in the line layer substance testers speak too (package
// devices/internal/record: '$' "AP" TYPE, key=value fields, '*' and an NMEA 0183
// style XOR checksum, CR LF; percent-escaping of ',' '*' '$' '%' '=' and of bytes
// outside 0x20 to 0x7E; at most 512 bytes and 40 fields). A line that breaks it
// is refused and counted by cause (garbage, too-long, framing, checksum, type,
// field, value); a good line whose fields do not make what its type says is
// refused with cause content.
//
// Common forms: a date is YYYY-MM-DD; a time is RFC 3339 with its offset, the
// instrument's clock; a test number is the instrument's own running number,
// decimal, 0 to 4294967295; a decimal is 1 to 6 digits, optionally a point and 1
// to 6 more (no sign, no exponent); a serial is 1 to 64 printable bytes without
// spaces; a text is 1 to 64 printable bytes, spaces allowed.
//
// # Record types
//
// ID, the instrument's identity, sent at power-on and whenever asked. Fields an
// ID reader does not know are ignored, so an instrument may add its own:
//
//	serial  the instrument's serial number
//	model   its make and model, a text
//	fw      its firmware version, 1 to 32 printable bytes, no spaces (optional)
//	cal     the date its next calibration is due
//
//	$APID,serial=PAT-0042,model=Seaward Apollo 600+,fw=3.1.0,cal=2027-01-31*2F
//
// PT, one test of one item, sent as the test is saved (or, in a download of the
// instrument's memory, one after another). The fields are what the IET Code of
// Practice for In-service Inspection and Testing of Electrical Equipment (5th
// edition, 2020) has a test record hold (see formats/pat):
//
//	serial  the instrument's serial number
//	n       the test number
//	t       the instrument's time at the test
//	asset   the item's label id (its barcode), a serial
//	desc    what the item is, a text (optional)
//	class   the item's class: I, II or III
//	visual  the formal visual inspection: pass or fail
//	earth   earth continuity, Ω, a decimal 0 to 100 (optional: not measured)
//	ins     insulation resistance, MΩ, a decimal 0 to 10000 (optional)
//	insv    the insulation test voltage, V d.c., a whole number 50 to 1000;
//	        with ins and only with it
//	leak    protective conductor or touch current, mA, a decimal 0 to 100
//	        (optional)
//	pol     the polarity check, where it applies: pass or fail (optional)
//	result  the instrument's overall result: pass or fail
//	retest  the retest interval the user set, months, 1 to 120 (optional)
//	user    who tested, a text
//
//	$APPT,serial=PAT-0042,n=17,t=2026-06-10T11:00:00Z,asset=AP-00123,desc=kettle,class=I,visual=pass,earth=0.08,ins=200.5,insv=500,leak=0.3,result=pass,retest=12,user=J Smith*32
//
// Unlike ID, a PT record with a key it does not know is refused, so that a figure
// an adapter misnames is never silently dropped. The bounds of the figures are
// wider than any tester's ranges (earth continuity to 19.99 Ω and insulation to
// 19.99 MΩ at 250 or 500 V on a Kewtech KT72, for example: Kewtech KT72 data
// sheet), to refuse only nonsense; a reading over the instrument's range is sent
// as the top of its range. The limits a figure is judged against are the
// register's, not the bridge's.
//
// RQ, from the bridge to the instrument, a request; the only one is what=id, which
// the instrument answers with its ID record (and ignores any other):
//
//	$APRQ,what=id*04
//
// testdata/good holds these examples as an instrument sends them (identity.txt,
// tests.txt) and the bridge's request (request.txt); testdata/bad holds lines a
// reader must refuse.
//
// # The driver
//
// The driver opens each tester's port (serialport.Open: 8N1 at the configured
// baud), sends RQ what=id, and again every 5 s until the instrument has answered
// with an ID record, and every 20 s after that. The tester is online from its ID
// record until its port fails or nothing it can read comes from it for 60 s (a
// tester is switched off between jobs: offline is its normal state, not an
// alarm); a port that fails, or cannot be opened at start, is opened again every
// 5 s. These are the substance testers' figures (devices/substance), which have
// served; nothing in a PAT tester asks for others. The status carries the ID
// record's serial, model, firmware and calibration date, the count of bad lines
// and the last thing that went wrong; a changed status is published at most once
// a second. Each cause of bad line, and a clock out of step, is logged the first
// time only.
//
// Each PT record is published at once as a test event, with the tester's id, the
// instrument's model (as the record's Instrument), firmware and calibration date
// from its ID record (empty until one has come: a download may start before the
// identity is asked for). It is dated by the instrument's own time when that is
// no more than 10 minutes ahead of the bridge's clock (a download of stored
// results is dated by when the tests were done, however long ago); a test dated
// further ahead is dated by the bridge's clock, which its event's Record.TestedAt
// then says too.
//
// The identify command sends RQ what=id and returns once the ID record comes, or
// expires at the command's deadline.
//
// # Simulation
//
// A tester whose port is "simulated" gets a pseudo-terminal with a Sim on its far
// end, added to Env.Sims under its Ref: the same bytes an instrument would send,
// which tests and the demo drive: Test sends a test record (Passing makes one of
// an item with sound figures), Failing the record of an item whose figure fails
// (under the instrument's pass, if told, for the register to flag), SetCalibrationDue changes what it says of itself,
// Garbage sends bad lines and PowerOff switches it off and on.
package pattester
