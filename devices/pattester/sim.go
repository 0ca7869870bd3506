package pattester

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/internal/record"
	"github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/clock"
)

// SimModel is the model a simulated tester says it is.
const SimModel = "apedge simulated PAT tester"

// Sim is a simulated PAT tester: the instrument side of the record protocol,
// byte for byte as a real one (or its adapter) over its serial line, to the
// bridge's driver over a pseudo-terminal (a simulated port) or to any reader of
// the protocol on the port Serve is given. It sends its ID record at power-on and
// whenever asked (RQ what=id), and a PT record whenever a test, the demo or a
// person tells it a test was done. It is safe for concurrent use.
type Sim struct {
	clk clock.Clock

	line record.Line // the pseudo-terminal, once serving

	mu       sync.Mutex
	id       identity
	n        uint32 // the last test number
	requests int
	noise    uint64
	off      bool
}

// NewSim returns a simulated tester with serial, dating what it is not told to
// date by clk, whose calibration is due in 365 days (testers are calibrated
// yearly). It says nothing until it is served (Serve).
func NewSim(serial string, clk clock.Clock) *Sim {
	return &Sim{clk: clk, line: record.Line{Prefix: "pattester: simulator"}, id: identity{Serial: serial, Model: SimModel, Firmware: "sim-1.0",
		CalibrationDue: clk.Now().AddDate(0, 0, 365).Format(time.DateOnly)}}
}

// Serve is the simulated instrument on port until ctx ends or port fails: it
// sends its ID record (power-on) and answers every RQ what=id with it; the records
// of Test, Failing and Garbage go to port from then on. It returns ctx's error or
// port's. Serve checks ctx between reads, so a port whose reads block must be
// closed for it to return (a serialport's reads time out).
func (s *Sim) Serve(ctx context.Context, port io.ReadWriter) error {
	s.line.Attach(port)
	if err := s.sendID(); err != nil {
		return err
	}
	sc := record.NewScanner(port)
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, record.ErrRecord) {
			continue // an instrument ignores what it cannot read
		}
		if err != nil {
			return err
		}
		if what, _ := rec.Get("what"); rec.Type == TypeRequest && what == "id" {
			s.mu.Lock()
			off := s.off
			if !off {
				s.requests++
			}
			s.mu.Unlock()
			if off {
				continue
			}
			if err := s.sendID(); err != nil {
				return err
			}
		}
	}
}

// sendID sends the ID record, unless the tester is switched off.
func (s *Sim) sendID() error {
	s.mu.Lock()
	id, off := s.id, s.off
	s.mu.Unlock()
	if off {
		return nil
	}
	return s.line.Send(idRecord(id))
}

// SimState is what a simulated tester says of itself, as (*Sim).State returns it.
type SimState struct {
	// Serial, Model, Firmware and CalibrationDue are as its ID record says them.
	Serial, Model, Firmware, CalibrationDue string
	// LastTest is the number of the last test it sent (0: none yet).
	LastTest uint32
	// Off says it is switched off (PowerOff).
	Off bool
	// Requests counts the RQ what=id records it has answered.
	Requests int
}

// State returns what the tester says of itself now.
func (s *Sim) State() SimState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SimState{Serial: s.id.Serial, Model: s.id.Model, Firmware: s.id.Firmware, CalibrationDue: s.id.CalibrationDue,
		LastTest: s.n, Off: s.off, Requests: s.requests}
}

// Serial returns its serial number.
func (s *Sim) Serial() string { return s.id.Serial }

// PowerOff switches the tester off (it says nothing, and answers nothing) or on
// again (it sends its ID record, as at power-on).
func (s *Sim) PowerOff(off bool) error {
	s.mu.Lock()
	s.off = off
	s.mu.Unlock()
	if off {
		return nil
	}
	return s.sendID()
}

// errOff is the error of a test on a tester switched off.
var errOff = errors.New("pattester: simulator: switched off")

// Test sends the PT record of the next test number: r as it is, but for a zero
// TestedAt, which becomes the simulator's clock's now (to the second). It returns
// the test number. The record is what r says, whether its figures pass or not; a
// figure out of the protocol's range, or a field missing, makes a record the
// bridge counts as bad (as a faulty adapter's would).
func (s *Sim) Test(r pat.Record) (uint32, error) {
	if r.TestedAt.IsZero() {
		r.TestedAt = s.clk.Now().Truncate(time.Second)
	}
	s.mu.Lock()
	if s.off {
		s.mu.Unlock()
		return 0, errOff
	}
	s.n++
	n, serial := s.n, s.id.Serial
	s.mu.Unlock()
	return n, s.line.Send(testRecord(serial, n, r))
}

