package bridge

import (
	"testing"
	"time"

	"github.com/apedge/apedge/devices/pattester"
	"github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/formats/sitebus"
)

// TestPATIsSiteBus: the PAT tester class speaks the site bus's vocabulary, and
// its status and test payloads are sitebus's, field for field and byte for byte,
// and decode there.
func TestPATIsSiteBus(t *testing.T) {
	for _, p := range [][2]string{
		{pattester.ClassName, sitebus.ClassPATTester},
		{pattester.StatusKind, sitebus.PATStatusKind},
		{pattester.TestKind, sitebus.PATTestKind},
	} {
		if p[0] != p[1] {
			t.Errorf("PAT tester vocabulary %q, site bus says %q", p[0], p[1])
		}
	}
	sameFields[pattester.Status, sitebus.PATTesterStatus](t)
	sameFields[pattester.Test, sitebus.PATTest](t)
	st := pattester.Status{Online: true, Serial: "PAT-1", Model: "M", Firmware: "1", CalibrationDue: "2027-01-31", BadRecords: 2, LastError: "x", Simulated: true}
	sameJSON(t, st, sitebus.PATTesterStatus{Online: true, Serial: "PAT-1", Model: "M", Firmware: "1", CalibrationDue: "2027-01-31", BadRecords: 2, LastError: "x", Simulated: true})
	earth, ins := 0.08, 200.0
	rec := pat.Record{AssetID: "AP-1", Class: pat.ClassI, TestedAt: time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC), Visual: pat.ResultPass,
		EarthOhm: &earth, InsulationMOhm: &ins, InsulationV: 500, Result: pat.ResultPass, Instrument: "M", InstrumentSerial: "PAT-1", Tester: "J Smith"}
	sameJSON(t, pattester.Test{Device: "pat-1", Serial: "PAT-1", Firmware: "1", CalibrationDue: "2027-01-31", TestNumber: 7, Record: rec},
		sitebus.PATTest{Device: "pat-1", Serial: "PAT-1", Firmware: "1", CalibrationDue: "2027-01-31", TestNumber: 7, Record: rec})
}
