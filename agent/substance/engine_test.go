package substance_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/sitebus"
)

// TestStartTest: what a test may start with, and what is refused with which error.
func TestStartTest(t *testing.T) {
	expired := auth()
	expired.From, expired.To = t0.AddDate(0, -2, 0), t0.AddDate(0, 0, -1)
	future := auth()
	future.From = t0.Add(time.Minute)
	endsNow := auth()
	endsNow.To = t0
	noManager := auth()
	noManager.Manager = " "
	backwards := auth()
	backwards.From, backwards.To = backwards.To, backwards.From
	with := func(s substance.Start, f func(*substance.Start)) substance.Start {
		f(&s)
		return s
	}
	tests := []struct {
		name  string
		start substance.Start
		want  error
	}{
		{"breath without authorisation", breathStart("X123456", meter, t0), nil},
		{"breath with one in force", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.Authorisation = auth() }), nil},
		{"oral fluid under one in force", ofStart("X123456", t0), nil},
		{"urine under one in force", urineStart("X123456", t0), nil},
		{"authorisation ending at the start", with(ofStart("X123456", t0), func(s *substance.Start) { s.Authorisation = endsNow }), nil},
		{"own test id", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.TestID = "T-7KQ2" }), nil},
		{"each reason", with(urineStart("X123456", t0), func(s *substance.Start) { s.Reason = substance.ReasonReturn }), nil},

		{"oral fluid without authorisation", with(ofStart("X123456", t0), func(s *substance.Start) { s.Authorisation = nil }), substance.ErrAuthorisation},
		{"urine without authorisation", with(urineStart("X123456", t0), func(s *substance.Start) { s.Authorisation = nil }), substance.ErrAuthorisation},
		{"expired authorisation", with(ofStart("X123456", t0), func(s *substance.Start) { s.Authorisation = expired }), substance.ErrAuthorisation},
		{"authorisation not yet in force", with(urineStart("X123456", t0), func(s *substance.Start) { s.Authorisation = future }), substance.ErrAuthorisation},
		{"breath under an expired one", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.Authorisation = expired }), substance.ErrAuthorisation},
		{"authorisation without manager", with(ofStart("X123456", t0), func(s *substance.Start) { s.Authorisation = noManager }), substance.ErrAuthorisation},
		{"authorisation ending before it starts", with(ofStart("X123456", t0), func(s *substance.Start) { s.Authorisation = backwards }), substance.ErrAuthorisation},
		{"unknown sample type", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.SampleType = "hair" }), substance.ErrSampleType},
		{"unknown reason", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.Reason = "because" }), substance.ErrReason},
		{"urine cup on a device", with(urineStart("X123456", t0), func(s *substance.Start) { s.Device = meter }), substance.ErrSampleType},
		{"breath without a device", with(breathStart("X123456", "", t0), func(*substance.Start) {}), substance.ErrSampleType},
		{"no staff", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.Staff = "" }), substance.ErrPeople},
		{"no witness", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.Witness = "  " }), substance.ErrPeople},
		{"witness is the tester", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.Witness = "sam keyworker" }), substance.ErrPeople},
		{"not a CRN", with(breathStart("x123456", meter, t0), func(*substance.Start) {}), substance.ErrInvalid},
		{"no time", with(breathStart("X123456", meter, time.Time{}), func(*substance.Start) {}), substance.ErrInvalid},
		{"test id with a space", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.TestID = "T 1" }), substance.ErrInvalid},
		{"taken test id", with(breathStart("X123456", meter, t0), func(s *substance.Start) { s.TestID = "T-1" }), substance.ErrDuplicate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			start(t, e, breathStart("Y654321", meter2, t0.Add(-time.Hour))) // T-1, elsewhere
			tt, d, err := e.StartTest(tc.start)
			wantErr(t, err, tc.want)
			if tc.want != nil {
				if msg := err.Error(); !strings.HasPrefix(msg, "substance: ") || len(msg) < 30 {
					t.Errorf("error %q: want a sentence prefixed substance:", msg)
				}
				if len(e.All()) != 1 {
					t.Errorf("a refused start left %d tests", len(e.All()))
				}
				return
			}
			if d.Type != substance.TypeStarted || d.CRN != tc.start.CRN || d.TestID != tt.ID || !d.At.Equal(tc.start.At) {
				t.Errorf("draft %+v", d)
			}
			if tc.start.TestID != "" && tt.ID != tc.start.TestID || tc.start.TestID == "" && tt.ID != "T-2" {
				t.Errorf("test id %q", tt.ID)
			}
			if tt.State != substance.StateAwaitingSample || tt.Outcome != "" {
				t.Errorf("state %s outcome %q", tt.State, tt.Outcome)
			}
			m := info(t, d)
			for _, k := range []string{"testId", "crn", "reason", "sampleType", "staff", "witness", "at"} {
				if m[k] == nil || m[k] == "" {
					t.Errorf("info has no %s: %s", k, d.Info)
				}
			}
			if a, ok := m["authorisation"].(map[string]any); tc.start.Authorisation != nil && (!ok || a["ref"] != "AUTH-2026-47" || a["manager"] != "Priya Shah" || a["from"] == nil || a["to"] == nil) {
				t.Errorf("info authorisation: %s", d.Info)
			}
		})
	}
}

