package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// globalsOnly is the start of every command that takes only the global flags.
func globalsOnly(e *runEnv, name, synopsis string, args []string) (*client, error) {
	fs := e.flags(name, synopsis)
	if err := cli.Parse(fs, args, 0); err != nil {
		return nil, err
	}
	return e.newClient(true)
}

// statusDoc is the agent's /api/v1/status.
type statusDoc struct {
	Site      string `json:"site"`
	Version   string `json:"version"`
	StartedAt string `json:"startedAt"`
	Now       string `json:"now"`
	Clock     struct {
		Synced bool `json:"synced"`
	} `json:"clock"`
	Bus struct {
		Connected bool `json:"connected"`
	} `json:"bus"`
	Bridge  bridgeDoc `json:"bridge"`
	Central struct {
		Connected bool  `json:"connected"`
		Journaled int64 `json:"journaled"`
		Acked     int64 `json:"acked"`
		Backlog   int64 `json:"backlog"`
	} `json:"central"`
	Residents struct {
		In      int `json:"in"`
		Out     int `json:"out"`
		Unknown int `json:"unknown"`
	} `json:"residents"`
	OpenAlarms int `json:"openAlarms"`
}

// bridgeDoc is the bridge's state as the agent last heard it.
type bridgeDoc struct {
	Status string `json:"status"`
	Since  string `json:"since"`
}

// String is the bridge's status and since when.
func (b bridgeDoc) String() string {
	if b.Since == "" {
		return dash(b.Status)
	}
	return fmt.Sprintf("%s since %s", dash(b.Status), localTime(b.Since))
}

// cmdStatus is apedge ctl status: the agent at a glance.
func cmdStatus(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "status", "apedge ctl status [-json]\n\nThe agent at a glance: clock, bus, bridge, delivery to central, residents in and out, open alarms.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/status", nil, func(s statusDoc) error {
		tw := newTable(e.Stdout)
		fmt.Fprintf(tw, "site\t%s\n", dash(s.Site))
		fmt.Fprintf(tw, "agent\t%s, up since %s; its time %s\n", dash(s.Version), localTime(s.StartedAt), localTime(s.Now))
		fmt.Fprintf(tw, "clock\t%s\n", yesNo(s.Clock.Synced, "synced", "NOT SYNCED"))
		fmt.Fprintf(tw, "bus\t%s\n", yesNo(s.Bus.Connected, "connected", "DISCONNECTED"))
		fmt.Fprintf(tw, "bridge\t%s\n", s.Bridge)
		fmt.Fprintf(tw, "central\t%s; journaled %d, acked %d, backlog %d\n", yesNo(s.Central.Connected, "connected", "DISCONNECTED"),
			s.Central.Journaled, s.Central.Acked, s.Central.Backlog)
		fmt.Fprintf(tw, "residents\t%d in, %d out, %d unknown\n", s.Residents.In, s.Residents.Out, s.Residents.Unknown)
		fmt.Fprintf(tw, "alarms\t%d open\n", s.OpenAlarms)
		return tw.Flush()
	})
}

// doorDoc is a door as the agent sends it.
type doorDoc struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	Open        bool   `json:"open"`
	Locked      bool   `json:"locked"`
	Alarm       string `json:"alarm"`
	Lock        string `json:"lock"`
	EntryReader string `json:"entryReader"`
	ExitReader  string `json:"exitReader"`
	UpdatedAt   string `json:"updatedAt"`
}

// readerDoc is a card reader as the agent sends it.
type readerDoc struct {
	ID            string `json:"id"`
	Online        bool   `json:"online"`
	Secure        bool   `json:"secure"`
	SecureChannel string `json:"secureChannel"`
	Tamper        bool   `json:"tamper"`
	PowerFault    bool   `json:"powerFault"`
	Door          string `json:"door"`
	Direction     string `json:"direction"`
	Interface     string `json:"interface"`
	Address       any    `json:"address"`
	Vendor        string `json:"vendor"`
	Serial        string `json:"serial"`
	Firmware      string `json:"firmware"`
	LastError     string `json:"lastError"`
	UpdatedAt     string `json:"updatedAt"`
}

// secureChannel shows a reader's secure channel: its setting and whether it is up.
func secureChannel(setting string, up bool) string {
	switch {
	case setting == "off":
		return "OFF (insecure)"
	case up:
		return "up"
	case setting == "":
		return "-"
	default:
		return setting + ", DOWN"
	}
}

