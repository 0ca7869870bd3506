package fingerprint

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/device/devicetest"
	"github.com/apedge/apedge/internal/config"
)

const classTimeout = 5 * time.Second

// fastTiming is the driver's timing shortened for tests.
var fastTiming = timing{refresh: 50 * time.Millisecond, retry: 50 * time.Millisecond, poll: 5 * time.Millisecond,
	enrol: 2 * time.Second, reply: 300 * time.Millisecond}

// bioSite is a simulated site with the terminals ts.
func bioSite(ts ...config.FingerprintTerminal) *config.Bridge {
	for i := range ts {
		ts[i].Baud, ts[i].Address = config.DefaultFingerprintBaud, config.DefaultFingerprintAddress
	}
	return &config.Bridge{Site: "MAN1", Simulate: &config.Simulate{Quiet: true}, FingerprintTerminals: ts}
}

// bioRun is a driver under test.
type bioRun struct {
	rec  *devicetest.Recorder
	env  device.Env
	devs map[string]device.Device
}

// startTerminals opens cfg's terminals and runs them until the test ends.
func startTerminals(t *testing.T, cfg *config.Bridge) *bioRun {
	t.Helper()
	rec := new(devicetest.Recorder)
	env := devicetest.Env(t, cfg, nil, rec, nil)
	drv, err := Class{tm: &fastTiming}.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(classTimeout):
			t.Error("Run did not return after ctx ended")
		}
	})
	r := &bioRun{rec: rec, env: env, devs: map[string]device.Device{}}
	for _, d := range drv.Devices() {
		r.devs[d.Ref().ID] = d
	}
	return r
}

func (r *bioRun) sim(t *testing.T, id string) *Sim {
	t.Helper()
	s, ok := r.env.Sims.Get(device.Ref{Class: ClassName, ID: id}).(*Sim)
	if !ok {
		t.Fatalf("no simulator for %s", id)
	}
	return s
}

// status waits for id's status for which ok holds.
func (r *bioRun) status(t *testing.T, id string, ok func(Status) bool) Status {
	t.Helper()
	var st Status
	r.rec.LastState(t, classTimeout, device.Ref{Class: ClassName, ID: id}, func(d json.RawMessage) bool {
		st = Status{}
		return json.Unmarshal(d, &st) == nil && ok(st)
	})
	return st
}

// command sends id the command action with body b.
func (r *bioRun) command(t *testing.T, id, cmdID, action string, b any) error {
	t.Helper()
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), classTimeout)
	defer cancel()
	return r.devs[id].Command(ctx, device.Command{ID: cmdID, Action: action, Body: raw})
}

func desk() config.FingerprintTerminal {
	return config.FingerprintTerminal{ID: "desk-1", Port: config.SimulatedPort, Name: "office"}
}

func online(st Status) bool { return st.Online }

func TestFingerprintStatus(t *testing.T) {
	r := startTerminals(t, bioSite(desk()))
	sim := r.sim(t, "desk-1")
	for slot, f := range map[int]string{2: fingerA, 7: fingerB} {
		if err := sim.PutTemplate(slot, f); err != nil {
			t.Fatal(err)
		}
	}
	st := r.status(t, "desk-1", func(st Status) bool { return st.Online && st.Templates == 2 })
	if st.Capacity != SimCapacity || !slices.Equal(st.Used, []int{2, 7}) || !st.Simulated || st.Baud != DefaultBaud ||
		st.SecurityLevel != 3 || st.PacketSize != 128 || st.LastError != "" {
		t.Errorf("status %+v, want capacity %d, used [2 7], simulated, baud %d, level 3, packets of 128", st, SimCapacity, DefaultBaud)
	}
	if h := r.devs["desk-1"].Health(); h.Status != device.HealthOK {
		t.Errorf("health %+v, want ok", h)
	}

	sim.Silent(true)
	st = r.status(t, "desk-1", func(st Status) bool { return !st.Online })
	if st.LastError == "" {
		t.Error("offline without a lastError")
	}
	sim.Silent(false)
	r.status(t, "desk-1", online)
}