// TestTwoOpenTestsAtOneDevice: a device has at most one test awaiting its sample; it
// is free again once that test is tested, refused or closed.
func TestTwoOpenTestsAtOneDevice(t *testing.T) {
	e := newEngine(t)
	first := start(t, e, breathStart("X123456", meter, t0))
	_, _, err := e.StartTest(breathStart("Y654321", meter, t0.Add(time.Minute)))
	wantErr(t, err, substance.ErrDeviceBusy)
	if !strings.Contains(err.Error(), first) {
		t.Errorf("error %q does not name the open test %s", err, first)
	}
	start(t, e, breathStart("Y654321", meter2, t0.Add(time.Minute))) // another device
	start(t, e, urineStart("Y654321", t0.Add(time.Minute)))          // cups have no device
	start(t, e, urineStart("Z111111", t0.Add(time.Minute)))

	must(t).D(e.Reading(meter, breath(0, 1, t0.Add(2*time.Minute)), t0.Add(2*time.Minute)))
	second := start(t, e, breathStart("Y654321", meter, t0.Add(3*time.Minute)))
	_, _, err = e.StartTest(breathStart("Z111111", meter, t0.Add(4*time.Minute)))
	wantErr(t, err, substance.ErrDeviceBusy)
	must(t).D(e.Refused(second, substance.RefusalRefused, "Alex Night", "Sam Keyworker", t0.Add(5*time.Minute)))
	third := start(t, e, breathStart("Z111111", meter, t0.Add(6*time.Minute)))
	must(t).D(e.Close(third, "started for the wrong resident", "Sam Keyworker", t0.Add(7*time.Minute)))
	start(t, e, breathStart("Z111111", meter, t0.Add(8*time.Minute)))
}

// TestBinding: how a reading finds its test, and every way it finds none.
func TestBinding(t *testing.T) {
	tests := []struct {
		name string
		// setup starts tests (returning the id of the one the reading is expected for,
		// or "") and may finish some.
		setup   func(t *testing.T, e *substance.Engine) string
		device  string
		reading func(id string) sitebus.SubstanceReading
		after   time.Duration // received at t0+after
		by      string        // want: BoundByTestID, BoundByWindow, or "" for unbound
		why     string        // unbound: a phrase of the reason
	}{
		{"by test id", func(t *testing.T, e *substance.Engine) string {
			return start(t, e, breathStart("X123456", meter, t0))
		}, meter, func(id string) sitebus.SubstanceReading {
			r := breath(4, 1, t0.Add(time.Minute))
			r.TestID = id
			return r
		}, time.Minute, substance.BoundByTestID, ""},
		{"by test id long after the window", func(t *testing.T, e *substance.Engine) string {
			return start(t, e, breathStart("X123456", meter, t0))
		}, meter, func(id string) sitebus.SubstanceReading {
			r := breath(4, 1, t0.Add(40*time.Minute))
			r.TestID = id
			return r
		}, 40 * time.Minute, substance.BoundByTestID, ""},
		{"by window", func(t *testing.T, e *substance.Engine) string {
			return start(t, e, breathStart("X123456", meter, t0))
		}, meter, func(string) sitebus.SubstanceReading { return breath(4, 1, t0.Add(3*time.Minute)) }, 3 * time.Minute, substance.BoundByWindow, ""},
		{"by window, at its end", func(t *testing.T, e *substance.Engine) string {
			return start(t, e, ofStart("X123456", t0))
		}, analyser, func(string) sitebus.SubstanceReading {
			return oral(9, t0.Add(10*time.Minute), sitebus.PanelCocaine, sitebus.ResultNegative)
		}, 10 * time.Minute, substance.BoundByWindow, ""},
		{"by window, device clock a little slow", func(t *testing.T, e *substance.Engine) string {
			return start(t, e, breathStart("X123456", meter, t0))
		}, meter, func(string) sitebus.SubstanceReading { return breath(4, 1, t0.Add(-time.Minute)) }, time.Minute, substance.BoundByWindow, ""},

		{"after the window", func(t *testing.T, e *substance.Engine) string {
			start(t, e, breathStart("X123456", meter, t0))
			return ""
		}, meter, func(string) sitebus.SubstanceReading { return breath(4, 1, t0.Add(11*time.Minute)) }, 11 * time.Minute, "", "binding window"},
		{"no open test", func(t *testing.T, e *substance.Engine) string {
			start(t, e, breathStart("X123456", meter2, t0))
			return ""
		}, meter, func(string) sitebus.SubstanceReading { return breath(4, 1, t0.Add(time.Minute)) }, time.Minute, "", "no test is awaiting"},
		{"test id of a test at another device", func(t *testing.T, e *substance.Engine) string {
			start(t, e, breathStart("X123456", meter, t0))                      // T-1, this device's own
			start(t, e, breathStart("Y654321", meter2, t0.Add(-2*time.Minute))) // T-2, at the other
			return ""
		}, meter, func(string) sitebus.SubstanceReading {
			r := breath(4, 1, t0.Add(time.Minute))
			r.TestID = "T-2"
			return r
		}, time.Minute, "", "at breath-2, not breath-1"},
		{"unknown test id, device with an open test", func(t *testing.T, e *substance.Engine) string {
			start(t, e, breathStart("X123456", meter, t0))
			return ""
		}, meter, func(string) sitebus.SubstanceReading {
			r := breath(4, 1, t0.Add(time.Minute))
			r.TestID = "T-99"
			return r
		}, time.Minute, "", "no test here"},
		{"test id of a test already tested", func(t *testing.T, e *substance.Engine) string {
			id := start(t, e, breathStart("X123456", meter, t0))
			must(t).D(e.Reading(meter, breath(0, 1, t0.Add(time.Minute)), t0.Add(time.Minute)))
			start(t, e, breathStart("Y654321", meter, t0.Add(2*time.Minute)))
			_ = id
			return ""
		}, meter, func(string) sitebus.SubstanceReading {
			r := breath(4, 2, t0.Add(3*time.Minute))
			r.TestID = "T-1"
			return r
		}, 3 * time.Minute, "", "not awaiting a sample"},
		{"wrong kind of reading", func(t *testing.T, e *substance.Engine) string {
			start(t, e, breathStart("X123456", meter, t0))
			return ""
		}, meter, func(string) sitebus.SubstanceReading {
			return oral(1, t0.Add(time.Minute), sitebus.PanelCocaine, sitebus.ResultNegative)
		}, time.Minute, "", "cannot be test T-1's breath sample"},
		{"measured before the test started", func(t *testing.T, e *substance.Engine) string {
			start(t, e, breathStart("X123456", meter, t0))
			return ""
		}, meter, func(string) sitebus.SubstanceReading { return breath(4, 1, t0.Add(-20*time.Minute)) }, time.Minute, "", "earlier test"},
		{"received before the test started", func(t *testing.T, e *substance.Engine) string {
			start(t, e, breathStart("X123456", meter, t0))
			return ""
		}, meter, func(string) sitebus.SubstanceReading {
			r := breath(4, 1, t0.Add(-time.Minute))
			r.TestID = "T-1"
			return r
		}, -time.Minute, "", "before test T-1 started"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			id := tc.setup(t, e)
			before := e.All()
			d, err := e.Reading(tc.device, tc.reading(id), t0.Add(tc.after))
			if err != nil {
				t.Fatal(err)
			}
			if tc.by == "" {
				if d.Type != substance.TypeUnbound || d.CRN != "" || d.TestID != "" {
					t.Fatalf("draft %s crn %q test %q, want unbound (info %s)", d.Type, d.CRN, d.TestID, d.Info)
				}
				u := e.Unbound()
				if len(u) != 1 || u[0].Device != tc.device || !strings.Contains(u[0].Why, tc.why) {
					t.Fatalf("unbound %+v, want one from %s saying %q", u, tc.device, tc.why)
				}
				if after := e.All(); !slicesEqualTests(before, after) {
					t.Errorf("an unbound reading changed the tests:\n%+v\n%+v", before, after)
				}
				return
			}
			s := screen(t, d)
			tt := get(t, e, id)
			if d.TestID != id || d.CRN != tt.CRN || s.TestID != id || s.BoundBy != tc.by {
				t.Errorf("bound to %s (%s) by %s, want %s by %s", d.TestID, d.CRN, s.BoundBy, id, tc.by)
			}
			if tt.Screen == nil || tt.State == substance.StateAwaitingSample {
				t.Errorf("test after its reading: %+v", tt)
			}
			if len(e.Unbound()) != 0 {
				t.Errorf("unbound: %+v", e.Unbound())
			}
		})
	}
}

