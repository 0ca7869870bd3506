package console

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/bwc"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// Body-worn cameras on the console, for every signed-in user (read): the docks with
// their online state and slots, every camera with who has it since when, its
// battery, offload and faults, and whether it may be issued and why not; the
// issued and the overdue. Issuing (permission bwc) names the camera and the member
// of staff to wear it, from the roster's staff (kind staff): console accounts are
// not roster entries, so a request that names no one issues the camera to the
// roster's member of staff whose id is the signed-in account's name, and is refused
// when there is none. The issue is journaled in the account's name (by). A camera
// is returned by docking it: there is no return from the console.

// bwcStaffView is a member of staff on the roster a camera may be issued to.
type bwcStaffView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// bwcCameraView is a camera as the console shows it: the register's view, with the
// names and local times a tile says and its offload progress from its dock.
type bwcCameraView struct {
	bwc.Camera
	// StaffName names who has it issued; SinceLocal is when, HH:MM in Europe/London.
	StaffName  string `json:"staffName,omitempty"`
	SinceLocal string `json:"sinceLocal,omitempty"`
	// Overdue says it has been issued longer than a shift.
	Overdue bool `json:"overdue"`
	// OffloadProgressPct is its offload's progress as its dock last reported it.
	OffloadProgressPct *int `json:"offloadProgressPct,omitempty"`
}

// bwcIssuedView is one camera issued now.
type bwcIssuedView struct {
	Camera     string    `json:"camera"`
	Staff      string    `json:"staff"`
	StaffName  string    `json:"staffName"`
	By         string    `json:"by"`
	Via        string    `json:"via"`
	Since      time.Time `json:"since"`
	SinceLocal string    `json:"sinceLocal"`
	// Taken says it has left its dock; OutSeconds is how long it has been issued.
	Taken      bool  `json:"taken"`
	OutSeconds int64 `json:"outSeconds"`
	Overdue    bool  `json:"overdue"`
}

// bwcView is what GET /api/v1/bwc answers, and the stream's state field bwc.
type bwcView struct {
	MinBatteryPct     int              `json:"minBatteryPct"`
	ShiftHours        float64          `json:"shiftHours"`
	TakeWithinSeconds int64            `json:"takeWithinSeconds"`
	Docks             []agent.DockView `json:"docks"`
	Cameras           []bwcCameraView  `json:"cameras"`
	Issued            []bwcIssuedView  `json:"issued"`
	Overdue           []bwcIssuedView  `json:"overdue"`
	Staff             []bwcStaffView   `json:"staff"`
}

// bwcStaff returns the roster's members of staff on the roster today, by name.
func (s *Server) bwcStaff() []config.Resident {
	day := s.clock.Now().Format(time.DateOnly)
	var out []config.Resident
	for _, p := range s.roster() {
		if p.Kind == config.KindStaff && p.ID != "" && p.PresentOn(day) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b config.Resident) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out
}

func (s *Server) bwcNow(r *http.Request) (bwcView, error) {
	ctx, reg := r.Context(), s.o.Site.BWC()
	docks, err := reg.Docks(ctx)
	if err != nil {
		return bwcView{}, err
	}
	cams, err := reg.Cameras(ctx)
	if err != nil {
		return bwcView{}, err
	}
	issued, err := reg.Issued(ctx)
	if err != nil {
		return bwcView{}, err
	}
	overdue, err := reg.Overdue(ctx)
	if err != nil {
		return bwcView{}, err
	}
	cfg := reg.Config()
	v := bwcView{MinBatteryPct: cfg.MinBatteryPct, ShiftHours: cfg.Shift.Hours(), TakeWithinSeconds: int64(cfg.TakeWithin / time.Second),
		Docks: docks, Cameras: []bwcCameraView{}, Issued: []bwcIssuedView{}, Overdue: []bwcIssuedView{}, Staff: []bwcStaffView{}}
	d := s.describer()
	late := map[string]bool{}
	for _, c := range overdue {
		late[c.Serial] = true
	}
	progress := map[string]int{}
	for _, dk := range docks {
		if dk.Status == nil {
			continue
		}
		for _, sl := range dk.Status.Slots {
			if sl.Occupied && sl.Offload != nil {
				progress[dk.ID+"/"+sl.Camera] = sl.Offload.ProgressPct
			}
		}
	}
	for _, c := range cams {
		cv := bwcCameraView{Camera: c, Overdue: late[c.Serial]}
		if c.Issue != nil {
			cv.StaffName, cv.SinceLocal = d.Staff(c.Issue.Staff), d.Clock(c.Issue.At)
		}
		if p, ok := progress[c.Dock+"/"+c.Serial]; ok && c.Location == bwc.LocationDocked {
			cv.OffloadProgressPct = &p
		}
		v.Cameras = append(v.Cameras, cv)
	}
	now := s.clock.Now()
	issuedView := func(c bwc.Camera) bwcIssuedView {
		i := c.Issue
		return bwcIssuedView{Camera: c.Serial, Staff: i.Staff, StaffName: d.Staff(i.Staff), By: i.By, Via: i.Via, Since: i.At,
			SinceLocal: d.Clock(i.At), Taken: !i.TakenAt.IsZero(), OutSeconds: int64(i.Out(now) / time.Second), Overdue: late[c.Serial]}
	}
	for _, c := range issued {
		v.Issued = append(v.Issued, issuedView(c))
	}
	for _, c := range overdue {
		v.Overdue = append(v.Overdue, issuedView(c))
	}
	for _, p := range s.bwcStaff() {
		v.Staff = append(v.Staff, bwcStaffView{ID: p.ID, Name: cmp.Or(p.Name, p.ID)})
	}
	return v, nil
}

