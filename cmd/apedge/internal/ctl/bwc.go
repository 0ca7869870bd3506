package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// bwcIssueDoc is a camera's current issue as the agent sends it.
type bwcIssueDoc struct {
	Camera  string `json:"camera"`
	Dock    string `json:"dock"`
	Slot    int    `json:"slot"`
	Staff   string `json:"staff"`
	By      string `json:"by"`
	Via     string `json:"via"`
	Battery int    `json:"battery"`
	At      string `json:"at"`
	TakenAt string `json:"takenAt"`
}

// bwcCameraDoc is a camera of the register.
type bwcCameraDoc struct {
	Serial             string       `json:"serial"`
	Location           string       `json:"location"`
	Dock               string       `json:"dock"`
	Slot               int          `json:"slot"`
	Unknown            string       `json:"unknown"`
	Battery            int          `json:"battery"`
	Charging           bool         `json:"charging"`
	Faults             []string     `json:"faults"`
	Offload            string       `json:"offload"`
	OffloadDetail      string       `json:"offloadDetail"`
	OffloadProgressPct *int         `json:"offloadProgressPct"`
	NeedsOffload       bool         `json:"needsOffload"`
	Issue              *bwcIssueDoc `json:"issue"`
	StaffName          string       `json:"staffName"`
	Overdue            bool         `json:"overdue"`
	Eligible           bool         `json:"eligible"`
	WhyNot             []string     `json:"whyNot"`
}

// bwcDoc is the agent's GET /api/v1/bwc.
type bwcDoc struct {
	MinBatteryPct int     `json:"minBatteryPct"`
	ShiftHours    float64 `json:"shiftHours"`
	Docks         []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Slots    int    `json:"slots"`
		Reader   string `json:"reader"`
		Online   bool   `json:"online"`
		Since    string `json:"since"`
		Reported bool   `json:"reported"`
		Status   *struct {
			Slots []struct {
				Occupied bool `json:"occupied"`
			} `json:"slots"`
			LastError string `json:"lastError"`
			Simulated bool   `json:"simulated"`
		} `json:"status"`
	} `json:"docks"`
	Cameras []bwcCameraDoc `json:"cameras"`
	Issued  []struct {
		Camera string `json:"camera"`
	} `json:"issued"`
	Overdue []struct {
		Camera string `json:"camera"`
	} `json:"overdue"`
}

// bwcRefusalDoc is a refused issue's answer (409): every reason.
type bwcRefusalDoc struct {
	Error   string   `json:"error"`
	Camera  string   `json:"camera"`
	Staff   string   `json:"staff"`
	Reasons []string `json:"reasons"`
}

const bwcSynopsis = `apedge ctl bwc [status]
apedge ctl bwc issue CAMERA [-to STAFF]

Body-worn cameras (every role). status (the default) shows the docks (online, since
when, slots occupied) and every camera: where it is, to whom it is issued since when
(OVERDUE after a shift), its battery, its footage's offload, faults, and whether it
may be issued or why not. issue issues a docked camera (its serial) to the member of
staff -to names, by their roster id (kind staff, such as s-ann; status's ISSUED TO
column and the console's Issue form name them); without -to, to the roster's member
of staff whose id is your account's name. The issue is recorded in your name and the
dock's slot lights to say so; take the camera from the dock within two minutes. A
camera is returned by docking it, and is not issued again until its footage is
offloaded. A refusal says every reason: a battery under the minimum, footage not yet
offloaded, a fault, issued already, not docked, or the member of staff has a camera.`

// bwcCommands are ctl bwc's subcommands by name.
func bwcCommands() map[string]command {
	return map[string]command{"status": bwcStatus, "issue": bwcIssue}
}

// cmdBWC is apedge ctl bwc [status|issue].
func cmdBWC(ctx context.Context, e *runEnv, args []string) error {
	return dispatch(ctx, e, args, "bwc", "status", bwcSynopsis, bwcCommands())
}

// bwcStatus is apedge ctl bwc [status].
func bwcStatus(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "bwc status", "apedge ctl bwc [status] [-json]\n\n"+
		"The body-worn camera docks and every camera: where it is, to whom it is issued since\n"+
		"when (OVERDUE after a shift), battery, offload, faults, and why it may not be issued.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/bwc", nil, func(v bwcDoc) error { return bwcTables(e.Stdout, v) })
}

