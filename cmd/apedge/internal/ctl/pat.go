package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	fpat "github.com/apedge/apedge/formats/pat"
)

// importTimeout bounds the upload of an import: a file of up to 32 MiB over a
// slow link takes longer than an ordinary request.
const importTimeout = 5 * time.Minute

// patFlagDoc is a finding against a test's figures.
type patFlagDoc struct {
	Check  string `json:"check"`
	Detail string `json:"detail"`
}

// patItemDoc is an electrical item as the agent lists it.
type patItemDoc struct {
	AssetID       string       `json:"assetId"`
	OwnerCRN      string       `json:"ownerCrn"`
	Owner         string       `json:"owner"`
	Description   string       `json:"description"`
	Category      string       `json:"category"`
	Class         string       `json:"class"`
	Status        string       `json:"status"`
	StatusText    string       `json:"statusText"`
	RetestDue     string       `json:"retestDue"`
	LastTested    string       `json:"lastTested"`
	Flagged       bool         `json:"flagged"`
	Flags         []patFlagDoc `json:"flags"`
	Authorisation *struct {
		By string `json:"by"`
		At string `json:"at"`
	} `json:"authorisation"`
	Withdrawal *struct {
		Reason string `json:"reason"`
		By     string `json:"by"`
		At     string `json:"at"`
	} `json:"withdrawal"`
	RegisteredBy string `json:"registeredBy"`
	RegisteredAt string `json:"registeredAt"`
}

// patDetailDoc is one item with its test history, as GET .../items/{id} and the
// changes answer.
type patDetailDoc struct {
	patItemDoc
	Tests []struct {
		Record struct {
			TestedAt         string   `json:"testedAt"`
			Class            string   `json:"class"`
			Visual           string   `json:"visual"`
			EarthOhm         *float64 `json:"earthOhm"`
			InsulationMOhm   *float64 `json:"insulationMOhm"`
			InsulationV      int      `json:"insulationV"`
			LeakageMA        *float64 `json:"leakageMA"`
			Polarity         string   `json:"polarity"`
			Result           string   `json:"result"`
			Instrument       string   `json:"instrument"`
			InstrumentSerial string   `json:"instrumentSerial"`
			Tester           string   `json:"tester"`
		} `json:"record"`
		Flags     []patFlagDoc `json:"flags"`
		Outcome   string       `json:"outcome"`
		RetestDue string       `json:"retestDue"`
		By        string       `json:"by"`
	} `json:"tests"`
}

// patItemsDoc is the agent's GET /api/v1/pat/items.
type patItemsDoc struct {
	Items []patItemDoc `json:"items"`
}

// patDueDoc is the agent's GET /api/v1/pat/due.
type patDueDoc struct {
	DueWithinDays int          `json:"dueWithinDays"`
	Items         []patItemDoc `json:"items"`
}

// patLabelsDoc is the agent's GET /api/v1/pat/labels.
type patLabelsDoc struct {
	Site   string `json:"site"`
	Labels []struct {
		AssetID     string `json:"assetId"`
		Description string `json:"description"`
		Owner       string `json:"owner"`
		Class       string `json:"class"`
		Tested      string `json:"tested"`
		Tester      string `json:"tester"`
		RetestDue   string `json:"retestDue"`
		StatusText  string `json:"statusText"`
	} `json:"labels"`
}

// patImportDoc is the agent's answer to a file it imported.
type patImportDoc struct {
	Layout     string `json:"layout"`
	Records    int    `json:"records"`
	Tested     int    `json:"tested"`
	Registered int    `json:"registered"`
	Skipped    int    `json:"skipped"`
}

// patRefusalDoc is the agent's 422 to a file it refused.
type patRefusalDoc struct {
	Error string           `json:"error"`
	Lines []fpat.LineError `json:"lines"`
	More  int              `json:"more"`
}

