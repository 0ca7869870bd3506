package console

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/pat"
	"github.com/apedge/apedge/agent/staff"
	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/httpjson"
)

// The register of electrical items (PAT) on the console: every signed-in user
// may look (search by resident or label, an item's test history and flags, the
// items due for a retest, a departing resident's items to hand back, the label
// list to print); staff with the pat permission change it (register, key in a
// test, import a PAT software's CSV export, authorise, withdraw). An import is all
// or nothing: a bad line refuses the whole file with every bad line's number and
// reason, and nothing is imported. The label list is JSON, which the dashboard
// lays out on a printable page (and `apedge ctl pat labels` prints as text).

// statusWords are the items' statuses in words, as the dashboard and ctl show
// them.
var statusWords = map[string]string{
	pat.StatusAwaitingTest:          "awaiting test",
	pat.StatusAwaitingAuthorisation: "passed, awaiting authorisation",
	pat.StatusAuthorised:            "authorised",
	pat.StatusFailed:                "failed: not to be used",
	pat.StatusExpired:               "PAT out of date: not to be used",
	pat.StatusWithdrawn:             "withdrawn from use",
	pat.StatusProhibited:            "prohibited: to be removed",
}

// patItemView is an item as the lists show it: where it stands, not its history.
type patItemView struct {
	AssetID string `json:"assetId"`
	// OwnerCRN is the resident who owns it; empty for the AP's own, and Owner then
	// says "the AP".
	OwnerCRN    string      `json:"ownerCrn,omitempty"`
	Owner       string      `json:"owner"`
	Person      *personView `json:"person,omitempty"`
	Description string      `json:"description"`
	Category    string      `json:"category,omitempty"`
	Class       fpat.Class  `json:"class"`
	Status      string      `json:"status"`
	StatusText  string      `json:"statusText"`
	RetestDue   string      `json:"retestDue,omitempty"`
	// LastTested is the date of its latest test; Flagged says that test was a
	// pass whose figures fail the limits, Flags why.
	LastTested    string             `json:"lastTested,omitempty"`
	Flagged       bool               `json:"flagged"`
	Flags         []pat.Flag         `json:"flags"`
	Authorisation *pat.Authorisation `json:"authorisation,omitempty"`
	Withdrawal    *pat.Withdrawal    `json:"withdrawal,omitempty"`
	RegisteredBy  string             `json:"registeredBy"`
	RegisteredAt  time.Time          `json:"registeredAt"`
}

// patItemDetail is one item with its test history, oldest first.
type patItemDetail struct {
	patItemView
	Tests []pat.Test `json:"tests"`
}

// patItemsView is a list of items.
type patItemsView struct {
	Items []patItemView `json:"items"`
}

// patView is GET /api/v1/pat, and the stream's state's pat: every item, those due
// for a retest within the configured window (and those out of date), and whether
// the user may change the register.
type patView struct {
	Items         []patItemView `json:"items"`
	Due           []patItemView `json:"due"`
	DueWithinDays int           `json:"dueWithinDays"`
	CanChange     bool          `json:"canChange"`
}

func (s *Server) patItemOf(d *agent.Describer, it pat.Item) patItemView {
	v := patItemView{AssetID: it.AssetID, OwnerCRN: it.OwnerCRN, Owner: "the AP", Description: it.Description, Category: it.Category,
		Class: it.Class, Status: it.Status, StatusText: statusWords[it.Status], RetestDue: it.RetestDue, Flags: []pat.Flag{},
		Authorisation: it.Authorisation, Withdrawal: it.Withdrawal, RegisteredBy: it.RegisteredBy, RegisteredAt: it.RegisteredAt}
	if v.StatusText == "" {
		v.StatusText = it.Status
	}
	if it.OwnerCRN != "" {
		p := personOf(d, it.OwnerCRN, "", "")
		v.Person, v.Owner = &p, p.Label
	}
	if t, ok := it.Latest(); ok {
		v.LastTested = t.Record.TestedAt.UTC().Format(time.DateOnly)
		v.Flagged = t.Outcome == pat.OutcomeFlagged
		if t.Flags != nil {
			v.Flags = t.Flags
		}
	}
	return v
}