// doorTable prints doors as a table.
func doorTable(w io.Writer, doors []doorDoc) error {
	if len(doors) == 0 {
		_, err := fmt.Fprintln(w, "no doors")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "DOOR\tSTATE\tOPEN\tLOCKED\tALARM\tLOCK\tENTRY READER\tEXIT READER\tUPDATED")
	for _, d := range doors {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.State), yesNo(d.Open, "open", "shut"),
			yesNo(d.Locked, "locked", "unlocked"), dash(strings.ToUpper(d.Alarm)), dash(d.Lock), dash(d.EntryReader), dash(d.ExitReader), localTime(d.UpdatedAt))
	}
	return tw.Flush()
}

// devicesDoc is the agent's /api/v1/devices.
type devicesDoc struct {
	Bridge  bridgeDoc         `json:"bridge"`
	Readers []readerDoc       `json:"readers"`
	Doors   []doorDoc         `json:"doors"`
	Cameras []json.RawMessage `json:"cameras"`
	Docks   []json.RawMessage `json:"docks"`
}

// cmdDevices is apedge ctl devices: the bridge, readers and doors.
func cmdDevices(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "devices", "apedge ctl devices [-json]\n\nThe bridge, the card readers with their health, and the doors.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/devices", nil, func(d devicesDoc) error {
		fmt.Fprintf(e.Stdout, "bridge: %s\n\n", d.Bridge)
		if len(d.Readers) == 0 {
			fmt.Fprintln(e.Stdout, "no readers")
		} else {
			tw := newTable(e.Stdout)
			fmt.Fprintln(tw, "READER\tDOOR\tDIRECTION\tONLINE\tSECURE CHANNEL\tTAMPER\tPOWER\tINTERFACE\tADDRESS\tVENDOR\tSERIAL\tFIRMWARE\tLAST ERROR\tUPDATED")
			for _, r := range d.Readers {
				addr := ""
				if r.Address != nil {
					addr = fmt.Sprint(r.Address)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, dash(r.Door), dash(r.Direction),
					yesNo(r.Online, "online", "OFFLINE"), secureChannel(r.SecureChannel, r.Secure), yesNo(r.Tamper, "TAMPER", "ok"),
					yesNo(r.PowerFault, "FAULT", "ok"), dash(r.Interface), dash(addr), dash(r.Vendor), dash(r.Serial), dash(r.Firmware),
					dash(r.LastError), localTime(r.UpdatedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintln(e.Stdout)
		if err := doorTable(e.Stdout, d.Doors); err != nil {
			return err
		}
		if len(d.Cameras)+len(d.Docks) > 0 {
			fmt.Fprintf(e.Stdout, "\n%d cameras, %d docks (see -json)\n", len(d.Cameras), len(d.Docks))
		}
		return nil
	})
}

// cmdDoors is apedge ctl doors.
func cmdDoors(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "doors", "apedge ctl doors [-json]\n\nEvery door: its state, lock and any alarm.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/doors", nil, func(d []doorDoc) error { return doorTable(e.Stdout, d) })
}

// residentDoc is a current resident as the agent sends it.
type residentDoc struct {
	CRN               string `json:"crn"`
	NOMS              string `json:"noms"`
	Name              string `json:"name"`
	Room              string `json:"room"`
	Arrived           string `json:"arrived"`
	ExpectedDeparture string `json:"expectedDeparture"`
	Presence          string `json:"presence"`
	PresenceSince     string `json:"presenceSince"`
	Inconsistent      bool   `json:"inconsistent"`
	// Window is the curfew window in force now, if any; Absent says the resident was
	// not in at its start and has not come back.
	Window *struct {
		Start  string `json:"start"`
		End    string `json:"end"`
		Source string `json:"source"`
	} `json:"window"`
	Absent bool `json:"absent"`
}

// curfew shows the curfew window in force now, if any, and whether the resident is
// absent from it.
func (r residentDoc) curfew() string {
	s := ""
	switch {
	case r.Window != nil && r.Absent:
		s = "NOW, ABSENT"
	case r.Window != nil:
		s = "NOW"
	}
	if w := r.Window; w != nil {
		s += fmt.Sprintf(" %s to %s", localTime(w.Start), localTime(w.End))
		if w.Source != "" {
			s += " (" + w.Source + ")"
		}
	}
	return dash(s)
}

// cmdResidents is apedge ctl residents.
func cmdResidents(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "residents", "apedge ctl residents [-json]\n\nThe current residents: whether each is in or out, since when, and their curfew.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/residents", nil, func(rs []residentDoc) error {
		if len(rs) == 0 {
			_, err := fmt.Fprintln(e.Stdout, "no residents")
			return err
		}
		tw := newTable(e.Stdout)
		fmt.Fprintln(tw, "CRN\tNOMS\tNAME\tROOM\tPRESENCE\tSINCE\tCURFEW\tARRIVED\tEXPECTED DEPARTURE")
		count := map[string]int{}
		for _, r := range rs {
			p := dash(r.Presence)
			if r.Inconsistent {
				p += " (inconsistent)"
			}
			count[r.Presence]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.CRN, dash(r.NOMS), dash(r.Name), dash(r.Room), p,
				localTime(r.PresenceSince), r.curfew(), localTime(r.Arrived), dash(r.ExpectedDeparture))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(e.Stdout, "%d residents: %d in, %d out, %d unknown\n", len(rs), count["in"], count["out"], len(rs)-count["in"]-count["out"])
		return err
	})
}

// rollDoc is the agent's /api/v1/curfew/roll: the latest curfew.roll event, whose
// data lists who was in, out or unknown.
type rollDoc struct {
	Seq        int64  `json:"seq"`
	OccurredAt string `json:"occurredAt"`
	Data       struct {
		In      []string `json:"in"`
		Out     []string `json:"out"`
		Unknown []string `json:"unknown"`
	} `json:"data"`
}

// cmdRoll is apedge ctl curfew-roll: the latest curfew roll.
func cmdRoll(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "curfew-roll", "apedge ctl curfew-roll [-json]\n\nThe latest curfew roll: who was in, out or unknown. With -json, null when none has been taken yet.", args)
	if err != nil {
		return err
	}
	err = show(ctx, e, c, http.MethodGet, "/api/v1/curfew/roll", nil, func(r rollDoc) error {
		d := r.Data
		fmt.Fprintf(e.Stdout, "curfew roll at %s (event %d): %d in, %d out, %d unknown\n", localTime(r.OccurredAt), r.Seq, len(d.In), len(d.Out), len(d.Unknown))
		tw := newTable(e.Stdout)
		for _, g := range []struct {
			name string
			crns []string
		}{{"OUT", d.Out}, {"UNKNOWN", d.Unknown}, {"in", d.In}} {
			for _, crn := range g.crns {
				fmt.Fprintf(tw, "%s\t%s\n", g.name, crn)
			}
		}
		return tw.Flush()
	})
	var he *httpError
	if errors.As(err, &he) && he.Code == http.StatusNotFound {
		if e.g.json {
			return printJSON(e.Stdout, nil)
		}
		_, err = fmt.Fprintln(e.Stdout, "no curfew roll has been taken yet")
	}
	return err
}