func slicesEqualTests(a, b []substance.Test) bool {
	return len(a) == len(b) && slices.EqualFunc(a, b, func(x, y substance.Test) bool {
		return x.ID == y.ID && x.State == y.State && x.Outcome == y.Outcome && (x.Screen == nil) == (y.Screen == nil)
	})
}

// TestReadingNotBoundToAnotherDevicesTest: a reading whose test id is a test at
// another device binds to neither that test nor this device's own open test, and
// both stay awaiting their samples, to be bound by their own readings.
func TestReadingNotBoundToAnotherDevicesTest(t *testing.T) {
	e := newEngine(t)
	here := start(t, e, breathStart("X123456", meter, t0))
	there := start(t, e, breathStart("Y654321", meter2, t0))
	r := breath(40, 7, t0.Add(time.Minute))
	r.TestID = there
	d := must(t).D(e.Reading(meter, r, t0.Add(time.Minute)))
	if d.Type != substance.TypeUnbound {
		t.Fatalf("draft %s, want unbound", d.Type)
	}
	for _, id := range []string{here, there} {
		if tt := get(t, e, id); tt.State != substance.StateAwaitingSample || tt.Screen != nil {
			t.Errorf("test %s: %s", id, tt.State)
		}
	}
	d = must(t).D(e.Reading(meter2, breath(0, 1, t0.Add(2*time.Minute)), t0.Add(2*time.Minute)))
	if d.TestID != there {
		t.Errorf("meter2's own reading bound to %q, want %s", d.TestID, there)
	}
	d = must(t).D(e.Reading(meter, breath(0, 8, t0.Add(2*time.Minute)), t0.Add(2*time.Minute)))
	if d.TestID != here {
		t.Errorf("meter's own reading bound to %q, want %s", d.TestID, here)
	}
}

// TestUnboundReadingRaised: a reading that matches no test is held with its device
// and figures, names no one and is listed (it is an alarm); the same reading sent
// again is not a second one.
func TestUnboundReadingRaised(t *testing.T) {
	e := newEngine(t)
	r := breath(52.5, 1187, t0)
	r.TestID = "T-7KQ2"
	d := must(t).D(e.Reading(meter, r, t0.Add(time.Second)))
	if d.Type != substance.TypeUnbound || d.CRN != "" || !d.At.Equal(t0.Add(time.Second)) {
		t.Fatalf("draft %+v", d)
	}
	m := info(t, d)
	rd, _ := m["reading"].(map[string]any)
	if m["device"] != meter || rd["serial"] != meterSN || rd["alcoholUgPer100ml"] != 52.5 || rd["testId"] != "T-7KQ2" || m["crn"] != nil || m["why"] == "" {
		t.Errorf("info %s", d.Info)
	}
	u := e.Unbound()
	if len(u) != 1 || u[0].Reading.TestNumber != 1187 || *u[0].Reading.AlcoholUg != 52.5 {
		t.Fatalf("unbound %+v", u)
	}
	*u[0].Reading.AlcoholUg = 0 // a copy: the engine's is untouched
	if got := *e.Unbound()[0].Reading.AlcoholUg; got != 52.5 {
		t.Errorf("Unbound returned the engine's own figures: now %v", got)
	}
	if len(e.All()) != 0 {
		t.Errorf("tests: %+v", e.All())
	}
	// The same reading again (the bridge sending it twice) is not a second alarm.
	_, err := e.Reading(meter, r, t0.Add(2*time.Second))
	wantErr(t, err, substance.ErrDuplicate)
}

// TestDuplicateReading: a bound reading sent again is refused, not bound to the
// device's next test.
func TestDuplicateReading(t *testing.T) {
	e := newEngine(t)
	start(t, e, breathStart("X123456", meter, t0))
	r := breath(0, 5, t0.Add(time.Minute))
	must(t).D(e.Reading(meter, r, t0.Add(time.Minute)))
	next := start(t, e, breathStart("Y654321", meter, t0.Add(2*time.Minute)))
	_, err := e.Reading(meter, r, t0.Add(3*time.Minute))
	wantErr(t, err, substance.ErrDuplicate)
	if tt := get(t, e, next); tt.State != substance.StateAwaitingSample {
		t.Errorf("the next test took the duplicate: %+v", tt)
	}
}

