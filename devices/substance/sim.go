package substance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/internal/record"

	"github.com/apedge/apedge/internal/clock"
)

// Sim is a simulated tester: the device side of the record protocol, byte for byte
// as a real one over its serial line, to the bridge's driver over a pseudo-terminal
// (a simulated port) or to any reader of the protocol on the port Serve is given
// (apedge sim substance). It sends its ID record at power-on and whenever asked
// (RQ what=id), and a result or error record whenever a test, the demo or a person
// tells it a test completed. In the bridge its clock is the bridge's (env.Clock),
// so its readings are dated plausibly in a demo running a scaled clock. It is safe
// for concurrent use.
type Sim struct {
	clk clock.Clock

	line record.Line // the pseudo-terminal, once serving

	mu       sync.Mutex
	id       identity
	n        uint32 // the last test number
	tempC    float64
	lot, exp string
	requests int
	noise    uint64
	off      bool
}

// NewSim returns a simulated tester of kind (KindBreathAlcohol or KindOralFluid)
// with serial, dating its records by clk, whose calibration is due in 180 days and,
// if it is an oral-fluid analyser, whose cassettes expire in a year. It says
// nothing until it is served (Serve).
func NewSim(kind, serial string, clk clock.Clock) *Sim {
	now := clk.Now()
	return &Sim{clk: clk, line: record.Line{Prefix: "substance: simulator"}, id: identity{Serial: serial, Firmware: "sim-1.0", Kind: kind, SelfCheck: SelfCheckPass,
		CalibrationDue: now.AddDate(0, 0, 180).Format(time.DateOnly)},
		tempC: 21.5, lot: "SIMLOT-0001", exp: now.AddDate(1, 0, 0).Format(time.DateOnly)}
}

// Serve is the simulated device on port until ctx ends or port fails: it sends its
// ID record (power-on) and answers every RQ what=id with it; the records of
// Breath, OralFluid, Error and the rest go to port from then on. It returns ctx's
// error or port's. Serve checks ctx between reads, so a port whose reads block
// must be closed for it to return (a serialport's reads time out).
func (s *Sim) Serve(ctx context.Context, port io.ReadWriter) error {
	s.line.Attach(port)
	if err := s.sendID(); err != nil {
		return err
	}
	sc := NewScanner(port)
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, ErrRecord) {
			continue // a device ignores what it cannot read
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

// Kind returns the simulated tester's kind, breath-alcohol or oral-fluid.
func (s *Sim) Kind() string { return s.id.Kind }

// Serial returns its serial number.
func (s *Sim) Serial() string { return s.id.Serial }

// SimState is what a simulated tester says of itself and the conditions of its
// next tests, as (*Sim).State returns them.
type SimState struct {
	// Kind, Serial, Firmware, CalibrationDue and SelfCheck are as its ID record says
	// them.
	Kind, Serial, Firmware, CalibrationDue, SelfCheck string
	// LastTest is the number of the last test it completed or reported an error
	// for (0: none yet).
	LastTest uint32
	// Off says it is switched off (PowerOff).
	Off bool
	// TemperatureC is the ambient temperature a breath meter reports; CassetteLot
	// and CassetteExpiry are an oral-fluid analyser's cassettes'.
	TemperatureC                float64
	CassetteLot, CassetteExpiry string
	// Requests counts the RQ what=id records it has answered.
	Requests int
}

// State returns what the tester says of itself now.
func (s *Sim) State() SimState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SimState{Kind: s.id.Kind, Serial: s.id.Serial, Firmware: s.id.Firmware, CalibrationDue: s.id.CalibrationDue,
		SelfCheck: s.id.SelfCheck, LastTest: s.n, Off: s.off, TemperatureC: s.tempC,
		CassetteLot: s.lot, CassetteExpiry: s.exp, Requests: s.requests}
}

// Requests returns how many RQ what=id records it has answered.
func (s *Sim) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

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
var errOff = errors.New("substance: simulator: switched off")

// head returns the next test's reading with what the device says of itself, or
// errOff.
func (s *Sim) head(testID string) (Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.off {
		return Reading{}, errOff
	}
	s.n++
	return Reading{Kind: s.id.Kind, Serial: s.id.Serial, CalibrationDue: s.id.CalibrationDue, SelfCheck: s.id.SelfCheck,
		TestNumber: s.n, TestID: testID, MeasuredAt: s.clk.Now().Truncate(time.Second)}, nil
}