func (s *Server) patItemsOf(its []pat.Item) []patItemView {
	d := s.describer()
	out := make([]patItemView, 0, len(its))
	for _, it := range its {
		out = append(out, s.patItemOf(d, it))
	}
	return out
}

func (s *Server) patDetailOf(it pat.Item) patItemDetail {
	v := patItemDetail{patItemView: s.patItemOf(s.describer(), it), Tests: slices.Clone(it.Tests)}
	if v.Tests == nil {
		v.Tests = []pat.Test{}
	}
	return v
}

func (s *Server) patNow(r *http.Request) (patView, error) {
	ctx, reg := r.Context(), s.o.Site.PAT()
	all, err := reg.Items(ctx, agent.ItemFilter{})
	if err != nil {
		return patView{}, err
	}
	due, err := reg.Due(ctx, 0)
	if err != nil {
		return patView{}, err
	}
	return patView{Items: s.patItemsOf(all), Due: s.patItemsOf(due), DueWithinDays: int(reg.Config().DueWithin / (24 * time.Hour)),
		CanChange: s.policy.Allows(who(r).user.Role, staff.PermPAT)}, nil
}

func (s *Server) patOverview(w http.ResponseWriter, r *http.Request) {
	v, err := s.patNow(r)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

// patStatus maps a refusal to its HTTP status: 400 a value that is not valid (an
// owner not on the roster among them), 404 no such item, 409 not now (a label
// registered already, a test recorded already or out of date, authorising what
// is not a pass in date, a prohibited item).
func patStatus(err error) int {
	switch {
	case errors.Is(err, pat.ErrNoItem):
		return http.StatusNotFound
	case errors.Is(err, pat.ErrState), errors.Is(err, pat.ErrOutOfDate), errors.Is(err, pat.ErrProhibited), errors.Is(err, pat.ErrDuplicate):
		return http.StatusConflict
	case errors.Is(err, agent.ErrPAT), errors.Is(err, pat.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable // the journal, or the agent still starting
}

// patFilter reads the query's crn, label and status.
func patFilter(r *http.Request) (agent.ItemFilter, error) {
	q := r.URL.Query()
	f := agent.ItemFilter{CRN: strings.ToUpper(strings.TrimSpace(q.Get("crn"))), Label: q.Get("label"), Status: q.Get("status")}
	if _, ok := statusWords[f.Status]; f.Status != "" && !ok {
		return f, fmt.Errorf("status %q: want one of %s", f.Status, strings.Join(slices.Sorted(maps.Keys(statusWords)), ", "))
	}
	return f, nil
}

func (s *Server) patItems(w http.ResponseWriter, r *http.Request) {
	f, err := patFilter(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	its, err := s.o.Site.PAT().Items(r.Context(), f)
	if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, patItemsView{Items: s.patItemsOf(its)})
}

func (s *Server) patItem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	it, ok, err := s.o.Site.PAT().Item(r.Context(), id)
	switch {
	case err != nil:
		httpjson.Error(w, patStatus(err), err.Error())
	case !ok:
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no electrical item with label %q", id))
	default:
		httpjson.Write(w, http.StatusOK, s.patDetailOf(it))
	}
}

// patRegisterRequest is POST /api/v1/pat/items's body.
type patRegisterRequest struct {
	AssetID     string     `json:"assetId"`
	OwnerCRN    string     `json:"ownerCrn"`
	Description string     `json:"description"`
	Category    string     `json:"category"`
	Class       fpat.Class `json:"class"`
}

func (s *Server) patRegister(w http.ResponseWriter, r *http.Request) {
	var in patRegisterRequest
	if !readJSON(w, r, &in) {
		return
	}
	it, err := s.o.Site.PAT().Register(r.Context(), pat.Registration{AssetID: in.AssetID, OwnerCRN: strings.ToUpper(strings.TrimSpace(in.OwnerCRN)),
		Description: in.Description, Category: in.Category, Class: in.Class, By: who(r).user.Name})
	if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusCreated, s.patDetailOf(it))
}

// patTestView is POST /api/v1/pat/items/{id}/tests's answer: the test as the
// register took it (flagged, and why, when its figures fail the limits though it
// says pass) and the item after it.
type patTestView struct {
	Outcome string        `json:"outcome"`
	Flagged bool          `json:"flagged"`
	Flags   []pat.Flag    `json:"flags"`
	Item    patItemDetail `json:"item"`
}

func (s *Server) patTest(w http.ResponseWriter, r *http.Request) {
	var in fpat.Record
	if !readJSON(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	if in.AssetID != "" && in.AssetID != id {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("assetId %q is not the item's label %q: leave it out", in.AssetID, id))
		return
	}
	in.AssetID = id
	it, err := s.o.Site.PAT().Test(r.Context(), in, who(r).user.Name)
	if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	v := patTestView{Flags: []pat.Flag{}, Item: s.patDetailOf(it)}
	for _, t := range it.Tests {
		if t.Record.TestedAt.Equal(in.TestedAt) {
			v.Outcome, v.Flagged = t.Outcome, t.Outcome == pat.OutcomeFlagged
			if t.Flags != nil {
				v.Flags = t.Flags
			}
		}
	}
	httpjson.Write(w, http.StatusCreated, v)
}

// patImportView is POST /api/v1/pat/import's answer to a file it imported.
type patImportView struct {
	Layout string `json:"layout"`
	// Records is how many records the file had; Tested how many tests were
	// recorded, Registered how many items were new to the register, Skipped how
	// many records were recorded already (the file imported before).
	Records    int `json:"records"`
	Tested     int `json:"tested"`
	Registered int `json:"registered"`
	Skipped    int `json:"skipped"`
}

// patImportRefusal is its answer to a file it refused: nothing was imported.
type patImportRefusal struct {
	Error string           `json:"error"`
	Lines []fpat.LineError `json:"lines"`
	More  int              `json:"more,omitempty"`
}

// patLayouts are the layouts ?layout= names.
var patLayouts = map[string]fpat.Layout{"": fpat.LayoutDetect, "detect": fpat.LayoutDetect,
	"apedge": fpat.LayoutApedge, "patorganiser": fpat.LayoutPATorganiser}

func (s *Server) patImport(w http.ResponseWriter, r *http.Request) {
	layout, ok := patLayouts[r.URL.Query().Get("layout")]
	if !ok {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("layout %q: want apedge, patorganiser or detect (the header row says which)", r.URL.Query().Get("layout")))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		httpjson.Error(w, http.StatusUnsupportedMediaType, "the body must be the CSV file, sent as text/csv")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, fpat.MaxFileBytes+1))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	if layout == fpat.LayoutDetect {
		if h, err := csv.NewReader(bytes.NewReader(body)).Read(); err == nil {
			layout, _ = fpat.DetectLayout(h) // ReadCSV says why, if it is neither
		}
	}
	records, err := fpat.ReadCSV(bytes.NewReader(body), layout)
	var bad *fpat.ImportError
	if errors.As(err, &bad) {
		httpjson.Write(w, http.StatusUnprocessableEntity, patImportRefusal{Error: bad.Error(), Lines: bad.Lines, More: bad.More})
		return
	} else if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	ds, err := s.o.Site.PAT().Import(r.Context(), records, who(r).user.Name)
	var refused *pat.ImportError
	if errors.As(err, &refused) {
		httpjson.Write(w, http.StatusUnprocessableEntity, refusalOf(body, refused))
		return
	} else if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	v := patImportView{Layout: layout.String(), Records: len(records)}
	for _, d := range ds {
		switch d.Type {
		case pat.TypeRegistered:
			v.Registered++
		case pat.TypeTested:
			v.Tested++
		}
	}
	v.Skipped = v.Records - v.Tested
	httpjson.Write(w, http.StatusOK, v)
}