const patSynopsis = `apedge ctl pat [list] [-crn CRN] [-label L] [-status S]
apedge ctl pat show LABEL
apedge ctl pat import FILE [-layout apedge|patorganiser]
apedge ctl pat authorise LABEL
apedge ctl pat withdraw LABEL -reason TEXT
apedge ctl pat due
apedge ctl pat labels [-crn CRN] [-label L] [-status S]

The register of electrical items (AP rules: no item without staff authorisation and a
valid PAT). list (the default) searches it by resident, label (any part, any case) or
status (awaiting-test, awaiting-authorisation, authorised, failed, expired, withdrawn,
prohibited); show prints one item with its test history and each test's flags (a pass
whose figures fail the limits for its class is flagged, not accepted). import reads a
PAT software's CSV export (apedge's layout or PATorganiser's, from its header row)
here first, validating every line and showing progress on a long file, and uploads it
only if every line is good: an import is all or nothing, and a refused file's bad lines
are listed with their numbers. authorise (a pass in date only) and withdraw change an
item in your name (the pat permission); due lists the items due for a retest within
the configured window (14 days) and those out of date; labels prints the label list.`

// patCommands are ctl pat's subcommands by name.
func patCommands() map[string]command {
	return map[string]command{
		"list":      patList,
		"show":      patShow,
		"import":    patImport,
		"authorise": patAuthorise,
		"withdraw":  patWithdraw,
		"due":       patDue,
		"labels":    patLabels,
	}
}

// cmdPAT is apedge ctl pat [list|show|import|...].
func cmdPAT(ctx context.Context, e *runEnv, args []string) error {
	return dispatch(ctx, e, args, "pat", "list", patSynopsis, patCommands())
}

// patQuery puts the search flags on fs and returns the query they make.
func patQuery(fs *flag.FlagSet) func() string {
	crn := fs.String("crn", "", "the items of this resident (`CRN`)")
	label := fs.String("label", "", "the items whose label contains this")
	status := fs.String("status", "", "the items of this status")
	return func() string {
		q := url.Values{}
		for k, v := range map[string]string{"crn": *crn, "label": *label, "status": *status} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if len(q) == 0 {
			return ""
		}
		return "?" + q.Encode()
	}
}

// patList is apedge ctl pat [list].
func patList(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("pat list", "apedge ctl pat [list] [-crn CRN] [-label L] [-status S]\n\n"+
		"The electrical items the search selects (all without one), in order of label.")
	query := patQuery(fs)
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/pat/items"+query(), nil, func(v patItemsDoc) error {
		return patTable(e.Stdout, v.Items, "no electrical items")
	})
}

// patTable prints items, or none when there are none.
func patTable(w io.Writer, items []patItemDoc, none string) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, none)
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "LABEL\tOWNER\tDESCRIPTION\tCLASS\tSTATUS\tRETEST DUE\tFLAGGED")
	for _, it := range items {
		flagged := "-"
		if it.Flagged {
			var why []string
			for _, f := range it.Flags {
				why = append(why, f.Check+": "+f.Detail)
			}
			flagged = "FLAGGED: " + strings.Join(why, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.AssetID, it.Owner, dash(it.Description), it.Class, it.StatusText,
			dash(it.RetestDue), flagged)
	}
	return tw.Flush()
}

// itemPath is the path of item id's resource, and of its action if not empty.
func itemPath(id, action string) string {
	p := "/api/v1/pat/items/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// figure shows a measured figure and its unit, or "-".
func figure(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%g %s", *v, unit)
}

// patShow is apedge ctl pat show LABEL.
func patShow(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("pat show", "apedge ctl pat show LABEL\n\nOne electrical item with its test history, each test's figures and flags.")
	id, err := oneArg(e, fs, args, "item's label", "K-0001")
	if err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, itemPath(id, ""), nil, func(v patDetailDoc) error { return patDetail(e.Stdout, v) })
}

