package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// lineCounter counts the lines written through it, feeding a progress bar if any.
type lineCounter struct {
	n       int64
	partial bool // the last line has no newline yet
	bar     *progressbar.ProgressBar
}

// Write counts the newlines in p.
func (l *lineCounter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	k := int64(bytes.Count(p, []byte{'\n'}))
	l.n += k
	l.partial = p[len(p)-1] != '\n'
	if l.bar != nil && k > 0 {
		l.bar.Add64(k)
	}
	return len(p), nil
}

// lines is the number of lines, a last one without a newline included.
func (l *lineCounter) lines() int64 {
	if l.partial {
		return l.n + 1
	}
	return l.n
}

// cmdExport is apedge ctl export: the whole signed journal into a file.
func cmdExport(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("export", `apedge ctl export -o FILE

Downloads the whole signed journal (manager, admin), one envelope per line exactly as
stored, into FILE (mode 0600: it names residents), by way of FILE.partial so that a
broken download never passes for a whole one. Shows progress on a terminal. Check it
with apedge verify -pubkey site.pub FILE.`)
	out := fs.String("o", "", "the `file` to write")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "o", *out); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/journal/export", nil) // no timeout: it may be long
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	total := int64(-1)
	if n, err := strconv.ParseInt(resp.Header.Get("X-Apedge-Events"), 10, 64); err == nil && n >= 0 {
		total = n
	}
	n, err := download(e, resp.Body, total, *out)
	if err != nil {
		return err
	}
	if e.g.json {
		b, _ := json.Marshal(map[string]any{"file": *out, "events": n})
		return printJSON(e.Stdout, b)
	}
	_, err = fmt.Fprintf(e.Stdout, "check it with: apedge verify -pubkey site.pub %s\n", *out)
	return err
}

// download writes body, an export of total events (-1 if the agent did not say), to
// the file out by way of out.partial, with a progress bar on a terminal. It returns
// the number of events written; when it fails it leaves neither file.
func download(e *runEnv, body io.Reader, total int64, out string) (int64, error) {
	partial := out + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	count := &lineCounter{}
	if cli.IsTerminal(e.Stderr) {
		count.bar = newProgress(e.Stderr, total)
	}
	_, err = io.Copy(io.MultiWriter(f, count), body)
	n := count.lines()
	if err == nil && total >= 0 && n != total {
		err = fmt.Errorf("the agent sent %d of %d events", n, total)
	}
	if err == nil && n == 0 {
		err = errors.New("the agent sent no events")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, out)
	}
	if err != nil {
		os.Remove(partial) // a partial export must not be left to pass for a whole one
		if count.bar != nil {
			count.bar.Exit()
			fmt.Fprintln(e.Stderr)
		}
		return n, fmt.Errorf("export to %s: %w", out, err)
	}
	if count.bar != nil {
		count.bar.Finish()
	} else {
		fmt.Fprintf(e.Stderr, "exported %d events to %s\n", n, out)
	}
	return n, nil
}

// newProgress is the export's progress bar on the terminal w, of total events (-1:
// unknown).
func newProgress(w io.Writer, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("exporting"),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}
