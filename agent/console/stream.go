package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/staff"
)

// stateView is the dashboard's whole picture, sent on every change.
type stateView struct {
	Status    statusView          `json:"status"`
	Doors     []doorView          `json:"doors"`
	Devices   map[string]any      `json:"devices"`
	Alarms    []alarmView         `json:"alarms"`
	Residents any                 `json:"residents"`
	Roll      *eventindex.Summary `json:"roll"`
	// Substance is the substance testing overview (GET /api/v1/substance), for staff
	// who test; absent for others.
	Substance *substanceView `json:"substance,omitempty"`
	// Biometrics is the biometrics overview (GET /api/v1/biometrics), enrolments'
	// live steps among it, for staff who enrol; absent for others.
	Biometrics *biometricsView `json:"biometrics,omitempty"`
	// PAT is the register of electrical items (GET /api/v1/pat), for every user.
	PAT *patView `json:"pat,omitempty"`
	// BWC is the body-worn camera register (GET /api/v1/bwc), for everyone.
	BWC *bwcView `json:"bwc,omitempty"`
}

// stream sends the dashboard server-sent events: "state" (the whole picture) at once
// and after every change, "journal" for every newly journaled event, and a ping
// comment every 15 seconds. A journaled event is sent as soon as it is indexed, with
// the state it changed right behind it, so an alarm is on screen well within a second.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	events, stop := s.o.Index.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	sendState := func() error {
		st, err := s.stateNow(r)
		if err != nil {
			s.log.Error("stream state", "err", err)
			return nil
		}
		return send("state", st)
	}
	if err := sendState(); err != nil {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	// Device and presence changes come in bursts (a door opening changes door and
	// reader state at once): they are sent at most every 200 ms.
	var throttle <-chan time.Time
	changed := s.o.Site.Changed()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return // too slow a reader: the dashboard reconnects
			}
			if send("journal", s.describe([]eventindex.Summary{e})[0]) != nil {
				return
			}
			// Drain what else is ready, then send the new state once.
			for more := true; more; {
				select {
				case e, ok := <-events:
					if !ok || send("journal", s.describe([]eventindex.Summary{e})[0]) != nil {
						return
					}
				default:
					more = false
				}
			}
			if sendState() != nil {
				return
			}
		case <-changed:
			changed = s.o.Site.Changed()
			if throttle == nil {
				throttle = time.After(200 * time.Millisecond)
			}
		case <-throttle:
			throttle = nil
			if sendState() != nil {
				return
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func (s *Server) stateNow(r *http.Request) (stateView, error) {
	ctx := r.Context()
	st, err := s.statusNow(ctx)
	if err != nil {
		return stateView{}, err
	}
	as, err := s.o.Index.Alarms(ctx, true, eventindex.MaxLimit)
	if err != nil {
		return stateView{}, err
	}
	rs, err := s.residentsNow(ctx)
	if err != nil {
		return stateView{}, err
	}
	d := s.o.Site.Devices()
	v := stateView{Status: st, Doors: doorsOf(d), Alarms: s.alarmViews(as), Residents: rs, Roll: st.Roll,
		Devices: map[string]any{"bridge": d.Bridge, "readers": d.Readers, "cameras": d.Cameras, "docks": []any{}}}
	if s.policy.Allows(who(r).user.Role, staff.PermSubstanceTest) {
		sv, err := s.substanceNow(r)
		if err != nil {
			return stateView{}, err
		}
		v.Substance = &sv
	}
	if s.policy.Allows(who(r).user.Role, staff.PermBiometrics) {
		bv, err := s.biometricsNow(r)
		if err != nil {
			return stateView{}, err
		}
		v.Biometrics = &bv
	}
	pv, err := s.patNow(r)
	if err != nil {
		return stateView{}, err
	}
	v.PAT = &pv
	bw, err := s.bwcNow(r)
	if err != nil {
		return stateView{}, err
	}
	v.BWC = &bw
	return v, nil
}