func TestFingerprintPassword(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("0000A1B2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := desk()
	tc.PasswordFile = pw
	r := startTerminals(t, bioSite(tc))
	r.status(t, "desk-1", online)
	if st := r.sim(t, "desk-1").State(); !st.Verified || st.Password != 0xA1B2 {
		t.Errorf("simulator verified %v with password %#x, want verified with 0xa1b2", st.Verified, st.Password)
	}
}

func TestFingerprintEnrol(t *testing.T) {
	ref := device.Ref{Class: ClassName, ID: "desk-1"}
	tests := []struct {
		name, second string
		want         []string // the events' kinds
		reason       string
	}{
		{"same finger", fingerA, []string{EnrolStepKind, EnrolStepKind, EnrolStepKind, EnrolStepKind, EnrolledKind}, ""},
		{"different fingers", fingerB, []string{EnrolStepKind, EnrolStepKind, EnrolStepKind, EnrolFailedKind}, "fingers-do-not-match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startTerminals(t, bioSite(desk()))
			sim := r.sim(t, "desk-1")
			r.status(t, "desk-1", online)
			if err := r.command(t, "desk-1", "c1", ActionEnrol, map[string]any{"enrolment": "e1", "slot": 4}); err != nil {
				t.Fatal(err)
			}
			r.status(t, "desk-1", func(st Status) bool { return st.Enrolling == "e1" })
			if err := r.command(t, "desk-1", "c2", ActionEnrol, map[string]any{"enrolment": "e2", "slot": 5}); err == nil {
				t.Error("a second enrolment was not refused")
			}
			r.rec.WaitEvents(t, classTimeout, ref, EnrolStepKind)
			sim.PlaceFinger(fingerA)
			r.rec.WaitEvents(t, classTimeout, ref, EnrolStepKind, EnrolStepKind)
			sim.LiftFinger()
			r.rec.WaitEvents(t, classTimeout, ref, EnrolStepKind, EnrolStepKind, EnrolStepKind)
			sim.PlaceFinger(tt.second)
			evs := r.rec.WaitEvents(t, classTimeout, ref, tt.want...)
			var steps []string
			for _, m := range evs[:len(evs)-1] {
				var s EnrolStep
				if err := json.Unmarshal(m.Data, &s); err != nil || s.Enrolment != "e1" {
					t.Fatalf("step %s: %v", m.Data, err)
				}
				steps = append(steps, s.Step)
			}
			wantSteps := []string{StepPlaceFinger, StepLiftFinger, StepPlaceAgain, StepStoring}[:len(evs)-1]
			if !slices.Equal(steps, wantSteps) {
				t.Errorf("steps %v, want %v", steps, wantSteps)
			}
			last := evs[len(evs)-1].Data
			if tt.reason == "" {
				var e Enrolled
				if err := json.Unmarshal(last, &e); err != nil || e != (Enrolled{Enrolment: "e1", Slot: 4}) {
					t.Errorf("enrolled %s, want e1 in slot 4", last)
				}
				if got := sim.Slots(); got[4] != fingerA || len(got) != 1 {
					t.Errorf("library %v, want slot 4 %s", got, fingerA)
				}
				r.status(t, "desk-1", func(st Status) bool { return st.Enrolling == "" && slices.Equal(st.Used, []int{4}) })
				return
			}
			var f EnrolFailed
			if err := json.Unmarshal(last, &f); err != nil || f.Enrolment != "e1" || f.Slot != 4 || f.Reason != tt.reason || f.Detail == "" {
				t.Errorf("enrol-failed %s, want e1 slot 4 reason %s with a detail", last, tt.reason)
			}
			if got := sim.Slots(); len(got) != 0 {
				t.Errorf("library %v after a failed enrolment, want empty", got)
			}
			r.status(t, "desk-1", func(st Status) bool { return st.Enrolling == "" })
		})
	}
}

func TestFingerprintEnrolRefusedOrCancelled(t *testing.T) {
	ref := device.Ref{Class: ClassName, ID: "desk-1"}
	r := startTerminals(t, bioSite(desk()))
	sim := r.sim(t, "desk-1")
	if err := sim.PutTemplate(4, fingerB); err != nil {
		t.Fatal(err)
	}
	r.status(t, "desk-1", func(st Status) bool { return st.Online && st.Templates == 1 })
	if err := r.command(t, "desk-1", "c1", ActionEnrol, map[string]any{"enrolment": "e1", "slot": 4}); err != nil {
		t.Fatal(err)
	}
	evs := r.rec.WaitEvents(t, classTimeout, ref, EnrolFailedKind)
	var f EnrolFailed
	if err := json.Unmarshal(evs[0].Data, &f); err != nil || f.Reason != ReasonSlotInUse {
		t.Errorf("enrol-failed %s, want reason %s", evs[0].Data, ReasonSlotInUse)
	}
	r.status(t, "desk-1", func(st Status) bool { return st.Enrolling == "" })
	if err := r.command(t, "desk-1", "c2", ActionEnrol, map[string]any{"enrolment": "e2", "slot": 5}); err != nil {
		t.Fatal(err)
	}
	r.rec.WaitEvents(t, classTimeout, ref, EnrolFailedKind, EnrolStepKind)
	if err := r.command(t, "desk-1", "c3", ActionCancelEnrol, map[string]any{"enrolment": "e2"}); err != nil {
		t.Fatal(err)
	}
	evs = r.rec.WaitEvents(t, classTimeout, ref, EnrolFailedKind, EnrolStepKind, EnrolFailedKind)
	if err := json.Unmarshal(evs[2].Data, &f); err != nil || f.Enrolment != "e2" || f.Reason != ReasonCancelled {
		t.Errorf("enrol-failed %s, want e2 cancelled", evs[2].Data)
	}
}

