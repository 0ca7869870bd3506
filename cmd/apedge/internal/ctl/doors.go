package ctl

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// holdDoc is the agent's answer to a door hold.
type holdDoc struct {
	Door   string `json:"door"`
	Mode   string `json:"mode"`
	Until  string `json:"until"`
	Result string `json:"result"`
	Detail string `json:"detail"`
}

// lockdownDoc is the agent's answer to a lockdown or its release.
type lockdownDoc struct {
	Order struct {
		Type  string `json:"type"`
		Until string `json:"until"`
		Doors []struct {
			Door   string `json:"door"`
			Result string `json:"result"`
			Error  string `json:"error"`
		} `json:"doors"`
	} `json:"order"`
	Detail string `json:"detail"`
}

const doorSynopsis = `apedge ctl door hold -door ID -mode unlocked|locked|none -reason TEXT [-minutes N | -until TIME]
apedge ctl door lockdown -reason TEXT
apedge ctl door release -reason TEXT

hold keeps a door unlocked (lock released) or locked (entry refused; the exit button and
exit reader still let people out) for -minutes or until -until (UK local or RFC 3339, at
most 12 hours ahead), or with -mode none ends its hold now (security, manager, admin).
lockdown refuses entry at every door for 12 hours or until released; nobody is ever kept
in (manager, admin). release ends the lockdown. Every order is journaled with who and
why. Fails (exit 1) unless every door reports it done.`

// cmdDoor is apedge ctl door hold|lockdown|release.
func cmdDoor(ctx context.Context, e *runEnv, args []string) error {
	if len(args) == 0 || (args[0] != "hold" && args[0] != "lockdown" && args[0] != "release") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(e.Stdout, doorSynopsis)
			return nil
		}
		fmt.Fprintln(e.Stderr, "apedge ctl door: say hold, lockdown or release: apedge ctl door -h")
		return cli.ErrUsage
	}
	action := args[0]
	fs := e.flags("door "+action, doorSynopsis)
	reason := fs.String("reason", "", "why (`text`, journaled)")
	var door, mode, until *string
	var minutes *int
	if action == "hold" {
		door = fs.String("door", "", "the door's `id`")
		mode = fs.String("mode", "", "unlocked, locked or none (end the hold)")
		minutes = fs.Int("minutes", 0, "hold for `N` minutes")
		until = fs.String("until", "", "hold until `TIME` (UK local 2026-11-22 14:00, or RFC 3339)")
	}
	if err := cli.Parse(fs, args[1:], 0); err != nil {
		return err
	}
	if action != "hold" {
		if err := requireAll(fs, "reason", *reason); err != nil {
			return err
		}
		return siteOrder(ctx, e, action, *reason)
	}
	if err := requireAll(fs, "door", *door, "mode", *mode, "reason", *reason); err != nil {
		return err
	}
	in := struct {
		Mode    string `json:"mode"`
		Minutes int    `json:"minutes,omitempty"`
		Until   string `json:"until,omitempty"`
		Reason  string `json:"reason"`
	}{Mode: *mode, Minutes: *minutes, Reason: *reason}
	switch {
	case *mode != "unlocked" && *mode != "locked" && *mode != "none":
		fmt.Fprintln(e.Stderr, "apedge ctl door hold: -mode is unlocked, locked or none")
		return cli.ErrUsage
	case *mode == "none" && (*minutes != 0 || *until != ""):
		fmt.Fprintln(e.Stderr, "apedge ctl door hold: -mode none ends the hold now: no -minutes or -until")
		return cli.ErrUsage
	case *mode != "none" && (*minutes == 0) == (*until == ""):
		fmt.Fprintln(e.Stderr, "apedge ctl door hold: say how long: -minutes N or -until TIME, one of them")
		return cli.ErrUsage
	case *minutes < 0:
		fmt.Fprintln(e.Stderr, "apedge ctl door hold: -minutes may not be negative")
		return cli.ErrUsage
	}
	if *until != "" {
		t, err := parseTime(*until)
		if err != nil {
			fmt.Fprintln(e.Stderr, "apedge ctl door hold: -until:", err)
			return cli.ErrUsage
		}
		in.Until = t
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	var r holdDoc
	b, err := c.callOrder(ctx, "/api/v1/doors/"+url.PathEscape(*door)+"/hold", in, &r, func() bool { return r.Result != "" })
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
		return fmt.Errorf("door %s not held: %s%s", *door, dash(r.Result), detail)
	}
	if !e.g.json {
		if *mode == "none" {
			fmt.Fprintf(e.Stdout, "door %s: hold ended\n", *door)
		} else {
			fmt.Fprintf(e.Stdout, "door %s held %s until %s\n", *door, *mode, localTime(r.Until))
		}
	}
	return nil
}

// siteOrder posts a lockdown or its release and shows each door's answer.
func siteOrder(ctx context.Context, e *runEnv, action, reason string) error {
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	var r lockdownDoc
	b, err := c.callOrder(ctx, "/api/v1/site/"+action, map[string]string{"reason": reason}, &r, func() bool { return r.Order.Type != "" })
	if err != nil {
		return err
	}
	if e.g.json {
		if err := printJSON(e.Stdout, b); err != nil {
			return err
		}
	}
	var failed []string
	tw := newTable(e.Stdout)
	if !e.g.json {
		fmt.Fprintln(tw, "DOOR\tRESULT\tDETAIL")
	}
	for _, d := range r.Order.Doors {
		if d.Result != "done" {
			failed = append(failed, d.Door)
		}
		if !e.g.json {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Door, dash(d.Result), dash(d.Error))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	what := "site locked down"
	if action == "release" {
		what = "lockdown released"
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s but not at %s: check those doors", what, strings.Join(failed, ", "))
	}
	if !e.g.json {
		if r.Order.Until != "" {
			what += " until " + localTime(r.Order.Until)
		}
		fmt.Fprintln(e.Stdout, what)
	}
	return nil
}
