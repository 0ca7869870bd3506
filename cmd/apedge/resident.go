package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/internal/config"
)

const residentUsage = `apedge resident arrive  -config FILE -crn CRN -card ID[,ID] -by STAFF [-noms N] [-name NAME] [-room R] [-expected-departure DATE]
apedge resident update  -config FILE -crn CRN -by STAFF [-noms N] [-name NAME] [-room R] [-card ID[,ID]] [-expected-departure DATE]
apedge resident depart  -config FILE -crn CRN -by STAFF
apedge resident absence -config FILE -crn CRN -id ID -from TIME -to TIME -approved-by NAME -by STAFF [-reason TEXT]

Records a staff action in the agent's roster register (beside its journal). The
running agent applies it within a second: an arrival's cards open the doors; on a
departure every credential of the resident is revoked at once and nothing more is
attributed to them; an approved absence suspends their curfew windows for its span.
An update sets the details given of a resident in residence and keeps the others
("" clears one; -card "" takes every card away) and prints what changes; a second
arrival of a resident in residence is refused (use update). Each is journaled as a
signed event naming who recorded it (resident.arrived, resident.updated,
resident.departed, resident.absence-approved). CRN and NOMS numbers are taken in
any case; cards are facility:number (12:10001). Times are UK local
(2026-11-22 14:00) or RFC 3339; dates 2026-11-22.`

// residentActions are the actions of apedge resident.
var residentActions = []string{register.Arrive, register.Update, register.Depart, register.Absence}

// cmdResident records a staff action in the agent's roster register, at the time
// s.clock tells.
func (s sys) cmdResident(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains(residentActions, args[0]) {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(stdout, residentUsage)
			return nil
		}
		fmt.Fprintln(stderr, "apedge resident: say arrive, update, depart or absence: apedge resident -h")
		return cli.ErrUsage
	}
	action := args[0]
	fs := cli.Flags("resident "+action, residentUsage, stderr)
	path := fs.String("config", "", "agent configuration `file`")
	crn := fs.String("crn", "", "the resident's `CRN`")
	by := fs.String("by", "", "the `staff` member recording this")
	noms := fs.String("noms", "", "NOMS `number`")
	name := fs.String("name", "", "`name`")
	room := fs.String("room", "", "`room`")
	cards := fs.String("card", "", "credential `ids` (facility:number), comma-separated")
	expected := fs.String("expected-departure", "", "`date`")
	id := fs.String("id", "", "absence `id`")
	from := fs.String("from", "", "absence start `time`")
	to := fs.String("to", "", "absence end `time`")
	approvedBy := fs.String("approved-by", "", "who approved the absence (`name`)")
	reason := fs.String("reason", "", "why (`text`)")
	if err := cli.Parse(fs, args[1:], 0); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"config", *path}, {"crn", *crn}, {"by", *by}} {
		if err := cli.Required(fs, f.name, f.v); err != nil {
			return err
		}
	}
	cfg, err := config.LoadAgent(*path)
	if err != nil {
		return err
	}
	c := register.Change{Action: action, CRN: *crn, By: *by, At: s.clock.Now()}
	switch action {
	case register.Arrive:
		if err := cli.Required(fs, "card", *cards); err != nil {
			return err
		}
		c.Person = &config.Resident{CRN: *crn, NOMS: *noms, Name: *name, Room: *room, ExpectedDeparture: *expected,
			Cards: splitCards(*cards)}
	case register.Update:
		if c.Update, err = updateOf(fs); err != nil {
			return err
		}
	case register.Absence:
		for _, f := range []struct{ name, v string }{{"id", *id}, {"from", *from}, {"to", *to}, {"approved-by", *approvedBy}} {
			if err := cli.Required(fs, f.name, f.v); err != nil {
				return err
			}
		}
		c.Absence = &config.Absence{ID: *id, From: *from, To: *to, ApprovedBy: *approvedBy, Reason: *reason}
	}
	reg, err := register.Open(ctx, register.Path(cfg.Database))
	if err != nil {
		return err
	}
	defer reg.Close()
	n, err := reg.RecordChecked(ctx, cfg.Roster, c, curfew.London())
	if err != nil {
		return errors.New(register.Message(err)) // a sentence for staff, printed as it is
	}
	crnAs, _ := config.ParseCRN(*crn)
	fmt.Fprintf(stdout, "recorded %s of %s by %s as register change %d; the agent applies it within a second\n", action, crnAs, strings.TrimSpace(*by), n)
	if c.Update != nil {
		for _, ch := range c.Update.Changes {
			fmt.Fprintf(stdout, "  %s: %s -> %s\n", fieldNames[ch.Field], orNone(ch.Old), orNone(ch.New))
		}
	}
	return nil
}

// updateFlags are the flags an update takes, by the field each sets.
var updateFlags = []string{"noms", "name", "room", "expected-departure", "card"}

// fieldNames are the register's fields as the command names them.
var fieldNames = map[string]string{"noms": "NOMS number", "name": "name", "room": "room", "expectedDeparture": "expected departure", "cards": "cards"}

// updateOf is the update the flags given on the command line make: only those given
// change a field.
func updateOf(fs *flag.FlagSet) (*register.Details, error) {
	d := &register.Details{}
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "noms":
			d.NOMS = &v
		case "name":
			d.Name = &v
		case "room":
			d.Room = &v
		case "expected-departure":
			d.ExpectedDeparture = &v
		case "card":
			cs := splitCards(v)
			d.Cards = &cs
		}
	})
	if d.NOMS == nil && d.Name == nil && d.Room == nil && d.ExpectedDeparture == nil && d.Cards == nil {
		fmt.Fprintf(fs.Output(), "%s: say what to change: -%s\n", fs.Name(), strings.Join(updateFlags, ", -"))
		return nil, cli.ErrUsage
	}
	return d, nil
}

// splitCards splits a comma-separated list of cards; "" is none.
func splitCards(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
