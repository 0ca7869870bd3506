package ctl

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// fireRollDoc is a fire roll as the agent sends it.
type fireRollDoc struct {
	Seq          int64  `json:"seq"`
	TakenAtLocal string `json:"takenAtLocal"`
	TakenBy      string `json:"takenBy"`
	Counts       struct {
		Residents int `json:"residents"`
		Staff     int `json:"staff"`
		Unknown   int `json:"unknown"`
		Total     int `json:"total"`
	} `json:"counts"`
	People     []fireRollPersonDoc `json:"people"`
	Unknown    []fireRollPersonDoc `json:"unknown"`
	StaffBasis string              `json:"staffBasis"`
}

// fireRollPersonDoc is one person on a fire roll.
type fireRollPersonDoc struct {
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Room      string `json:"room"`
	Certainty string `json:"certainty"`
	Seen      string `json:"seen"`
}

// a4Width is how many characters of a fixed-width line fit across an A4 page.
const a4Width = 80

// cmdFireRoll is apedge ctl roll: take a fire roll and print it as a list that
// fits an A4 page.
func cmdFireRoll(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("roll", "apedge ctl roll [-note TEXT] [-json]\n\nTakes a fire roll: everyone the site believes is in the building now, with how sure\neach entry is. The roll is journaled as taken, naming you.")
	note := fs.String("note", "", "a note journaled with the roll")
	if err := parseOnly(fs, args); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPost, "/api/v1/roll/fire", map[string]string{"note": *note}, func(r fireRollDoc) error {
		return printFireRoll(e, r)
	})
}

// printFireRoll prints r as a plain list of at most a4Width columns.
func printFireRoll(e *runEnv, r fireRollDoc) error {
	w := e.Stdout
	fmt.Fprintf(w, "FIRE ROLL taken %s by %s (journal event %d)\n", r.TakenAtLocal, dash(r.TakenBy), r.Seq)
	fmt.Fprintf(w, "%d believed in: %d residents, %d staff", r.Counts.Total, r.Counts.Residents, r.Counts.Staff)
	if r.Counts.Unknown > 0 {
		fmt.Fprintf(w, "; %d residents never seen (may be in)", r.Counts.Unknown)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Repeat("-", a4Width))
	line := func(n int, p fireRollPersonDoc) {
		who := p.Name
		if who == "" {
			who = p.ID
		}
		where := p.Room
		if p.Kind != "resident" {
			where = p.Kind
		}
		fmt.Fprintf(w, "[ ] %3d %-24s %-10s %-8s %s\n", n, cut(who, 24), cut(dash(where), 10), cut(p.ID, 8), p.Certainty)
		fmt.Fprintf(w, "        %s\n", cut(p.Seen, a4Width-8))
	}
	if len(r.People) == 0 {
		fmt.Fprintln(w, "nobody is believed to be in the building")
	}
	for i, p := range r.People {
		line(i+1, p)
	}
	if len(r.Unknown) > 0 {
		fmt.Fprintln(w, strings.Repeat("-", a4Width))
		fmt.Fprintln(w, "NEVER SEEN AT A DOOR (may be in):")
		for i, p := range r.Unknown {
			line(i+1, p)
		}
	}
	fmt.Fprintln(w, strings.Repeat("-", a4Width))
	_, err := fmt.Fprintln(w, cut("Staff: "+r.StaffBasis, a4Width))
	return err
}

// cut is s cut to n runes, ending "…" when cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