// patDetail prints one item and its tests.
func patDetail(w io.Writer, v patDetailDoc) error {
	if err := patTable(w, []patItemDoc{v.patItemDoc}, ""); err != nil {
		return err
	}
	fmt.Fprintf(w, "category %s; registered by %s at %s\n", dash(v.Category), v.RegisteredBy, localTime(v.RegisteredAt))
	if a := v.Authorisation; a != nil {
		fmt.Fprintf(w, "authorised by %s at %s\n", a.By, localTime(a.At))
	}
	if wd := v.Withdrawal; wd != nil {
		fmt.Fprintf(w, "withdrawn by %s at %s: %s\n", wd.By, localTime(wd.At), wd.Reason)
	}
	if len(v.Tests) == 0 {
		_, err := fmt.Fprintln(w, "not tested yet")
		return err
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "TESTED\tCLASS\tVISUAL\tEARTH\tINSULATION\tLEAKAGE\tPOLARITY\tRESULT\tOUTCOME\tRETEST DUE\tTESTER\tINSTRUMENT\tBY\tFLAGS")
	for _, t := range v.Tests {
		r := t.Record
		ins := figure(r.InsulationMOhm, "MΩ")
		if r.InsulationV > 0 && r.InsulationMOhm != nil {
			ins += fmt.Sprintf(" at %d V", r.InsulationV)
		}
		var flags []string
		for _, f := range t.Flags {
			flags = append(flags, f.Check+": "+f.Detail)
		}
		outcome := t.Outcome
		if outcome == "flagged" {
			outcome = "FLAGGED: not accepted"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.TrimSuffix(r.TestedAt, "T00:00:00Z"), r.Class, dash(r.Visual),
			figure(r.EarthOhm, "Ω"), ins, figure(r.LeakageMA, "mA"), dash(r.Polarity), r.Result, outcome, dash(t.RetestDue), r.Tester,
			dash(strings.TrimSpace(r.Instrument+" "+r.InstrumentSerial)), t.By, dash(strings.Join(flags, "; ")))
	}
	return tw.Flush()
}

// patAuthorise is apedge ctl pat authorise LABEL.
func patAuthorise(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("pat authorise", "apedge ctl pat authorise LABEL\n\n"+
		"Authorises the item for use in the AP, in your name (item.authorised): only on a pass\n"+
		"in date, never an item of a prohibited category.")
	id, err := oneArg(e, fs, args, "item's label", "K-0001")
	if err != nil {
		return err
	}
	return patChange(ctx, e, itemPath(id, "authorise"), struct{}{}, "authorised")
}

// patWithdraw is apedge ctl pat withdraw LABEL -reason TEXT.
func patWithdraw(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("pat withdraw", "apedge ctl pat withdraw LABEL -reason TEXT\n\n"+
		"Withdraws the item from use, in your name and for the reason (item.withdrawn).")
	reason := fs.String("reason", "", "why it is withdrawn (required)")
	id, err := oneArg(e, fs, args, "item's label", "K-0001 -reason \"cracked case\"")
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		fmt.Fprintln(e.Stderr, "apedge ctl pat withdraw: say why with -reason")
		return cli.ErrUsage
	}
	return patChange(ctx, e, itemPath(id, "withdraw"), map[string]string{"reason": *reason}, "withdrawn")
}

// patChange posts in to path and says what became of the item.
func patChange(ctx context.Context, e *runEnv, path string, in any, done string) error {
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPost, path, in, func(v patDetailDoc) error {
		_, err := fmt.Fprintf(e.Stdout, "%s %s (%s, %s): now %s\n", v.AssetID, done, dash(v.Description), v.Owner, v.StatusText)
		return err
	})
}

// patDue is apedge ctl pat due.
func patDue(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "pat due", "apedge ctl pat due\n\n"+
		"The items due for a retest within the configured window (14 days unless configured)\n"+
		"and those whose PAT is out of date, most overdue first.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/pat/due", nil, func(v patDueDoc) error {
		return patTable(e.Stdout, v.Items, fmt.Sprintf("no item due for a retest within %d days", v.DueWithinDays))
	})
}

// patLabels is apedge ctl pat labels.
func patLabels(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("pat labels", "apedge ctl pat labels [-crn CRN] [-label L] [-status S]\n\n"+
		"The label list to print: what each item's PAT label says.")
	query := patQuery(fs)
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/pat/labels"+query(), nil, func(v patLabelsDoc) error {
		if len(v.Labels) == 0 {
			_, err := fmt.Fprintln(e.Stdout, "no electrical items")
			return err
		}
		tw := newTable(e.Stdout)
		fmt.Fprintf(tw, "LABEL\tITEM\tOWNER\tCLASS\tTESTED\tBY\tRETEST DUE\tSTATUS (%s)\n", v.Site)
		for _, l := range v.Labels {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.AssetID, dash(l.Description), l.Owner, l.Class, dash(l.Tested), dash(l.Tester),
				dash(l.RetestDue), l.StatusText)
		}
		return tw.Flush()
	})
}