// refusalOf is the register's refusal of the records of file body, each bad
// record named by its line in the file (the line its row starts on): record i is
// the file's row i+1, the header row first.
func refusalOf(body []byte, e *pat.ImportError) patImportRefusal {
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	var lines []int // of the data rows
	for row := 0; ; row++ {
		if _, err := cr.Read(); err != nil {
			break // ReadCSV read the whole file already
		}
		if row > 0 {
			l, _ := cr.FieldPos(0)
			lines = append(lines, l)
		}
	}
	v := patImportRefusal{Lines: []fpat.LineError{}}
	for _, p := range e.Problems {
		le := fpat.LineError{Reason: p.Err.Error()}
		if p.Index >= 0 && p.Index < len(lines) {
			le.Line = lines[p.Index]
		}
		if len(v.Lines) < fpat.MaxListed {
			v.Lines = append(v.Lines, le)
		} else {
			v.More++
		}
	}
	v.Error = (&fpat.ImportError{Lines: v.Lines, More: v.More}).Error()
	return v
}

// patAct answers a change to item {id} made by do with the item after it.
func (s *Server) patAct(w http.ResponseWriter, r *http.Request, body any, do func(reg *agent.PATRegister, id, by string) (pat.Item, error)) {
	if !readJSON(w, r, body) {
		return
	}
	it, err := do(s.o.Site.PAT(), r.PathValue("id"), who(r).user.Name)
	if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, s.patDetailOf(it))
}

