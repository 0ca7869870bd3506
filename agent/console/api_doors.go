package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/httpjson"
)

// Holds and the site's lockdown, beside the momentary unlock (api.go's unlock): a
// door held unlocked or locked for a period, ended early with mode "none"; a site
// lockdown and its release, for managers. Every order is journaled by the agent
// (door.held, door.hold-ended, site.lockdown, site.lockdown-released) with who gave it
// and why, whatever the door answered. A door's hold shows in GET /api/v1/doors (the
// door's hold, holdUntil, holdBy, holdReason, as the door reports them); the site's
// lockdown in GET /api/v1/site/lockdown.

// maxHold is the longest hold the console orders: the bridge's default maxHold.
const maxHold = agent.LockdownFor

// holdSite is what the hold endpoints need of the Site: the agent has it.
type holdSite interface {
	HoldDoor(ctx context.Context, door, by, reason, mode string, until time.Time) (sitebus.Result, error)
	Lockdown(ctx context.Context, by, reason string) (agent.LockdownOrder, error)
	ReleaseLockdown(ctx context.Context, by, reason string) (agent.LockdownOrder, error)
	LockdownState() agent.LockdownView
}

// holder returns the Site as a holdSite, or writes 501 and returns nil.
func (s *Server) holder(w http.ResponseWriter) holdSite {
	h, ok := s.o.Site.(holdSite)
	if !ok {
		httpjson.Error(w, http.StatusNotImplemented, "this site cannot hold doors")
		return nil
	}
	return h
}

// holdMode "none" ends a door's hold.
const holdNone = "none"

// holdDoor is POST /api/v1/doors/{id}/hold.
func (s *Server) holdDoor(w http.ResponseWriter, r *http.Request) {
	h := s.holder(w)
	if h == nil {
		return
	}
	id := r.PathValue("id")
	var in struct {
		Mode    string    `json:"mode"`
		Minutes int       `json:"minutes"`
		Until   time.Time `json:"until"`
		Reason  string    `json:"reason"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	known := false
	for _, d := range s.o.Site.Devices().Doors {
		known = known || d.ID == id
	}
	now := s.clock.Now()
	until := in.Until
	if in.Minutes != 0 {
		until = now.Add(time.Duration(in.Minutes) * time.Minute)
	}
	switch {
	case !known:
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no door %q has reported to the agent", id))
		return
	case in.Mode != sitebus.HoldUnlocked && in.Mode != sitebus.HoldLocked && in.Mode != holdNone:
		httpjson.Error(w, http.StatusBadRequest, "mode: say unlocked (held open to all), locked (entry refused, exit always allowed) or none (end the hold)")
		return
	case strings.TrimSpace(in.Reason) == "":
		httpjson.Error(w, http.StatusBadRequest, "reason: say why the door is held")
		return
	case in.Mode != holdNone && in.Minutes != 0 && !in.Until.IsZero():
		httpjson.Error(w, http.StatusBadRequest, "minutes, until: give one, not both")
		return
	case in.Mode != holdNone && (in.Minutes < 0 || in.Minutes > int(maxHold/time.Minute)):
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("minutes: 1 to %d", int(maxHold/time.Minute)))
		return
	case in.Mode != holdNone && (!until.After(now) || until.Sub(now) > maxHold):
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("until: a time in the next %v (or minutes: how long)", maxHold))
		return
	case in.Mode == holdNone && (in.Minutes != 0 || !in.Until.IsZero()):
		httpjson.Error(w, http.StatusBadRequest, "minutes, until: not for mode none, which ends the hold now")
		return
	}
	mode := in.Mode
	if mode == holdNone {
		mode, until = "", time.Time{}
	}
	res, err := h.HoldDoor(r.Context(), id, who(r).user.Name, clip(in.Reason, sitebus.MaxHoldReason), mode, until)
	out := map[string]any{"door": id, "mode": in.Mode, "result": res.Status, "detail": res.Error}
	if mode != "" {
		out["until"] = until.UTC()
	}
	switch {
	case errors.Is(err, agent.ErrInLockdown):
		httpjson.Error(w, http.StatusConflict, "the site is in lockdown: a manager must release it first")
	case err != nil:
		if res.Status == "" {
			out["result"] = "no-answer"
		}
		out["detail"] = err.Error()
		httpjson.Write(w, http.StatusBadGateway, out)
	default:
		httpjson.Write(w, http.StatusOK, out)
	}
}

// lockdown is POST /api/v1/site/lockdown.
func (s *Server) lockdown(w http.ResponseWriter, r *http.Request) {
	s.siteOrder(w, r, "say why the site is locked down", func(h holdSite, by, reason string) (agent.LockdownOrder, error) {
		return h.Lockdown(r.Context(), by, reason)
	})
}

// releaseLockdown is POST /api/v1/site/release.
func (s *Server) releaseLockdown(w http.ResponseWriter, r *http.Request) {
	s.siteOrder(w, r, "say why the lockdown is released", func(h holdSite, by, reason string) (agent.LockdownOrder, error) {
		return h.ReleaseLockdown(r.Context(), by, reason)
	})
}

// siteOrder reads {reason}, gives the order and answers with each door's result:
// 200 when every door took it, 502 (with the same body and a detail) when some did
// not, 409 when no door has reported.
func (s *Server) siteOrder(w http.ResponseWriter, r *http.Request, noReason string, do func(h holdSite, by, reason string) (agent.LockdownOrder, error)) {
	h := s.holder(w)
	if h == nil {
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Reason) == "" {
		httpjson.Error(w, http.StatusBadRequest, "reason: "+noReason)
		return
	}
	o, err := do(h, who(r).user.Name, clip(in.Reason, sitebus.MaxHoldReason))
	switch {
	case errors.Is(err, agent.ErrNoDoors):
		httpjson.Error(w, http.StatusConflict, "no door has reported to the agent: is the bridge running?")
	case err != nil:
		httpjson.Write(w, http.StatusBadGateway, map[string]any{"order": o, "detail": err.Error()})
	default:
		httpjson.Write(w, http.StatusOK, map[string]any{"order": o, "detail": ""})
	}
}

// lockdownState is GET /api/v1/site/lockdown.
func (s *Server) lockdownState(w http.ResponseWriter, _ *http.Request) {
	h := s.holder(w)
	if h == nil {
		return
	}
	httpjson.Write(w, http.StatusOK, h.LockdownState())
}