// patImport is apedge ctl pat import FILE.
//
// It reads the file here first with formats/pat.ReadCSVFunc, as the agent will,
// showing progress on standard error every ProgressEvery records: a file with a
// bad line is refused before anything is sent, its bad lines listed. A good file
// is then uploaded whole (text/csv); the agent validates it again and may still
// refuse it all (an owner not on its roster), with the lines named.
func patImport(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("pat import", "apedge ctl pat import FILE [-layout apedge|patorganiser]\n\n"+
		"Imports a PAT software's CSV export, all or nothing. The file is read and validated\n"+
		"here first, with progress on a long file, and uploaded only if every line is good;\n"+
		"a refused file's bad lines are listed with their numbers, and nothing is imported.")
	layoutName := fs.String("layout", "", "the file's layout: apedge or patorganiser (default: from its header row)")
	path, err := oneArg(e, fs, args, "file", "results.csv")
	if err != nil {
		return err
	}
	layouts := map[string]fpat.Layout{"": fpat.LayoutDetect, "apedge": fpat.LayoutApedge, "patorganiser": fpat.LayoutPATorganiser}
	layout, ok := layouts[*layoutName]
	if !ok {
		fmt.Fprintf(e.Stderr, "apedge ctl pat import: -layout %q: say apedge or patorganiser\n", *layoutName)
		return cli.ErrUsage
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(body) > fpat.MaxFileBytes {
		return fmt.Errorf("%s is over %d MiB: split it", path, fpat.MaxFileBytes>>20)
	}
	records, err := fpat.ReadCSVFunc(bytes.NewReader(body), layout, func(n int) {
		fmt.Fprintf(e.Stderr, "%s: %d records read\n", path, n)
	})
	var bad *fpat.ImportError
	if errors.As(err, &bad) {
		return refused(e, path, "refused here, nothing sent", bad.Lines, bad.More)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "%s: every line is good; sending %d records to the agent\n", path, len(records))
	q := ""
	if *layoutName != "" {
		q = "?layout=" + *layoutName
	}
	b, err := c.upload(ctx, "/api/v1/pat/import"+q, body)
	var he *httpError
	var ref patRefusalDoc
	if errors.As(err, &he) && he.Code == http.StatusUnprocessableEntity && json.Unmarshal(he.Body, &ref) == nil && len(ref.Lines) > 0 {
		return refused(e, path, "refused by the agent", ref.Lines, ref.More)
	} else if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.Stdout, b)
	}
	var v patImportDoc
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("POST /api/v1/pat/import: the agent's answer: %w", err)
	}
	_, err = fmt.Fprintf(e.Stdout, "%s imported (%s layout): %d records, %d tests recorded, %d items new to the register, %d recorded already\n",
		path, v.Layout, v.Records, v.Tested, v.Registered, v.Skipped)
	return err
}

// refused lists a refused file's bad lines on standard output and returns the
// error that says so.
func refused(e *runEnv, path, by string, lines []fpat.LineError, more int) error {
	tw := newTable(e.Stdout)
	fmt.Fprintln(tw, "LINE\tWHAT IS WRONG")
	for _, l := range lines {
		fmt.Fprintf(tw, "%d\t%s\n", l.Line, l.Reason)
	}
	if more > 0 {
		fmt.Fprintf(tw, "...\tand %d more bad lines\n", more)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return fmt.Errorf("%s: %s: %d bad lines; nothing was imported", path, by, len(lines)+more)
}

// upload posts file as text/csv to path within importTimeout and returns the
// response body; an answer other than 2xx is a *httpError, as call's.
func (c *client) upload(ctx context.Context, path string, file []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(file))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "apedge-ctl")
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(http.MethodPost, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	var m struct {
		Error string `json:"error"`
	}
	msg := http.StatusText(resp.StatusCode)
	if json.Unmarshal(b, &m) == nil && m.Error != "" {
		msg = m.Error
	}
	if resp.StatusCode == http.StatusUnauthorized {
		msg += "; run apedge ctl login"
	}
	return nil, &httpError{Code: resp.StatusCode, Msg: msg, Body: b}
}