// TestValidity: what makes a reading invalid, the reasons given, and that every
// panel is then invalid; and alcohol against its limit.
func TestValidity(t *testing.T) {
	at := t0.Add(time.Minute) // 2026-11-22
	tests := []struct {
		name    string
		sample  string
		reading func() sitebus.SubstanceReading
		outcome string
		panels  []string // panel results, in order
		calib   string
		reason  string // a phrase of an invalid reason
	}{
		{"breath negative", substance.SampleBreath, func() sitebus.SubstanceReading { return breath(8.9, 1, at) },
			substance.OutcomeNegative, []string{"negative"}, substance.CalibrationInDate, ""},
		{"breath at the limit", substance.SampleBreath, func() sitebus.SubstanceReading { return breath(9, 1, at) },
			substance.OutcomeNonNegative, []string{"non-negative"}, substance.CalibrationInDate, ""},
		{"breath over the limit", substance.SampleBreath, func() sitebus.SubstanceReading { return breath(52, 1, at) },
			substance.OutcomeNonNegative, []string{"non-negative"}, substance.CalibrationInDate, ""},
		{"calibration due on the day", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.CalibrationDue = "2026-11-22"
			return r
		}, substance.OutcomeNegative, []string{"negative"}, substance.CalibrationInDate, ""},
		{"calibration overdue", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(52, 1, at)
			r.CalibrationDue = "2026-11-21"
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationOverdue, "calibration was due on 2026-11-21"},
		{"calibration overdue, device clock set back", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, t0.AddDate(0, 0, -1).Add(time.Minute))
			r.CalibrationDue = "2026-11-21"
			r.TestID = "T-1"
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationOverdue, "before the reading's date, 2026-11-22"},
		{"no calibration date", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.CalibrationDue = ""
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationUnknown, "no calibration date"},
		{"self-check failed", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.SelfCheck = "fail"
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationInDate, "self-check failed"},
		{"too cold", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.TemperatureC = ptr(4.9)
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationInDate, "4.9 °C, was outside the operating range of 5 to 40 °C"},
		{"too hot", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.TemperatureC = ptr(41)
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationInDate, "operating range"},
		{"at the top of the range", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.TemperatureC = ptr(40)
			return r
		}, substance.OutcomeNegative, []string{"negative"}, substance.CalibrationInDate, ""},
		{"device error", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.AlcoholUg, r.DeviceError = nil, "E12"
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationInDate, `error "E12"`},
		{"alcohol figure not a number", substance.SampleBreath, func() sitebus.SubstanceReading {
			r := breath(0, 1, at)
			r.AlcoholUg = ptr(nan())
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationInDate, "no alcohol figure"},

		{"oral fluid non-negative", substance.SampleOralFluid, func() sitebus.SubstanceReading {
			return oral(1, at, sitebus.PanelCannabis, "negative", sitebus.PanelCocaine, "non-negative", sitebus.PanelAmphetamine, "negative")
		}, substance.OutcomeNonNegative, []string{"negative", "non-negative", "negative"}, substance.CalibrationInDate, ""},
		{"oral fluid, one panel invalid", substance.SampleOralFluid, func() sitebus.SubstanceReading {
			return oral(1, at, sitebus.PanelCocaine, "negative", sitebus.PanelCannabis, "invalid")
		}, substance.OutcomeInvalid, []string{"negative", "invalid"}, substance.CalibrationInDate, ""},
		{"expired cassette", substance.SampleOralFluid, func() sitebus.SubstanceReading {
			r := oral(1, at, sitebus.PanelCocaine, "non-negative", sitebus.PanelCannabis, "negative")
			r.CassetteExpiry = "2026-10-31"
			return r
		}, substance.OutcomeInvalid, []string{"invalid", "invalid"}, substance.CalibrationInDate, "cassette expired on 2026-10-31"},
		{"cassette expiring on the day", substance.SampleOralFluid, func() sitebus.SubstanceReading {
			r := oral(1, at, sitebus.PanelCocaine, "negative")
			r.CassetteExpiry = "2026-11-22"
			return r
		}, substance.OutcomeNegative, []string{"negative"}, substance.CalibrationInDate, ""},
		{"oral fluid, self-check failed and calibration overdue", substance.SampleOralFluid, func() sitebus.SubstanceReading {
			r := oral(1, at, sitebus.PanelCocaine, "negative")
			r.SelfCheck, r.CalibrationDue = "fail", "2026-01-15"
			return r
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationOverdue, "self-check failed"},
		{"oral fluid without panels", substance.SampleOralFluid, func() sitebus.SubstanceReading { return oral(1, at) },
			substance.OutcomeInvalid, nil, substance.CalibrationInDate, "no panel results"},
		{"oral fluid, a panel that is not one", substance.SampleOralFluid, func() sitebus.SubstanceReading {
			return oral(1, at, sitebus.PanelCocaine, "negative", "caffeine", "negative")
		}, substance.OutcomeInvalid, []string{"invalid"}, substance.CalibrationInDate, `"caffeine"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			dev := meter
			if tc.sample == substance.SampleOralFluid {
				dev = analyser
				start(t, e, ofStart("X123456", t0))
			} else {
				start(t, e, breathStart("X123456", meter, t0))
			}
			d := must(t).D(e.Reading(dev, tc.reading(), at))
			s := screen(t, d)
			var got []string
			for _, p := range s.Panels {
				got = append(got, p.Result)
			}
			if s.Outcome != tc.outcome || !slices.Equal(got, tc.panels) || s.Calibration != tc.calib {
				t.Errorf("outcome %s panels %v calibration %s, want %s %v %s (reasons %q)", s.Outcome, got, s.Calibration, tc.outcome, tc.panels, tc.calib, s.InvalidReasons)
			}
			if tc.reason == "" && !s.Valid && tc.outcome != substance.OutcomeInvalid {
				t.Errorf("invalid: %q", s.InvalidReasons)
			}
			if tc.reason != "" {
				if s.Valid || !slices.ContainsFunc(s.InvalidReasons, func(r string) bool { return strings.Contains(r, tc.reason) }) {
					t.Errorf("valid %v reasons %q, want one saying %q", s.Valid, s.InvalidReasons, tc.reason)
				}
			}
			tt := get(t, e, "T-1")
			if tt.Outcome != tc.outcome {
				t.Errorf("test outcome %s", tt.Outcome)
			}
			wantState := substance.StateClosed
			if tc.outcome == substance.OutcomeNonNegative && tc.sample != substance.SampleBreath {
				wantState = substance.StateAwaitingConfirmation
			}
			if tt.State != wantState {
				t.Errorf("state %s, want %s", tt.State, wantState)
			}
			if tc.sample == substance.SampleBreath && (s.LimitUg == nil || *s.LimitUg != substance.DefaultBreathLimitUg) {
				t.Errorf("breath limit %v", s.LimitUg)
			}
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

// TestTestedInfo: a substance.tested event carries everything its reader needs.
func TestTestedInfo(t *testing.T) {
	e := newEngine(t)
	id := start(t, e, ofStart("X123456", t0))
	r := oral(342, t0.Add(4*time.Minute), sitebus.PanelCocaine, "non-negative", sitebus.PanelCannabis, "negative", sitebus.PanelMDMA, "negative")
	r.Panels[2].CutoffNgMl = 50
	r.Firmware = "4.1"
	d := must(t).D(e.Reading(analyser, r, t0.Add(5*time.Minute)))
	s := screen(t, d)
	want := []sitebus.PanelResult{
		{Panel: sitebus.PanelMDMA, Result: "negative", CutoffNgMl: 50}, // the device's cut-off
		{Panel: sitebus.PanelCocaine, Result: "non-negative", CutoffNgMl: 15},
		{Panel: sitebus.PanelCannabis, Result: "negative", CutoffNgMl: 5}, // the configured one
	}
	if !slices.Equal(s.Panels, want) {
		t.Errorf("panels %+v, want %+v", s.Panels, want)
	}
	if s.TestID != id || s.CRN != "X123456" || s.Reason != substance.ReasonSuspicion || s.SampleType != substance.SampleOralFluid ||
		s.Device != analyser || s.Serial != ofSN || s.Firmware != "4.1" || s.TestNumber != 342 || s.CalibrationDue != "2027-01-15" ||
		s.Calibration != substance.CalibrationInDate || s.SelfCheck != "pass" || s.Lot != "ARJK-0129" || s.Expiry != "2027-06-30" ||
		s.Staff != "Sam Keyworker" || s.Witness != "Alex Night" || s.Authorisation == nil || s.Authorisation.Ref != "AUTH-2026-47" ||
		!s.Valid || s.Outcome != substance.OutcomeNonNegative || !s.At.Equal(t0.Add(5*time.Minute)) || !s.MeasuredAt.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("screen %+v", s)
	}
}

// TestUrineResult: a cup's result entered per panel, an expired cup, and what is
// refused.
func TestUrineResult(t *testing.T) {
	e := newEngine(t)
	id := start(t, e, urineStart("X123456", t0))
	at := t0.Add(5 * time.Minute)
	for _, tc := range []struct {
		name        string
		lot, expiry string
		panels      map[string]string
		staff       string
		want        error
	}{
		{"no lot", "", "2027-01-01", map[string]string{"thc": "negative"}, "Sam Keyworker", substance.ErrInvalid},
		{"bad expiry", "L1", "01/01/2027", map[string]string{"thc": "negative"}, "Sam Keyworker", substance.ErrInvalid},
		{"no panels", "L1", "2027-01-01", nil, "Sam Keyworker", substance.ErrInvalid},
		{"alcohol on a cup", "L1", "2027-01-01", map[string]string{"alcohol": "negative"}, "Sam Keyworker", substance.ErrInvalid},
		{"bad result", "L1", "2027-01-01", map[string]string{"thc": "positive"}, "Sam Keyworker", substance.ErrInvalid},
		{"no staff", "L1", "2027-01-01", map[string]string{"thc": "negative"}, "", substance.ErrPeople},
	} {
		_, err := e.UrineResult(id, tc.lot, tc.expiry, tc.panels, tc.staff, at)
		if !isErr(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	breathID := start(t, e, breathStart("Y654321", meter, t0))
	_, err := e.UrineResult(breathID, "L1", "2027-01-01", map[string]string{"thc": "negative"}, "Sam Keyworker", at)
	wantErr(t, err, substance.ErrSampleType)
	if tt := get(t, e, id); tt.State != substance.StateAwaitingSample {
		t.Fatalf("refused entries changed the test: %+v", tt)
	}

	d := must(t).D(e.UrineResult(id, "CUP-2291", "2027-08-31", map[string]string{"thc": "non-negative", "cocaine": "negative", "fentanyl": "negative"}, "Jo Day", at))
	s := screen(t, d)
	want := []sitebus.PanelResult{{Panel: "cocaine", Result: "negative", CutoffNgMl: 150}, {Panel: "thc", Result: "non-negative", CutoffNgMl: 50}, {Panel: "fentanyl", Result: "negative"}}
	if !slices.Equal(s.Panels, want) || s.Outcome != substance.OutcomeNonNegative || !s.Valid || s.BoundBy != substance.BoundByEntered ||
		s.EnteredBy != "Jo Day" || s.Lot != "CUP-2291" || s.Expiry != "2027-08-31" || s.Device != "" || s.Serial != "" {
		t.Errorf("screen %+v", s)
	}
	if tt := get(t, e, id); tt.State != substance.StateAwaitingConfirmation {
		t.Errorf("state %s", tt.State)
	}
	_, err = e.UrineResult(id, "CUP-2291", "2027-08-31", map[string]string{"thc": "negative"}, "Jo Day", at)
	wantErr(t, err, substance.ErrState)

	expired := start(t, e, urineStart("Z111111", t0))
	s = screen(t, must(t).D(e.UrineResult(expired, "CUP-1", "2026-11-21", map[string]string{"thc": "non-negative", "mdma": "negative"}, "Jo Day", at)))
	if s.Valid || s.Outcome != substance.OutcomeInvalid || s.Panels[0].Result != "invalid" || s.Panels[1].Result != "invalid" ||
		len(s.InvalidReasons) != 1 || !strings.Contains(s.InvalidReasons[0], "cup expired on 2026-11-21") {
		t.Errorf("expired cup: %+v", s)
	}
	if tt := get(t, e, expired); tt.State != substance.StateClosed {
		t.Errorf("expired cup's test %s", tt.State)
	}
}

// TestRefused: a refusal, and an inability to give a sample, recorded with their
// witness; what cannot be refused.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		refusal, witness, staff string
		want                    error
		outcome                 string
	}{
		{substance.RefusalRefused, "Alex Night", "Sam Keyworker", nil, substance.OutcomeRefused},
		{substance.RefusalUnable, "Chris Duty", "Sam Keyworker", nil, substance.OutcomeUnable},
		{"declined", "Alex Night", "Sam Keyworker", substance.ErrInvalid, ""},
		{substance.RefusalRefused, "", "Sam Keyworker", substance.ErrPeople, ""},
		{substance.RefusalRefused, "Alex Night", "", substance.ErrPeople, ""},
		{substance.RefusalRefused, "Sam Keyworker", "Sam Keyworker", substance.ErrPeople, ""},
	} {
		t.Run(tc.refusal+"/"+tc.witness+"/"+tc.staff, func(t *testing.T) {
			e := newEngine(t)
			id := start(t, e, ofStart("X123456", t0))
			d, err := e.Refused(id, tc.refusal, tc.witness, tc.staff, t0.Add(3*time.Minute))
			wantErr(t, err, tc.want)
			tt := get(t, e, id)
			if tc.want != nil {
				if tt.State != substance.StateAwaitingSample {
					t.Errorf("a refused refusal changed the test: %s", tt.State)
				}
				return
			}
			m := info(t, d)
			if d.Type != substance.TypeRefused || d.CRN != "X123456" || m["refusal"] != tc.refusal || m["witness"] != tc.witness ||
				m["staff"] != tc.staff || m["testId"] != id || m["authorisation"] == nil || m["sampleType"] != substance.SampleOralFluid {
				t.Errorf("draft %s %s", d.Type, d.Info)
			}
			if tt.State != substance.StateClosed || tt.Outcome != tc.outcome || tt.Refusal == nil || tt.Refusal.Witness != tc.witness {
				t.Errorf("test %+v", tt)
			}
			// The analyser is free, and a late reading for the refused test binds to no one.
			r := oral(1, t0.Add(4*time.Minute), sitebus.PanelCocaine, "negative")
			r.TestID = id
			if d := must(t).D(e.Reading(analyser, r, t0.Add(4*time.Minute))); d.Type != substance.TypeUnbound {
				t.Errorf("a reading for a refused test: %s", d.Type)
			}
			_, err = e.Refused(id, tc.refusal, tc.witness, tc.staff, t0.Add(5*time.Minute))
			wantErr(t, err, substance.ErrState)
		})
	}
	e := newEngine(t)
	_, err := e.Refused("T-9", substance.RefusalRefused, "Alex Night", "Sam Keyworker", t0)
	wantErr(t, err, substance.ErrNoTest)
}

// TestChainOfCustody: a non-negative through collection, seal, dispatch and receipt
// to the laboratory's confirmation, which closes it; every step out of order is
// refused.
func TestChainOfCustody(t *testing.T) {
	e := newEngine(t)
	id := start(t, e, ofStart("X123456", t0))
	neg := start(t, e, urineStart("Y654321", t0))
	must(t).D(e.UrineResult(neg, "CUP-1", "2027-01-01", map[string]string{"thc": "negative"}, "Jo Day", t0.Add(time.Minute)))
	_, err := e.Seal(neg, "SEAL-0", "Jo Day", t0.Add(2*time.Minute))
	wantErr(t, err, substance.ErrState) // a negative has nothing to confirm
	_, err = e.Seal(id, "SEAL-1", "Jo Day", t0.Add(2*time.Minute))
	wantErr(t, err, substance.ErrState) // not screened yet

	must(t).D(e.Reading(analyser, oral(1, t0.Add(5*time.Minute), sitebus.PanelCocaine, "non-negative"), t0.Add(5*time.Minute)))
	lab := map[string]substance.LabFinding{"benzoylecgonine": {Confirmed: true, Method: "LC-MS/MS"}, "cocaine": {Confirmed: false, Method: "LC-MS/MS"}}
	steps := []struct {
		name string
		do   func() (substance.Draft, error)
		want error
		typ  string
	}{
		{"dispatch before sealing", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageDispatched, "Jo Day", t0.Add(6*time.Minute))
		}, substance.ErrState, ""},
		{"lab result before sealing", func() (substance.Draft, error) { return e.LabResult(id, lab, "Jo Day", t0.Add(6*time.Minute)) }, substance.ErrState, ""},
		{"sealed as a handover", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageSealed, "Jo Day", t0.Add(6*time.Minute))
		}, substance.ErrInvalid, ""},
		{"unknown stage", func() (substance.Draft, error) { return e.Handover(id, "lost", "Jo Day", t0.Add(6*time.Minute)) }, substance.ErrInvalid, ""},
		{"before the screen", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageCollected, "Jo Day", t0.Add(4*time.Minute))
		}, substance.ErrInvalid, ""},
		{"collected", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageCollected, "Jo Day", t0.Add(6*time.Minute))
		}, nil, substance.TypeCustody},
		{"collected twice", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageCollected, "Jo Day", t0.Add(6*time.Minute))
		}, substance.ErrState, ""},
		{"seal with no number", func() (substance.Draft, error) { return e.Seal(id, "", "Jo Day", t0.Add(7*time.Minute)) }, substance.ErrInvalid, ""},
		{"sealed", func() (substance.Draft, error) { return e.Seal(id, "SEAL-77120", "Jo Day", t0.Add(7*time.Minute)) }, nil, substance.TypeCustody},
		{"sealed twice", func() (substance.Draft, error) { return e.Seal(id, "SEAL-77121", "Jo Day", t0.Add(7*time.Minute)) }, substance.ErrState, ""},
		{"collected after sealing", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageCollected, "Jo Day", t0.Add(8*time.Minute))
		}, substance.ErrState, ""},
		{"received before dispatch", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageReceived, "Lab", t0.Add(8*time.Minute))
		}, substance.ErrState, ""},
		{"dispatched back in time", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageDispatched, "Jo Day", t0.Add(6*time.Minute))
		}, substance.ErrInvalid, ""},
		{"dispatched by no one", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageDispatched, "", t0.Add(time.Hour))
		}, substance.ErrPeople, ""},
		{"dispatched", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageDispatched, "Jo Day", t0.Add(time.Hour))
		}, nil, substance.TypeDispatched},
		{"dispatched twice", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageDispatched, "Jo Day", t0.Add(time.Hour))
		}, substance.ErrState, ""},
		{"received", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageReceived, "Synlab reception", t0.Add(26*time.Hour))
		}, nil, substance.TypeCustody},
		{"lab result with no findings", func() (substance.Draft, error) { return e.LabResult(id, nil, "Jo Day", t0.Add(72*time.Hour)) }, substance.ErrInvalid, ""},
		{"lab result without method", func() (substance.Draft, error) {
			return e.LabResult(id, map[string]substance.LabFinding{"cocaine": {Confirmed: true}}, "Jo Day", t0.Add(72*time.Hour))
		}, substance.ErrInvalid, ""},
		{"confirmed", func() (substance.Draft, error) { return e.LabResult(id, lab, "Jo Day", t0.Add(72*time.Hour)) }, nil, substance.TypeConfirmed},
		{"confirmed twice", func() (substance.Draft, error) { return e.LabResult(id, lab, "Jo Day", t0.Add(73*time.Hour)) }, substance.ErrState, ""},
		{"custody after closing", func() (substance.Draft, error) {
			return e.Handover(id, substance.StageReceived, "Lab", t0.Add(73*time.Hour))
		}, substance.ErrState, ""},
	}
	for _, s := range steps {
		before := get(t, e, id)
		d, err := s.do()
		if s.want != nil {
			if !isErr(err, s.want) {
				t.Fatalf("%s: error %v, want %v", s.name, err, s.want)
			}
			if after := get(t, e, id); len(after.Custody) != len(before.Custody) || after.State != before.State {
				t.Fatalf("%s: a refused step changed the test", s.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d.Type != s.typ || d.TestID != id || d.CRN != "X123456" {
			t.Fatalf("%s: draft %+v", s.name, d)
		}
	}
	tt := get(t, e, id)
	var stages []string
	for _, h := range tt.Custody {
		stages = append(stages, h.Stage+" "+h.By+" "+h.Seal)
	}
	wantStages := []string{"collected Jo Day ", "sealed Jo Day SEAL-77120", "dispatched Jo Day SEAL-77120", "received Synlab reception SEAL-77120"}
	if !slices.Equal(stages, wantStages) {
		t.Errorf("custody %q, want %q", stages, wantStages)
	}
	if tt.State != substance.StateClosed || tt.Outcome != substance.OutcomeConfirmed || tt.Seal != "SEAL-77120" ||
		tt.Confirmation == nil || !tt.Confirmation.Results["benzoylecgonine"].Confirmed || !tt.ClosedAt.Equal(t0.Add(72*time.Hour)) {
		t.Errorf("test %+v", tt)
	}
	if len(e.Open()) != 0 {
		t.Errorf("open: %+v", e.Open())
	}

	// A seal number is used once; a result none of whose analytes is confirmed is
	// not-confirmed; a breath test over the limit is closed, with no sample to seal.
	other := start(t, e, ofStart("Z111111", t0.Add(80*time.Hour)))
	must(t).D(e.Reading(analyser, oral(2, t0.Add(80*time.Hour+time.Minute), sitebus.PanelCannabis, "non-negative"), t0.Add(80*time.Hour+time.Minute)))
	_, err = e.Seal(other, "SEAL-77120", "Jo Day", t0.Add(81*time.Hour))
	wantErr(t, err, substance.ErrDuplicate)
	must(t).D(e.Seal(other, "SEAL-77122", "Jo Day", t0.Add(81*time.Hour)))
	d := must(t).D(e.LabResult(other, map[string]substance.LabFinding{"THC": {Method: "GC-MS"}}, "Jo Day", t0.Add(90*time.Hour)))
	if m := info(t, d); m["outcome"] != substance.OutcomeNotConfirmed || m["seal"] != "SEAL-77122" || m["screened"] == nil {
		t.Errorf("confirmation info %s", d.Info)
	}
	if tt := get(t, e, other); tt.Outcome != substance.OutcomeNotConfirmed || tt.State != substance.StateClosed {
		t.Errorf("not confirmed: %+v", tt)
	}
	drunk := start(t, e, breathStart("Z111111", meter, t0.Add(91*time.Hour)))
	must(t).D(e.Reading(meter, breath(60, 3, t0.Add(91*time.Hour)), t0.Add(91*time.Hour)))
	_, err = e.Seal(drunk, "SEAL-9", "Jo Day", t0.Add(92*time.Hour))
	wantErr(t, err, substance.ErrState)
}

// TestAwaitingLab: a test dispatched longer than LabOverdue ago without a result
// is listed, longest waiting first, until its result.
func TestAwaitingLab(t *testing.T) {
	e := newEngine(t)
	sent := map[string]time.Time{}
	for i, crn := range []string{"X123456", "Y654321", "Z111111"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		id := start(t, e, ofStart(crn, at))
		must(t).D(e.Reading(analyser, oral(uint32(i), at.Add(time.Minute), sitebus.PanelCocaine, "non-negative"), at.Add(time.Minute)))
		must(t).D(e.Seal(id, "S-"+crn, "Jo Day", at.Add(2*time.Minute)))
		if i < 2 {
			d := at.Add(3 * time.Minute)
			must(t).D(e.Handover(id, substance.StageDispatched, "Jo Day", d))
			sent[id] = d
		}
	}
	ids := func(ts []substance.Test) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	for _, tc := range []struct {
		now  time.Time
		want []string
	}{
		{sent["T-1"].Add(substance.DefaultLabOverdue), nil},
		{sent["T-1"].Add(substance.DefaultLabOverdue + time.Second), []string{"T-1"}},
		{sent["T-2"].Add(substance.DefaultLabOverdue + time.Second), []string{"T-1", "T-2"}},
		{t0.AddDate(1, 0, 0), []string{"T-1", "T-2"}}, // T-3 never dispatched: not at a laboratory
	} {
		if got := ids(e.AwaitingLab(tc.now)); !slices.Equal(got, tc.want) {
			t.Errorf("AwaitingLab(%s) = %v, want %v", tc.now.Format(time.RFC3339), got, tc.want)
		}
	}
	must(t).D(e.LabResult("T-1", map[string]substance.LabFinding{"cocaine": {Confirmed: true, Method: "LC-MS/MS"}}, "Jo Day", t0.AddDate(0, 1, 0)))
	if got := ids(e.AwaitingLab(t0.AddDate(1, 0, 0))); !slices.Equal(got, []string{"T-2"}) {
		t.Errorf("after T-1's result: %v", got)
	}
}

// TestClose: closing a test started in error frees its device; a non-negative not
// sent for confirmation keeps its outcome; a closed test is not closed again.
func TestClose(t *testing.T) {
	e := newEngine(t)
	id := start(t, e, breathStart("X123456", meter, t0))
	_, err := e.Close(id, "", "Sam Keyworker", t0.Add(time.Minute))
	wantErr(t, err, substance.ErrInvalid)
	_, err = e.Close(id, "wrong resident", "", t0.Add(time.Minute))
	wantErr(t, err, substance.ErrPeople)
	d := must(t).D(e.Close(id, "started for the wrong resident", "Sam Keyworker", t0.Add(time.Minute)))
	if m := info(t, d); d.Type != substance.TypeClosed || m["outcome"] != substance.OutcomeCancelled || m["stateBefore"] != substance.StateAwaitingSample {
		t.Errorf("draft %s %s", d.Type, d.Info)
	}
	if tt := get(t, e, id); tt.State != substance.StateClosed || tt.Outcome != substance.OutcomeCancelled {
		t.Errorf("test %+v", tt)
	}
	_, err = e.Close(id, "again", "Sam Keyworker", t0.Add(2*time.Minute))
	wantErr(t, err, substance.ErrState)
	// The reading that comes now is for no one.
	if d := must(t).D(e.Reading(meter, breath(0, 1, t0.Add(2*time.Minute)), t0.Add(2*time.Minute))); d.Type != substance.TypeUnbound {
		t.Errorf("a reading after the close: %s", d.Type)
	}

	of := start(t, e, ofStart("Y654321", t0))
	must(t).D(e.Reading(analyser, oral(1, t0.Add(time.Minute), sitebus.PanelCannabis, "non-negative"), t0.Add(time.Minute)))
	must(t).D(e.Close(of, "resident admitted use; no confirmation sought", "Priya Shah", t0.Add(time.Hour)))
	if tt := get(t, e, of); tt.State != substance.StateClosed || tt.Outcome != substance.OutcomeNonNegative || tt.Closure == nil {
		t.Errorf("test %+v", tt)
	}
	_, err = e.Close("T-99", "x", "y", t0)
	wantErr(t, err, substance.ErrNoTest)
}

// TestConfig: defaults, and what New refuses.
func TestConfig(t *testing.T) {
	e := must(t).E(substance.New(substance.Config{}))
	c := e.Config()
	if c.BindWindow != 10*time.Minute || c.LabOverdue != 14*24*time.Hour || c.BreathLimitUg != 9 || c.MinTemperatureC != 5 || c.MaxTemperatureC != 40 || c.ClockSkew != 2*time.Minute {
		t.Errorf("defaults %+v", c)
	}
	for _, bad := range []substance.Config{
		{BindWindow: -time.Second},
		{BreathLimitUg: -1},
		{BreathLimitUg: nan()},
		{MinTemperatureC: 30, MaxTemperatureC: 10},
		{OralFluidCutoffs: map[string]float64{"alcohol": 9}},
		{UrineCutoffs: map[string]float64{"thc": 0}},
		{UrineCutoffs: map[string]float64{"caffeine": 1}},
	} {
		if _, err := substance.New(bad); !isErr(err, substance.ErrInvalid) {
			t.Errorf("New(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	// A breath limit of the site's own.
	e = must(t).E(substance.New(substance.Config{BreathLimitUg: 22}))
	start(t, e, breathStart("X123456", meter, t0))
	if s := screen(t, must(t).D(e.Reading(meter, breath(21.9, 1, t0), t0))); s.Outcome != substance.OutcomeNegative || *s.LimitUg != 22 {
		t.Errorf("limit 22: %s %v", s.Outcome, *s.LimitUg)
	}
}
