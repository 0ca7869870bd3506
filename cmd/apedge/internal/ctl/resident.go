package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// historyDoc is a resident's history as the agent sends it.
type historyDoc struct {
	CRN       string         `json:"crn"`
	Label     string         `json:"label"`
	NOMS      string         `json:"noms"`
	OnRoster  bool           `json:"onRoster"`
	FromLocal string         `json:"fromLocal"`
	ToLocal   string         `json:"toLocal"`
	Counts    map[string]int `json:"counts"`
	Truncated bool           `json:"truncated"`
	Events    []struct {
		Seq             int64  `json:"seq"`
		Type            string `json:"type"`
		OccurredAtLocal string `json:"occurredAtLocal"`
		Kind            string `json:"kind"`
		Sentence        string `json:"sentence"`
		Alarm           bool   `json:"alarm"`
	} `json:"events"`
}

// parseOnly parses args that may hold no positional arguments.
func parseOnly(fs *flag.FlagSet, args []string) error { return cli.Parse(fs, args, 0) }

// cmdResident is apedge ctl resident CRN: one resident's history, or its signed bundle.
func cmdResident(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("resident", "apedge ctl resident CRN [-from TIME] [-to TIME] [-bundle FILE] [-json]\n\nOne resident's movements, curfew decisions, absences, alarms and staff actions over a\nperiod (default: the last week), each in words. With -bundle, the same events are\nwritten to FILE as a signed proof set for a recall hearing (managers and admins).")
	from := fs.String("from", "", "start of the period (UK local \"2026-11-22 14:00\", a date, or RFC 3339)")
	to := fs.String("to", "", "end of the period (default now)")
	bundle := fs.String("bundle", "", "write the signed bundle of the events to `FILE`")
	// The CRN may come before, between or after the flags.
	var pos []string
	for rest := args; ; {
		if err := cli.Parse(fs, rest, len(rest)); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(pos) == 0:
		fmt.Fprintln(e.Stderr, "apedge ctl resident: name the resident's CRN: apedge ctl resident X123456")
		return cli.ErrUsage
	case len(pos) > 1:
		fmt.Fprintf(e.Stderr, "apedge ctl resident: unexpected argument %q\n", pos[1])
		return cli.ErrUsage
	}
	crn := pos[0]
	q := url.Values{}
	for _, f := range []struct{ name, v string }{{"from", *from}, {"to", *to}} {
		if f.v == "" {
			continue
		}
		t, err := parseTime(f.v)
		if err != nil {
			fmt.Fprintf(e.Stderr, "apedge ctl resident: -%s: %v\n", f.name, err)
			return cli.ErrUsage
		}
		q.Set(f.name, t)
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	base := "/api/v1/residents/" + url.PathEscape(crn)
	if *bundle != "" {
		return saveBundle(ctx, e, c, withQuery(base+"/bundle", q), *bundle)
	}
	return show(ctx, e, c, http.MethodGet, withQuery(base+"/history", q), nil, func(h historyDoc) error {
		w := e.Stdout
		fmt.Fprintf(w, "%s, %s", dash(h.Label), h.CRN)
		if h.NOMS != "" {
			fmt.Fprintf(w, ", NOMS %s", h.NOMS)
		}
		if !h.OnRoster {
			fmt.Fprint(w, " (not on the roster now)")
		}
		fmt.Fprintf(w, "\nfrom %s to %s: %d events\n", h.FromLocal, h.ToLocal, len(h.Events))
		tw := newTable(w)
		fmt.Fprintln(tw, "SEQ\tWHEN\tKIND\tWHAT")
		for _, ev := range h.Events {
			kind := ev.Kind
			if ev.Alarm {
				kind += " (alarm)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", ev.Seq, ev.OccurredAtLocal, kind, ev.Sentence)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if h.Truncated {
			_, err := fmt.Fprintln(w, "more events in the period were left out: give a shorter period")
			return err
		}
		return nil
	})
}

// saveBundle writes the bundle at path to the file out.
func saveBundle(ctx context.Context, e *runEnv, c *client, path, out string) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, 256<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", out, err), os.Remove(out))
	}
	_, err = fmt.Fprintf(e.Stdout, "wrote %s (%d bytes): the signed events, each provable offline with the site's public key\n", out, n)
	return err
}