// alarmDoc is an alarm as the agent sends it.
type alarmDoc struct {
	Seq          int64  `json:"seq"`
	Type         string `json:"type"`
	OccurredAt   string `json:"occurredAt"`
	Subject      string `json:"subject"`
	Summary      string `json:"summary"`
	PriorityName string `json:"priorityName"`
	Sentence     string `json:"sentence"`
	Acknowledged *struct {
		By   string `json:"by"`
		At   string `json:"at"`
		Note string `json:"note"`
	} `json:"acknowledged"`
}

// cmdAlarms is apedge ctl alarms.
func cmdAlarms(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("alarms", "apedge ctl alarms [-all] [-json]\n\nThe open alarms, most urgent first, then newest; with -all the acknowledged ones too.")
	all := fs.Bool("all", false, "acknowledged alarms too")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	path := "/api/v1/alarms?state=open"
	if *all {
		path = "/api/v1/alarms?state=all"
	}
	return show(ctx, e, c, http.MethodGet, path, nil, func(as []alarmDoc) error {
		if len(as) == 0 {
			_, err := fmt.Fprintln(e.Stdout, yesNo(*all, "no alarms", "no open alarms"))
			return err
		}
		tw := newTable(e.Stdout)
		fmt.Fprintln(tw, "SEQ\tTIME\tPRIORITY\tTYPE\tWHAT HAPPENED\tACKNOWLEDGED")
		for _, a := range as {
			ack := "-"
			if k := a.Acknowledged; k != nil {
				ack = fmt.Sprintf("by %s at %s: %s", k.By, localTime(k.At), k.Note)
			}
			what := a.Sentence
			if what == "" {
				what = a.Summary
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.Seq, localTime(a.OccurredAt), dash(a.PriorityName), a.Type, dash(what), ack)
		}
		return tw.Flush()
	})
}

// eventsDoc is a page of journal events as the agent sends it.
type eventsDoc struct {
	Events []struct {
		Seq        int64           `json:"seq"`
		Type       string          `json:"type"`
		OccurredAt string          `json:"occurredAt"`
		CRN        string          `json:"crn"`
		Subject    string          `json:"subject"`
		Data       json.RawMessage `json:"data"`
	} `json:"events"`
	Next int64 `json:"next"`
}

