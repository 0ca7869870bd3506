package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/internal/config"
)

const curfewUsage = `apedge curfew windows -config FILE -crn CRN -from DATE -to DATE [-json]

Prints every curfew window that applies to a resident with a start date from DATE to
DATE (inclusive, 2026-11-22): the AP rule (23:00-06:00 every night) and the resident's
licence conditions, less their approved absences, each with where it comes from, as UK
local times (Europe/London) and UTC instants, so that anyone can check the rules
against their own calendar. The roster is the agent configuration's roster or rosterFile,
with the arrivals, departures and absences recorded since (apedge resident).
With -json, one JSON object per line: start, end (RFC 3339 UTC), startLocal, endLocal,
source, rule, description, key, and suspendedBy (approved absences that cut it).`

// localLayout writes a local time with its offset always spelled out (+00:00 in winter).
const localLayout = "2006-01-02T15:04:05-07:00"

// cmdCurfew is apedge curfew windows: a resident's curfew windows over some days.
func cmdCurfew(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "windows" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(stdout, curfewUsage)
			return nil
		}
		fmt.Fprintln(stderr, "apedge curfew: say what: apedge curfew windows -h")
		return cli.ErrUsage
	}
	fs := cli.Flags("curfew windows", curfewUsage, stderr)
	path := fs.String("config", "", "agent configuration `file` (YAML) holding the roster")
	crn := fs.String("crn", "", "the resident's `CRN`")
	fromS := fs.String("from", "", "first start `date` (2026-11-22)")
	toS := fs.String("to", "", "last start `date` (2026-11-22)")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	if err := cli.Parse(fs, args[1:], 0); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"config", *path}, {"crn", *crn}, {"from", *fromS}, {"to", *toS}} {
		if err := cli.Required(fs, f.name, f.v); err != nil {
			return err
		}
	}
	from, err := curfew.ParseDate(*fromS)
	if err != nil {
		fmt.Fprintf(stderr, "apedge curfew windows: -from: %v\n", err)
		return cli.ErrUsage
	}
	to, err := curfew.ParseDate(*toS)
	if err != nil {
		fmt.Fprintf(stderr, "apedge curfew windows: -to: %v\n", err)
		return cli.ErrUsage
	}
	if to.Before(from) {
		fmt.Fprintln(stderr, "apedge curfew windows: -to is before -from")
		return cli.ErrUsage
	}
	if to.Compare(from.AddDays(3660)) > 0 {
		fmt.Fprintln(stderr, "apedge curfew windows: at most ten years at a time")
		return cli.ErrUsage
	}
	person, err := rosterResident(ctx, *path, *crn)
	if err != nil {
		return err
	}
	sched, err := agent.Schedule(person)
	if err != nil {
		return err
	}
	windows := sched.Windows(from, to)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, w := range windows {
			if err := enc.Encode(windowJSON(person.CRN, w)); err != nil {
				return err
			}
		}
		return nil
	}
	printWindows(stdout, person.CRN, sched, windows, from, to)
	return nil
}

// rosterResident finds the resident crn on the roster of the agent configuration at
// path, with the arrivals, departures and absences staff recorded since in the
// agent's register.
func rosterResident(ctx context.Context, path, crn string) (*config.Resident, error) {
	roster, database, err := config.LoadRoster(path)
	if err != nil {
		return nil, err
	}
	if regPath := register.Path(database); database != "" && fileExists(regPath) {
		reg, err := register.Open(ctx, regPath)
		if err != nil {
			return nil, err
		}
		roster, err = reg.Roster(ctx, roster, curfew.London())
		reg.Close()
		if err != nil {
			return nil, err
		}
	}
	var person *config.Resident
	for i := range roster {
		if roster[i].CRN == crn && roster[i].IsResident() {
			person = &roster[i]
		}
	}
	if person == nil {
		return nil, fmt.Errorf("no resident with CRN %s on the roster of %s", crn, path)
	}
	return person, nil
}

// printWindows prints the windows of the resident crn from from to to as a table,
// then the approved absences of sched that overlap those days.
func printWindows(stdout io.Writer, crn string, sched curfew.Schedule, windows []curfew.Window, from, to curfew.Date) {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "START (UK)\tEND (UK)\tSTART (UTC)\tEND (UTC)\tLENGTH\tSOURCE\tRULE\tNOTE")
	for _, w := range windows {
		note := ""
		if w.Suspended() {
			note = fmt.Sprintf("cut by approved absence %v", w.SuspendedBy)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			w.StartLocal().Format("Mon 2006-01-02 15:04 MST"), w.EndLocal().Format("Mon 2006-01-02 15:04 MST"),
			w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339),
			hoursMinutes(w.Duration()), w.Rule.Source, w.Rule.Description, note)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d windows for %s from %s to %s\n", len(windows), crn, from, to)
	spanFrom, spanTo := curfew.Boundary(from, curfew.TimeOfDay{}, curfew.London()), curfew.Boundary(to.AddDays(2), curfew.TimeOfDay{}, curfew.London())
	for _, a := range sched.Absences {
		if a.To.After(spanFrom) && a.From.Before(spanTo) {
			fmt.Fprintf(stdout, "approved absence %s from %s to %s, approved by %s: windows within it are suspended\n",
				a.ID, a.From.In(curfew.London()).Format("Mon 2006-01-02 15:04 MST"), a.To.In(curfew.London()).Format("Mon 2006-01-02 15:04 MST"), a.ApprovedBy)
		}
	}
}

// windowJSON is one window as `curfew windows -json` prints it.
func windowJSON(crn string, w curfew.Window) map[string]any {
	m := map[string]any{
		"crn":         crn,
		"start":       w.Start.UTC().Format(time.RFC3339),
		"end":         w.End.UTC().Format(time.RFC3339),
		"startLocal":  w.StartLocal().Format(localLayout),
		"endLocal":    w.EndLocal().Format(localLayout),
		"source":      w.Rule.Source,
		"rule":        w.Rule.ID,
		"description": w.Rule.Description,
		"key":         w.Key(),
	}
	if w.Suspended() {
		m["suspendedBy"] = w.SuspendedBy
	}
	return m
}

// hoursMinutes writes d as 7h00m.
func hoursMinutes(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}

// fileExists says whether there is a file at path.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