func TestFingerprintDeleteAndIndex(t *testing.T) {
	ref := device.Ref{Class: ClassName, ID: "desk-1"}
	r := startTerminals(t, bioSite(desk()))
	sim := r.sim(t, "desk-1")
	for slot, f := range map[int]string{3: fingerA, 5: fingerB, 9: fingerA} {
		if err := sim.PutTemplate(slot, f); err != nil {
			t.Fatal(err)
		}
	}
	r.status(t, "desk-1", func(st Status) bool { return st.Online && st.Templates == 3 })
	if err := r.command(t, "desk-1", "del-1", ActionDeleteTemplates, map[string]any{"slots": []int{3, 9}}); err != nil {
		t.Fatal(err)
	}
	evs := r.rec.WaitEvents(t, classTimeout, ref, DeletedKind)
	var d TemplatesDeleted
	if err := json.Unmarshal(evs[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Command != "del-1" || !slices.Equal(d.Slots, []int{3, 9}) || !slices.Equal(d.Used, []int{5}) || d.Capacity != SimCapacity ||
		!d.Confirmed || d.ReadAt.IsZero() {
		t.Errorf("templates-deleted %+v, want del-1, slots [3 9], used [5], confirmed", d)
	}
	if got := sim.Slots(); len(got) != 1 || got[5] != fingerB {
		t.Errorf("library %v, want only slot 5", got)
	}
	r.status(t, "desk-1", func(st Status) bool { return st.Templates == 1 && slices.Equal(st.Used, []int{5}) })

	if err := r.command(t, "desk-1", "idx-1", ActionReadIndex, nil); err != nil {
		t.Fatal(err)
	}
	evs = r.rec.WaitEvents(t, classTimeout, ref, DeletedKind, IndexKind)
	var ix IndexTable
	if err := json.Unmarshal(evs[1].Data, &ix); err != nil || ix.Command != "idx-1" || !slices.Equal(ix.Used, []int{5}) || ix.Capacity != SimCapacity {
		t.Errorf("index %s, want idx-1, used [5]", evs[1].Data)
	}
}

func TestFingerprintBadFrames(t *testing.T) {
	r := startTerminals(t, bioSite(desk()))
	sim := r.sim(t, "desk-1")
	r.status(t, "desk-1", online)
	sim.Garbage(5)
	st := r.status(t, "desk-1", func(st Status) bool { return st.Online && st.BadFrames >= 5 })
	if st.BadFrames > 10 {
		t.Errorf("badFrames %d for 5 garbled replies", st.BadFrames)
	}
}

func TestFingerprintCheckFinger(t *testing.T) {
	r := startTerminals(t, bioSite(desk()))
	sim := r.sim(t, "desk-1")
	if err := sim.PutTemplate(6, fingerA); err != nil {
		t.Fatal(err)
	}
	sim.SetScore(fingerA, 120)
	r.status(t, "desk-1", func(st Status) bool { return st.Online && st.Templates == 1 })
	fc := r.devs["desk-1"].(device.FingerChecker)
	tests := []struct {
		name, finger string
		want         device.FingerResult
	}{
		{"enrolled", fingerA, device.FingerResult{Found: true, Matched: true, Slot: 6, Score: 120}},
		{"unknown", fingerB, device.FingerResult{Found: true}},
		{"none", "", device.FingerResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.PlaceFinger(tt.finger)
			got, err := fc.CheckFinger(t.Context(), 100*time.Millisecond)
			if err != nil || got != tt.want {
				t.Errorf("CheckFinger = %+v, %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestFingerprintReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&ModuleError{Instruction: InstrRegModel, Code: CodeMergeFailed}, "fingers-do-not-match"},
		{&ModuleError{Instruction: InstrImg2Tz, Code: CodeImageMessy}, "image-too-messy"},
		{&ModuleError{Instruction: InstrStore, Code: CodeDeleteFailed}, "failed-to-delete-the-templates"},
		{&ModuleError{Instruction: InstrStore, Code: Code(0x23)}, "code-23"},
		{ErrNoReply, ReasonNoReply},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
