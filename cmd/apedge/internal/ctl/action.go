package ctl

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// requireAll checks required flags in order.
func requireAll(fs *flag.FlagSet, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := cli.Required(fs, pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// changeDoc is the agent's answer to a roster change.
type changeDoc struct {
	Change int64 `json:"change"`
}

// unlockDoc is the agent's answer to an unlock.
type unlockDoc struct {
	Result string `json:"result"`
	Detail string `json:"detail"`
}

// postChange posts a roster change and confirms it.
func postChange(ctx context.Context, e *runEnv, path string, in any, what string) error {
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPost, path, in, func(r changeDoc) error {
		_, err := fmt.Fprintf(e.Stdout, "%s recorded as change %d; the agent applies it within a second\n", what, r.Change)
		return err
	})
}

// cmdArrive is apedge ctl arrive: record a resident's arrival.
func cmdArrive(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("arrive", "apedge ctl arrive -crn CRN -card ID[,ID] [-noms N] [-name NAME] [-room R] [-expected-departure DATE]\n\nRecords a resident's arrival: their cards open the doors at once.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	cards := fs.String("card", "", "credential `ids` (facility:number), comma-separated")
	noms := fs.String("noms", "", "NOMS `number`")
	name := fs.String("name", "", "`name`")
	room := fs.String("room", "", "`room`")
	expected := fs.String("expected-departure", "", "`date` (2026-12-31)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "crn", *crn, "card", *cards); err != nil {
		return err
	}
	ids := []string{}
	for _, id := range strings.Split(*cards, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return cli.Required(fs, "card", "")
	}
	in := struct {
		CRN               string   `json:"crn"`
		NOMS              string   `json:"noms,omitempty"`
		Name              string   `json:"name,omitempty"`
		Room              string   `json:"room,omitempty"`
		Cards             []string `json:"cards"`
		ExpectedDeparture string   `json:"expectedDeparture,omitempty"`
	}{*crn, *noms, *name, *room, ids, *expected}
	return postChange(ctx, e, "/api/v1/residents", in, "arrival of "+*crn)
}

// updateDoc is the agent's answer to a change of a resident's details.
type updateDoc struct {
	Change  int64 `json:"change"`
	Changes []struct {
		Field string `json:"field"`
		Old   string `json:"old"`
		New   string `json:"new"`
	} `json:"changes"`
}

// cmdUpdate is apedge ctl update: change a resident's details (only the fields given).
func cmdUpdate(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("update", "apedge ctl update -crn CRN [-card ID[,ID]] [-noms N] [-name NAME] [-room R] [-expected-departure DATE]\n\n"+
		"Changes a resident's details: only the flags given change; -card replaces their cards\n"+
		"(-card \"\" removes them all, for a lost card). It prints each field's old and new value.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	in := map[string]any{}
	var cards string
	set := map[string]*string{}
	for _, f := range []struct{ flag, field, usage string }{
		{"noms", "noms", "NOMS `number`"}, {"name", "name", "`name`"}, {"room", "room", "`room`"},
		{"expected-departure", "expectedDeparture", "`date` (2026-12-31)"},
	} {
		set[f.field] = fs.String(f.flag, "", f.usage)
	}
	fs.StringVar(&cards, "card", "", "credential `ids` (facility:number), comma-separated; replaces the resident's cards")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "crn", *crn); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "crn":
		case "card":
			ids := []string{}
			for _, id := range strings.Split(cards, ",") {
				if id = strings.TrimSpace(id); id != "" {
					ids = append(ids, id)
				}
			}
			in["cards"] = ids
		case "expected-departure":
			in["expectedDeparture"] = *set["expectedDeparture"]
		default:
			in[f.Name] = *set[f.Name]
		}
	})
	if len(in) == 0 {
		fmt.Fprintln(fs.Output(), "apedge ctl update: give at least one of -card, -noms, -name, -room, -expected-departure")
		return cli.ErrUsage
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPatch, "/api/v1/residents/"+url.PathEscape(*crn), in, func(r updateDoc) error {
		for _, ch := range r.Changes {
			if _, err := fmt.Fprintf(e.Stdout, "%s: %s -> %s\n", ch.Field, orNone(ch.Old), orNone(ch.New)); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(e.Stdout, "details of %s changed as change %d; the agent applies it within a second\n", *crn, r.Change)
		return err
	})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// cmdDepart is apedge ctl depart: record a resident's departure.
func cmdDepart(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("depart", "apedge ctl depart -crn CRN\n\nRecords a resident's departure: every credential of theirs is revoked at once.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "crn", *crn); err != nil {
		return err
	}
	return postChange(ctx, e, "/api/v1/residents/"+url.PathEscape(*crn)+"/departure", struct{}{}, "departure of "+*crn)
}

// cmdAbsence is apedge ctl absence: record an approved absence.
func cmdAbsence(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("absence", "apedge ctl absence -crn CRN -id ID -from TIME -to TIME -approved-by NAME [-reason TEXT]\n\nRecords an approved absence: it suspends the resident's curfew windows for its span.\nTIME is UK local (2026-11-22 14:00) or RFC 3339.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	id := fs.String("id", "", "absence `id`")
	from := fs.String("from", "", "absence start `time`")
	to := fs.String("to", "", "absence end `time`")
	approvedBy := fs.String("approved-by", "", "who approved the absence (`name`)")
	reason := fs.String("reason", "", "why (`text`)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "crn", *crn, "id", *id, "from", *from, "to", *to, "approved-by", *approvedBy); err != nil {
		return err
	}
	in := struct {
		ID         string `json:"id"`
		From       string `json:"from"`
		To         string `json:"to"`
		ApprovedBy string `json:"approvedBy"`
		Reason     string `json:"reason,omitempty"`
	}{*id, *from, *to, *approvedBy, *reason}
	return postChange(ctx, e, "/api/v1/residents/"+url.PathEscape(*crn)+"/absences", in, "absence "+*id+" of "+*crn)
}

// cmdUnlock is apedge ctl unlock: order a door unlocked for a while.
func cmdUnlock(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("unlock", "apedge ctl unlock -door ID -reason TEXT [-seconds N]\n\nOrders a door unlocked for a while (the agent's default unless -seconds). Fails\n(exit 1) unless the bridge reports it done.")
	door := fs.String("door", "", "the door's `id`")
	reason := fs.String("reason", "", "why (`text`, journaled)")
	seconds := fs.Int("seconds", 0, "unlock for `N` seconds")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "door", *door, "reason", *reason); err != nil {
		return err
	}
	if *seconds < 0 {
		fmt.Fprintln(e.Stderr, "apedge ctl unlock: -seconds may not be negative")
		return cli.ErrUsage
	}
	in := struct {
		Reason  string `json:"reason"`
		Seconds int    `json:"seconds,omitempty"`
	}{*reason, *seconds}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	var r unlockDoc
	b, err := c.callOrder(ctx, "/api/v1/doors/"+url.PathEscape(*door)+"/unlock", in, &r, func() bool { return r.Result != "" })
	if err != nil {
		return err
	}
	if e.g.json {
		if err := printJSON(e.Stdout, b); err != nil {
			return err
		}
	}
	detail := ""
	if r.Detail != "" {
		detail = ": " + r.Detail
	}
	if r.Result != "done" {
		return fmt.Errorf("door %s not unlocked: %s%s", *door, dash(r.Result), detail)
	}
	if !e.g.json {
		fmt.Fprintf(e.Stdout, "door %s unlocked%s\n", *door, detail)
	}
	return nil
}

// cmdAck is apedge ctl ack: acknowledge an open alarm.
func cmdAck(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("ack", "apedge ctl ack -alarm SEQ -note TEXT\n\nAcknowledges an open alarm (SEQ as apedge ctl alarms shows it), with a note.")
	seq := fs.String("alarm", "", "the alarm's `seq`")
	note := fs.String("note", "", "what was done (`text`)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "alarm", *seq, "note", *note); err != nil {
		return err
	}
	if n, err := strconv.ParseUint(*seq, 10, 63); err != nil || n == 0 {
		fmt.Fprintf(e.Stderr, "apedge ctl ack: -alarm %q is not an alarm's seq\n", *seq)
		return cli.ErrUsage
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPost, "/api/v1/alarms/"+*seq+"/ack", map[string]string{"note": *note}, func(a alarmDoc) error {
		by := ""
		if k := a.Acknowledged; k != nil {
			by = fmt.Sprintf(" by %s at %s", k.By, localTime(k.At))
		}
		_, err := fmt.Fprintf(e.Stdout, "alarm %s (%s %s) acknowledged%s\n", *seq, a.Type, dash(a.Subject), by)
		return err
	})
}
