// Package substance is the device class of substance testers: breath-alcohol
// meters and oral-fluid analysers on serial lines (RS-232, or USB serial adapters),
// from the configuration's substanceTesters section. Each tester is a device of
// site-bus class "substance-tester": its Status is its retained state (kind
// "status"), and each test it completes, or an error it reports instead of a
// result, is an event of kind "reading" whose data is a Reading. The bridge says
// what the device said: whether a reading is valid (a calibration date passed, a
// failed self-check, conditions out of range, a cassette past its expiry) and
// whose it is are the agent's to decide.
//
// Testers speak the record protocol below, one of our design in the style of
// such meters' and analysers' PC downloads. A real device's export (a breath
// meter's download line, a DrugTest 5000 style result print-out) is mapped onto it
// by a small adapter; the examples here and in testdata/good are what such an
// adapter must produce.
//
// # Lines
//
// A record is one line of printable ASCII (the line layer is package
// devices/internal/record's, which the PAT testers' protocol shares):
//
//	'$' "AP" TYPE ',' FIELD (',' FIELD)* '*' HH CR LF
//
// TYPE is two upper-case letters. Each FIELD is key=value; a key is 1 to 16 of
// a-z, 0-9 and '-', and appears at most once in a record; a value may be empty.
// HH is the checksum: the exclusive OR of every byte between '$' and '*' (both
// excluded), as two upper-case hex digits, as the checksum field of an NMEA 0183
// sentence is made. A line is at most 512 bytes, '$' to LF, and a record has
// at most 40 fields.
//
// In a value, the bytes ',' '*' '$' '%' '=' and every byte outside 0x20 to 0x7E
// are percent-encoded as '%' and two hex digits (RFC 3986, section 2.1): "a,b" is
// written a%2Cb, and a UTF-8 "é" %C3%A9. Readers accept either case of hex digit
// in an escape and writers write upper case; nothing else is escaped. So a '$' is
// always the start of a record, which is how a reader finds its way back after
// line noise: bytes outside a record are skipped up to the next '$' or the end of
// their line, and a record cut off by a '$' is dropped for the new one. Readers
// accept a line ended by LF alone as well as CR LF.
//
// A reader refuses a line that breaks any of this and counts it by cause
// (Scanner, DecodeLine, the Cause constants): garbage, too-long, framing, checksum,
// type, field, value. A record whose syntax is good but whose fields do not make
// what its type says (below) is refused with cause content. Fields an ID, BR or ER
// reader does not know are ignored, so that a device may add its own (an OF
// reader refuses them, below); a record of a type the driver does not know is
// ignored (and logged once).
//
// Common forms: a date is YYYY-MM-DD; a time is RFC 3339 (section 5.6) with its
// offset, "2025-11-03T21:47:05Z" or "2025-11-03T22:47:05+01:00", the device's
// clock; a test number is the device's own running number, decimal, 0 to
// 4294967295; a decimal is 1 to 6 digits, optionally a point and 1 to 6 more, with
// a '-' before it where a field says it may be negative (no '+', no exponent); a
// serial is 1 to 64 printable bytes without spaces; a test id is 0 to 64
// printable bytes.
//
// # Record types
//
// ID, the device's identity, sent at power-on and whenever asked:
//
//	serial  the device's serial number
//	fw      its firmware version, 1 to 32 printable bytes, no spaces (optional)
//	cal     the date its next calibration is due
//	self    its self-check at its last start: pass or fail
//	kind    breath-alcohol or oral-fluid
//
//	$APID,serial=AL9-004211,fw=2.3.1,cal=2026-03-31,self=pass,kind=breath-alcohol*10
//
// BR, a breath-alcohol result, sent as the test completes:
//
//	serial  the device's serial number
//	n       the test number
//	t       the device's time at the measurement
//	ug      the result, µg of alcohol per 100 ml of breath, a decimal 0 to 1000
//	temp    the ambient temperature, °C, a decimal -50 to 100, '-' allowed
//	        (optional: a device that does not measure it leaves it out)
//	cal     the calibration due date
//	self    the self-check state: pass or fail
//	id      the test id staff keyed into the device (optional)
//
//	$APBR,serial=AL9-004211,n=1187,t=2025-11-03T21:47:05Z,ug=0,temp=19.5,cal=2026-03-31,self=pass,id=T-7KQ2*34
//
// OF, an oral-fluid result, sent as the analyser finishes reading a cassette:
//
//	serial  the device's serial number
//	n       the test number
//	t       the device's time at the reading
//	cal     the calibration due date
//	self    the self-check state: pass or fail
//	lot     the cassette's lot number, 1 to 32 printable bytes
//	exp     the cassette's expiry date
//	id      the test id staff keyed into the device (optional)
//	p-...   one field per panel the cassette reads: <result>/<cut-off>, the
//	        result neg (negative), pos (non-negative: preliminary until a
//	        laboratory confirms it) or inv (invalid: no control line, or the
//	        device says so), the cut-off in ng/ml of oral fluid, a decimal over 0;
//	        at least one panel
//
// A panel's key is "p-" and its name as DrugPanels has it (sitebus's panels
// without alcohol): p-amphetamine, p-mdma, p-cocaine, p-opiates, p-morphine,
// p-methadone, p-buprenorphine, p-thc, p-pregabalin, p-gabapentin, p-ketamine,
// p-fentanyl; but for the three whose names would make a key longer than 16 bytes:
// methamphetamine is p-mamp, benzodiazepines p-bzo and synthetic-cannabinoids
// p-k2. Unlike the other types, an OF record with a key it does not know is
// refused, so that a panel an adapter misnames is never silently dropped.
// oralfluid.go says how the record maps the Dräger DrugTest 5000's results.
//
//	$APOF,serial=DT5-ARHK-0107,n=342,t=2025-11-04T10:12:30Z,cal=2026-01-15,self=pass,lot=ARJK-0129,exp=2026-06-30,id=T-9XW4,p-amphetamine=neg/50,p-mamp=neg/35,p-cocaine=pos/20,p-opiates=neg/20,p-bzo=neg/15,p-thc=inv/5,p-methadone=neg/20*0C
//
// ER, an error instead of a result (a blow interrupted, a cassette not read):
//
//	serial  the device's serial number
//	n       the test number
//	t       the device's time
//	code    the device's error code, 1 to 32 printable bytes, no spaces
//	text    what it means, for a person, 0 to 200 printable bytes (optional)
//	cal     the calibration due date (optional: else the ID record's)
//	self    the self-check state (optional: else the ID record's)
//
//	$APER,serial=AL9-004211,n=1189,t=2025-11-03T22:09:12Z,code=E12,text=blow interrupted%2C try again*5C
//
// RQ, from the bridge to the device, a request; the only one is what=id, which
// the device answers with its ID record (and ignores any other):
//
//	$APRQ,what=id*04
//
// testdata/good holds these examples as a device sends them (breath-alcohol.txt,
// oral-fluid.txt) and the bridge's request (request.txt); testdata/bad holds lines
// every reader must refuse (and devices/internal/record/testdata/bad the lines
// its line layer refuses).
//
// # The driver
//
// The driver opens each tester's port (serialport.Open: 8N1 at the configured
// baud), sends RQ what=id, and again every 5 s until the device has answered with
// an ID record, and every 20 s after that. The tester is online from its ID record
// until its port fails or nothing it can read comes from it for 60 s; a port that
// fails, or cannot be opened at start, is opened again every 5 s. The status
// carries the ID record's serial, firmware, calibration date and self-check, the
// count of bad lines and the last thing that went wrong; a changed status is
// published at most once a second, so a burst of noise makes one state, not one a
// line. Each cause of bad line, and a clock out of step, is logged the first time
// only; results are never logged (they are health data), only that there was one.
//
// Each BR, OF or ER record is published at once as a reading event, with the
// firmware from the ID record (and for ER, calibration and self-check from it
// where the record has none; an ER record with neither, from a device whose ID
// record has not come, is a bad record). It is dated by the device's own time when that is
// plausible (no more than 10 minutes ahead of the bridge's clock, nor 24 hours
// behind it), else by the bridge's clock, and MeasuredAt then says the bridge's
// time too.
//
// The identify command sends RQ what=id and returns once the ID record comes, or
// expires at the command's deadline.
//
// # Simulation
//
// A tester whose port is "simulated" gets a pseudo-terminal with a Sim on its far
// end, added to Env.Sims under its Ref: the same bytes a device would send, which
// tests and the demo drive: Breath and OralFluid complete a test with the result
// they are told, Error reports a device error, FailSelfCheck and
// SetCalibrationDue change what the device says of itself (as a restart or a
// service visit would), SetCassette and SetTemperature the conditions of the next
// tests, Garbage sends bad lines and PowerOff switches it off and on.
package substance