// printEvents prints a page of events as a table and, if there are more, how to
// see the next page of the command more.
func (e *runEnv) printEvents(v eventsDoc, more string) error {
	if len(v.Events) == 0 {
		_, err := fmt.Fprintln(e.Stdout, "no events")
		return err
	}
	tw := newTable(e.Stdout)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tCRN\tSUBJECT\tDATA")
	for _, ev := range v.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, localTime(ev.OccurredAt), ev.Type, dash(ev.CRN), dash(ev.Subject), short(ev.Data, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Next != 0 {
		_, err := fmt.Fprintf(e.Stdout, "more: run apedge ctl %s again with -after %d\n", more, v.Next)
		return err
	}
	return nil
}

// cmdJournal is apedge ctl journal: the journal's events, a page at a time.
func cmdJournal(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("journal", `apedge ctl journal [-type T] [-crn C] [-from TIME] [-to TIME] [-after SEQ] [-limit N] [-json]

The journal's events, oldest first, at most -limit (the agent's default 100, at most
1000) at a time; when there are more it says which -after gives the next page. -type
door.* matches every type that starts door.; TIME is UK local (2026-11-22 14:00), a
date (its midnight, UK) or RFC 3339.`)
	typ := fs.String("type", "", "only events of this `type` (door.* for a prefix)")
	crn := fs.String("crn", "", "only events about this resident (`CRN`)")
	from := fs.String("from", "", "only events at or after this `time`")
	to := fs.String("to", "", "only events before this `time`")
	after := fs.Int64("after", 0, "only events after this `seq`")
	limit := fs.Int("limit", 0, "at most `N` events")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	q := url.Values{}
	for _, f := range []struct{ name, v string }{{"type", *typ}, {"crn", *crn}, {"from", *from}, {"to", *to}} {
		v := f.v
		if v != "" && (f.name == "from" || f.name == "to") {
			var err error
			if v, err = parseTime(v); err != nil {
				fmt.Fprintf(e.Stderr, "apedge ctl journal: -%s: %v\n", f.name, err)
				return cli.ErrUsage
			}
		}
		if v != "" {
			q.Set(f.name, v)
		}
	}
	if err := paging(e, fs, q, *after, *limit); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, withQuery("/api/v1/journal", q), nil, func(v eventsDoc) error {
		return e.printEvents(v, "journal")
	})
}

// cmdAudit is apedge ctl audit: what staff did.
func cmdAudit(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("audit", "apedge ctl audit [-after SEQ] [-limit N] [-json]\n\nWhat staff did (staff.*, resident.*, door.unlock-ordered, alarm.acknowledged), oldest first.")
	after := fs.Int64("after", 0, "only events after this `seq`")
	limit := fs.Int("limit", 0, "at most `N` events")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	q := url.Values{}
	if err := paging(e, fs, q, *after, *limit); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, withQuery("/api/v1/audit", q), nil, func(v eventsDoc) error {
		return e.printEvents(v, "audit")
	})
}

// paging puts -after and -limit in the query q, refusing negative ones.
func paging(e *runEnv, fs *flag.FlagSet, q url.Values, after int64, limit int) error {
	if after < 0 || limit < 0 {
		fmt.Fprintf(e.Stderr, "%s: -after and -limit may not be negative\n", fs.Name())
		return cli.ErrUsage
	}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return nil
}

// withQuery is path with the query q, if any.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// deliveryDoc is the agent's /api/v1/delivery.
type deliveryDoc struct {
	Connected bool  `json:"connected"`
	Journaled int64 `json:"journaled"`
	Delivered int64 `json:"delivered"`
	Acked     int64 `json:"acked"`
	Backlog   int64 `json:"backlog"`
}

// cmdDelivery is apedge ctl delivery: the journal's delivery to central.
func cmdDelivery(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "delivery", "apedge ctl delivery [-json]\n\nHow far the journal has been delivered to central and acknowledged.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/delivery", nil, func(d deliveryDoc) error {
		tw := newTable(e.Stdout)
		fmt.Fprintf(tw, "central\t%s\n", yesNo(d.Connected, "connected", "DISCONNECTED"))
		fmt.Fprintf(tw, "journaled\t%d\n", d.Journaled)
		fmt.Fprintf(tw, "delivered\t%d\n", d.Delivered)
		fmt.Fprintf(tw, "acked\t%d\n", d.Acked)
		fmt.Fprintf(tw, "backlog\t%d\n", d.Backlog)
		return tw.Flush()
	})
}