// Breath completes a breath test reading ug µg of alcohol per 100 ml of breath,
// with testID keyed in (empty: none), and sends its BR record. A figure out of
// the protocol's range makes a record the bridge counts as bad. It fails if the
// tester is not a breath-alcohol meter.
func (s *Sim) Breath(ug float64, testID string) error {
	if s.id.Kind != KindBreathAlcohol {
		return fmt.Errorf("substance: simulator %s is an %s analyser, not a breath meter", s.id.Serial, s.id.Kind)
	}
	r, err := s.head(testID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	temp := s.tempC
	s.mu.Unlock()
	r.AlcoholUg, r.TemperatureC = &ug, &temp
	return s.line.Send(breathRecord(r))
}

// OralFluid completes an oral-fluid test with testID keyed in (empty: none) and
// sends its OF record: a result for every drug panel (DrugPanels), read against
// DefaultOralFluidCutoffs, each as results says (negative, non-negative or
// invalid, or the record's neg, pos or inv) or negative where it says nothing, on
// the current cassette (SetCassette). It fails for a panel or a result it does not
// know, or if the tester is not an oral-fluid analyser.
func (s *Sim) OralFluid(results map[string]string, testID string) error {
	if s.id.Kind != KindOralFluid {
		return fmt.Errorf("substance: simulator %s is a %s meter, not an oral-fluid analyser", s.id.Serial, s.id.Kind)
	}
	for p := range results {
		if !isDrugPanel(p) {
			return fmt.Errorf("substance: simulator: no panel %q", p)
		}
	}
	cutoffs := DefaultOralFluidCutoffs()
	var panels []PanelResult
	for _, p := range DrugPanels() {
		res := ResultNegative
		switch v := results[p]; v {
		case "", ResultNegative, CodeNegative:
		case ResultNonNegative, CodeNonNegative:
			res = ResultNonNegative
		case ResultInvalid, CodeInvalid:
			res = ResultInvalid
		default:
			return fmt.Errorf("substance: simulator: panel %s result %q", p, v)
		}
		panels = append(panels, PanelResult{Panel: p, Result: res, CutoffNgMl: cutoffs[p]})
	}
	r, err := s.head(testID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	r.CassetteLot, r.CassetteExpiry = s.lot, s.exp
	s.mu.Unlock()
	r.Panels = panels
	return s.line.Send(oralFluidRecord(r))
}

// Error sends an ER record: the device's error code and text (text may be empty)
// instead of a result, for the next test number.
func (s *Sim) Error(code, text string) error {
	r, err := s.head("")
	if err != nil {
		return err
	}
	return s.line.Send(errorRecord(r, code, text))
}

// FailSelfCheck makes the tester's self-check fail (or pass again), as a restart
// would find it: it sends its ID record, and its results say so from now on.
func (s *Sim) FailSelfCheck(fail bool) error {
	s.mu.Lock()
	s.id.SelfCheck = SelfCheckPass
	if fail {
		s.id.SelfCheck = SelfCheckFail
	}
	s.mu.Unlock()
	return s.sendID()
}

// SetCalibrationDue sets the tester's calibration due date (YYYY-MM-DD; a past one
// is an out-of-date calibration), as a service visit would: it sends its ID
// record, and its results carry the date from now on.
func (s *Sim) SetCalibrationDue(date string) error {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return fmt.Errorf("substance: simulator: calibration date: %w", err)
	}
	s.mu.Lock()
	s.id.CalibrationDue = date
	s.mu.Unlock()
	return s.sendID()
}

// SetCassette sets the lot and expiry (YYYY-MM-DD) of the cassettes an oral-fluid
// analyser's next tests use.
func (s *Sim) SetCassette(lot, expiry string) error {
	if _, err := time.Parse(time.DateOnly, expiry); err != nil {
		return fmt.Errorf("substance: simulator: cassette expiry: %w", err)
	}
	s.mu.Lock()
	s.lot, s.exp = lot, expiry
	s.mu.Unlock()
	return nil
}

// SetTemperature sets the ambient temperature, in °C, a breath meter reports with
// its next results.
func (s *Sim) SetTemperature(c float64) {
	s.mu.Lock()
	s.tempC = c
	s.mu.Unlock()
}

// Garbage sends n lines of garbage, each of which the bridge counts as one bad
// record: in turn, line noise (random bytes, none a '$'), a BR record whose
// checksum is wrong, a record cut off before its checksum, and a line longer than
// MaxLine.
func (s *Sim) Garbage(n int) error {
	for range n {
		s.mu.Lock()
		s.noise++
		k := s.noise
		serial := s.id.Serial
		s.mu.Unlock()
		var b []byte
		switch k % 4 {
		case 1:
			b = noiseLine(k)
		case 2:
			line, err := Record{Type: TypeBreath, Fields: [][2]string{{"serial", serial}, {"n", "0"}}}.Encode()
			if err != nil {
				return fmt.Errorf("substance: simulator: %w", err)
			}
			// The checksum's second digit, made another hex digit.
			if d := &line[len(line)-3]; *d == '0' {
				*d = '1'
			} else {
				*d = '0'
			}
			b = line
		case 3:
			b = []byte("$APBR,serial=" + serial + ",n=1,ug=0.0\r\n")
		case 0:
			b = []byte("$APID,serial=" + strings.Repeat("x", MaxLine) + "\r\n")
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