func (s *Server) bwcOverview(w http.ResponseWriter, r *http.Request) {
	v, err := s.bwcNow(r)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

// bwcIssueRequest is POST /api/v1/bwc/issue's body.
type bwcIssueRequest struct {
	// Camera is the serial of the camera to issue.
	Camera string `json:"camera"`
	// Staff is the roster id (kind staff) of who is to wear it; empty, the roster's
	// member of staff whose id is the signed-in account's name.
	Staff string `json:"staff"`
}

// bwcRefusalView is a refused issue's answer (409): every reason, in the
// register's words, and the camera's slot whose LED shows the refusal.
type bwcRefusalView struct {
	Error   string   `json:"error"`
	Camera  string   `json:"camera,omitempty"`
	Dock    string   `json:"dock,omitempty"`
	Slot    int      `json:"slot"`
	Staff   string   `json:"staff"`
	Reasons []string `json:"reasons"`
}

// bwcStatus maps an issue's error to its HTTP status: 400 a value that is not valid,
// 404 no such camera, 409 refused (the body says every reason), 503 the journal
// failed or the agent is still starting.
func bwcStatus(err error) int {
	switch {
	case errors.Is(err, bwc.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, bwc.ErrNoCamera):
		return http.StatusNotFound
	case errors.Is(err, bwc.ErrRefused), errors.Is(err, bwc.ErrState):
		return http.StatusConflict
	}
	return http.StatusServiceUnavailable
}

func (s *Server) bwcIssue(w http.ResponseWriter, r *http.Request) {
	var in bwcIssueRequest
	if !readJSON(w, r, &in) {
		return
	}
	by := who(r).user.Name
	if strings.TrimSpace(in.Camera) == "" {
		httpjson.Error(w, http.StatusBadRequest, "camera: name the camera to issue, by its serial")
		return
	}
	staffIDs := []string{}
	found := false
	for _, p := range s.bwcStaff() {
		staffIDs = append(staffIDs, p.ID)
		if in.Staff == "" && p.ID == by {
			in.Staff = p.ID
		}
		found = found || (in.Staff != "" && p.ID == in.Staff)
	}
	switch {
	case in.Staff == "":
		httpjson.Error(w, http.StatusBadRequest, "staff: name the member of staff to wear it, one of the roster's staff ["+
			strings.Join(staffIDs, " ")+"]: account "+by+" is not on the roster")
		return
	case !found:
		httpjson.Error(w, http.StatusBadRequest, "staff: "+in.Staff+" is not a member of staff on the roster: one of ["+strings.Join(staffIDs, " ")+"]")
		return
	}
	reg := s.o.Site.BWC()
	if _, err := reg.Issue(r.Context(), in.Camera, in.Staff, by); err != nil {
		var ref *bwc.Refusal
		if errors.As(err, &ref) {
			httpjson.Write(w, http.StatusConflict, bwcRefusalView{Error: err.Error(), Camera: ref.Camera, Dock: ref.Dock, Slot: ref.Slot,
				Staff: ref.Staff, Reasons: slices.Clone(ref.Reasons)})
			return
		}
		httpjson.Error(w, bwcStatus(err), err.Error())
		return
	}
	v, err := s.bwcNow(r)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	for _, c := range v.Cameras {
		if c.Serial == in.Camera {
			httpjson.Write(w, http.StatusCreated, c)
			return
		}
	}
	httpjson.Error(w, http.StatusServiceUnavailable, "console: bwc: camera "+in.Camera+" issued but not in the register's view")
}