func (s *Server) patAuthorise(w http.ResponseWriter, r *http.Request) {
	s.patAct(w, r, &struct{}{}, func(reg *agent.PATRegister, id, by string) (pat.Item, error) {
		return reg.Authorise(r.Context(), id, by)
	})
}

func (s *Server) patWithdraw(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	s.patAct(w, r, &in, func(reg *agent.PATRegister, id, by string) (pat.Item, error) {
		return reg.Withdraw(r.Context(), id, in.Reason, by)
	})
}

// patDueView is GET /api/v1/pat/due's answer.
type patDueView struct {
	DueWithinDays int           `json:"dueWithinDays"`
	Items         []patItemView `json:"items"`
}

func (s *Server) patDue(w http.ResponseWriter, r *http.Request) {
	reg := s.o.Site.PAT()
	its, err := reg.Due(r.Context(), 0)
	if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, patDueView{DueWithinDays: int(reg.Config().DueWithin / (24 * time.Hour)), Items: s.patItemsOf(its)})
}

// patHandBackView is GET /api/v1/pat/handback/{crn}'s answer.
type patHandBackView struct {
	CRN    string        `json:"crn"`
	Person personView    `json:"person"`
	Items  []patItemView `json:"items"`
}

func (s *Server) patHandBack(w http.ResponseWriter, r *http.Request) {
	crn := strings.ToUpper(r.PathValue("crn"))
	its, err := s.o.Site.PAT().HandBack(r.Context(), crn)
	if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, patHandBackView{CRN: crn, Person: personOf(s.describer(), crn, "", ""), Items: s.patItemsOf(its)})
}

// patLabel is one line of the label list: what a PAT label on the item says.
type patLabel struct {
	AssetID     string     `json:"assetId"`
	Description string     `json:"description"`
	Owner       string     `json:"owner"`
	Class       fpat.Class `json:"class"`
	Tested      string     `json:"tested,omitempty"`
	Tester      string     `json:"tester,omitempty"`
	RetestDue   string     `json:"retestDue,omitempty"`
	StatusText  string     `json:"statusText"`
}

// patLabelsView is GET /api/v1/pat/labels's answer: the labels of the items the
// query selects (as GET /api/v1/pat/items), in order of label, for the dashboard
// to lay out on a printable page.
type patLabelsView struct {
	Site   string     `json:"site"`
	Now    time.Time  `json:"now"`
	Labels []patLabel `json:"labels"`
}

func (s *Server) patLabels(w http.ResponseWriter, r *http.Request) {
	f, err := patFilter(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	its, err := s.o.Site.PAT().Items(r.Context(), f)
	if err != nil {
		httpjson.Error(w, patStatus(err), err.Error())
		return
	}
	d := s.describer()
	v := patLabelsView{Site: s.o.Site.Status().Site, Now: s.clock.Now(), Labels: []patLabel{}}
	for _, it := range its {
		iv := s.patItemOf(d, it)
		l := patLabel{AssetID: it.AssetID, Description: it.Description, Owner: iv.Owner, Class: it.Class, RetestDue: it.RetestDue,
			StatusText: iv.StatusText}
		if t, ok := it.Latest(); ok {
			l.Tested, l.Tester = iv.LastTested, t.Record.Tester
		}
		v.Labels = append(v.Labels, l)
	}
	httpjson.Write(w, http.StatusOK, v)
}