// bwcTables prints the register.
func bwcTables(w io.Writer, v bwcDoc) error {
	tw := newTable(w)
	if len(v.Docks) == 0 {
		fmt.Fprintln(tw, "no body-worn camera docks")
	} else {
		fmt.Fprintln(tw, "DOCK\tNAME\tSTATUS\tSINCE\tSLOTS OCCUPIED\tREADER")
	}
	for _, d := range v.Docks {
		status, occupied := "not reported", "-"
		if d.Reported {
			status = yesNo(d.Online, "online", "OFFLINE")
		}
		if s := d.Status; s != nil {
			if s.LastError != "" {
				status += ": " + s.LastError
			}
			if s.Simulated {
				status += " (simulated)"
			}
			if d.Online {
				n := 0
				for _, sl := range s.Slots {
					if sl.Occupied {
						n++
					}
				}
				occupied = fmt.Sprintf("%d of %d", n, d.Slots)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.Name), status, localTime(d.Since), occupied, dash(d.Reader))
	}
	fmt.Fprintln(tw)
	if len(v.Cameras) == 0 {
		fmt.Fprintln(tw, "no cameras: no dock has reported one")
	} else {
		fmt.Fprintln(tw, "CAMERA\tWHERE\tISSUED TO\tSINCE\tBATTERY\tOFFLOAD\tFAULTS\tMAY BE ISSUED")
	}
	for _, c := range v.Cameras {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Serial, c.where(), c.issuedTo(), c.since(), c.battery(), c.offload(),
			dash(strings.Join(c.Faults, ", ")), yesNo(c.Eligible, "yes", "no: "+strings.Join(c.WhyNot, "; ")))
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d issued, %d overdue; a camera is issued at %d%% battery or more, and is overdue after %s h\n",
		len(v.Issued), len(v.Overdue), v.MinBatteryPct, number(v.ShiftHours))
	return err
}

// where says where c is.
func (c bwcCameraDoc) where() string {
	switch c.Location {
	case "docked":
		return fmt.Sprintf("%s slot %d", c.Dock, c.Slot)
	case "unknown":
		return "unknown: " + c.Unknown
	}
	return c.Location
}

// wearer names who has c issued: "Ann (s-ann)".
func (c bwcCameraDoc) wearer() string {
	if c.Issue == nil {
		return "-"
	}
	if c.StaffName != "" && c.StaffName != c.Issue.Staff {
		return c.StaffName + " (" + c.Issue.Staff + ")"
	}
	return c.Issue.Staff
}

// issuedTo names who has c issued, and whether they have taken it.
func (c bwcCameraDoc) issuedTo() string {
	if c.Issue != nil && c.Issue.TakenAt == "" {
		return c.wearer() + ", not yet taken"
	}
	return c.wearer()
}

// since is when c was issued, OVERDUE marked.
func (c bwcCameraDoc) since() string {
	if c.Issue == nil {
		return "-"
	}
	return localTime(c.Issue.At) + yesNo(c.Overdue, " OVERDUE", "")
}

// battery is c's battery, as its dock last reported.
func (c bwcCameraDoc) battery() string {
	if c.Location == "out" {
		return "-"
	}
	return strconv.Itoa(c.Battery) + "%" + yesNo(c.Charging, " charging", "")
}

// offload says c's footage's offload.
func (c bwcCameraDoc) offload() string {
	s := c.Offload
	switch {
	case c.Offload == "running" && c.OffloadProgressPct != nil:
		s = fmt.Sprintf("running %d%%", *c.OffloadProgressPct)
	case c.Offload == "failed":
		s = "FAILED" + yesNo(c.OffloadDetail != "", ": "+c.OffloadDetail, "")
	}
	if c.NeedsOffload && c.Offload != "running" && c.Offload != "failed" {
		s = "footage to offload"
	}
	return dash(s)
}

// bwcIssue is apedge ctl bwc issue CAMERA [-to STAFF].
func bwcIssue(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("bwc issue", "apedge ctl bwc issue CAMERA [-to STAFF]\n\n"+
		"Issues the docked camera CAMERA (its serial) to the member of staff -to names (their\n"+
		"roster id, such as s-ann; without -to, the roster's member of staff whose id is your\n"+
		"account's name), in your name. A refusal says every reason.")
	to := fs.String("to", "", "the roster id of the member of `staff` to wear it")
	camera, err := oneArg(e, fs, args, "camera", "BWC-0001 -to s-ann")
	if err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	in := map[string]string{"camera": camera}
	if *to != "" {
		in["staff"] = *to
	}
	err = show(ctx, e, c, http.MethodPost, "/api/v1/bwc/issue", in, func(v bwcCameraDoc) error {
		if v.Issue == nil {
			return fmt.Errorf("the agent answered camera %s with no issue", v.Serial)
		}
		_, err := fmt.Fprintf(e.Stdout, "camera %s issued to %s by %s at %s, from %s slot %d (battery %d%%): take it from the dock now\n",
			v.Serial, v.wearer(), v.Issue.By, localTime(v.Issue.At), v.Issue.Dock, v.Issue.Slot, v.Issue.Battery)
		return err
	})
	var he *httpError
	var ref bwcRefusalDoc
	if errors.As(err, &he) && he.Code == http.StatusConflict && json.Unmarshal(he.Body, &ref) == nil && len(ref.Reasons) > 0 {
		fmt.Fprintf(e.Stderr, "camera %s is not issued to %s:\n", camera, cli.OneLine(ref.Staff))
		for _, r := range ref.Reasons {
			fmt.Fprintf(e.Stderr, "  - %s\n", cli.OneLine(r))
		}
		return fmt.Errorf("camera %s refused (%d reason(s) above)", camera, len(ref.Reasons))
	}
	return err
}