// Passing returns the record of a Class I item, assetID, that passes with sound
// figures (earth 0.08 Ω, insulation 200 MΩ at 500 V, leakage 0.3 mA), tested by
// tester now by the simulator's clock, for Test and Failing.
func (s *Sim) Passing(assetID, tester string) pat.Record {
	earth, ins, leak := 0.08, 200.0, 0.3
	return pat.Record{AssetID: assetID, Class: pat.ClassI, TestedAt: s.clk.Now().Truncate(time.Second),
		Visual: pat.ResultPass, EarthOhm: &earth, InsulationMOhm: &ins, InsulationV: 500, LeakageMA: &leak,
		Result: pat.ResultPass, RetestMonths: 12, Tester: tester}
}

// Failing figures: what Failing puts in the figure it is told to fail.
const (
	// FailingEarthOhm is an earth continuity over any class I limit (0.1 Ω plus
	// the lead's resistance).
	FailingEarthOhm = 1.5
	// FailingInsulationMOhm is an insulation resistance under any limit (1 MΩ for
	// class I, 2 MΩ for class II).
	FailingInsulationMOhm = 0.5
	// FailingLeakageMA is a protective conductor or touch current over every limit
	// in use: the 5 mA of the IET Code of Practice's 5th edition (formats/pat's
	// default) and the stricter 3.5 mA and 0.75 mA figures of earlier editions
	// and tester data sheets (Kewtech KT72).
	FailingLeakageMA = 7.5
)

// Failing sends the record of a test of r in which figure ("earth",
// "insulation", "leakage" or "visual") fails. With pass, the instrument still
// says the result is pass (a tester set up with the wrong limits, or a figure
// typed in by hand): the register must flag it. It returns the test number.
func (s *Sim) Failing(r pat.Record, figure string, pass bool) (uint32, error) {
	switch figure {
	case "earth":
		v := FailingEarthOhm
		r.EarthOhm = &v
	case "insulation":
		v := FailingInsulationMOhm
		r.InsulationMOhm = &v
		if r.InsulationV == 0 {
			r.InsulationV = 500
		}
	case "leakage":
		v := FailingLeakageMA
		r.LeakageMA = &v
	case "visual":
		r.Visual = pat.ResultFail
	default:
		return 0, fmt.Errorf("pattester: simulator: no figure %q: earth, insulation, leakage or visual", figure)
	}
	r.Result = pat.ResultFail
	if pass {
		r.Result = pat.ResultPass
	}
	return s.Test(r)
}

// SetCalibrationDue sets the tester's calibration due date (YYYY-MM-DD; a past one
// is an out-of-date calibration), as a service visit would: it sends its ID
// record.
func (s *Sim) SetCalibrationDue(date string) error {
	if _, err := time.Parse(time.DateOnly, date); err != nil || len(date) != len(time.DateOnly) {
		return fmt.Errorf("pattester: simulator: calibration date %q is not YYYY-MM-DD", date)
	}
	s.mu.Lock()
	s.id.CalibrationDue = date
	s.mu.Unlock()
	return s.sendID()
}

// Garbage sends n lines of garbage, each of which the bridge counts as one bad
// record: in turn, line noise (random bytes, none a '$'), a PT record whose
// checksum is wrong, a record cut off before its checksum, a PT record whose
// syntax is good but which has no asset, and a line longer than MaxLine.
func (s *Sim) Garbage(n int) error {
	for range n {
		s.mu.Lock()
		s.noise++
		k := s.noise
		serial := s.id.Serial
		s.mu.Unlock()
		var b []byte
		switch k % 5 {
		case 1:
			b = noiseLine(k)
		case 2, 4:
			rec := record.Record{Type: TypeTest, Fields: [][2]string{{"serial", serial}, {"n", "0"}}}
			line, err := rec.Encode()
			if err != nil {
				return fmt.Errorf("pattester: simulator: %w", err)
			}
			if k%5 == 2 {
				// The checksum's second digit, made another hex digit.
				if d := &line[len(line)-3]; *d == '0' {
					*d = '1'
				} else {
					*d = '0'
				}
			}
			b = line
		case 3:
			b = []byte("$APPT,serial=" + serial + ",n=1,asset=X\r\n")
		case 0:
			b = []byte("$APPT,serial=" + strings.Repeat("x", record.MaxLine) + "\r\n")
		}
		if err := s.line.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// noiseLine returns a line of 8 to 39 random bytes, none '$', CR or LF, and CR LF.
func noiseLine(seed uint64) []byte {
	x := seed*0x9E3779B97F4A7C15 + 1
	next := func() byte {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return byte(x >> 24)
	}
	n := 8 + int(next()%32)
	b := make([]byte, 0, n+2)
	for len(b) < n {
		if c := next(); c != '$' && c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return append(b, '\r', '\n')
}
