package openapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
)

// Handler wraps next so that every response it writes is checked against the
// document: its status and content type must be declared for the operation, and a
// JSON body must match the schema (CheckResponse). Each mismatch is passed to report
// (which must be safe to call from several goroutines); the response reaches the
// client unchanged. JSON bodies are held until the handler returns; others (an
// event stream, an export) pass straight through. It is for tests: a test console,
// or a reverse proxy in front of a real one.
func (d *Doc) Handler(next http.Handler, report func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &checkWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if !cw.wrote {
			cw.WriteHeader(http.StatusOK)
		}
		if cw.json {
			w.Write(cw.body.Bytes())
		}
		if err := d.checkExchange(r.Method, r.URL.Path, cw.status, cw.ctype, cw.json, cw.body.Bytes(), cw.empty); err != nil {
			report(err)
		}
	})
}

// checkExchange checks one response against the document.
func (d *Doc) checkExchange(method, path string, status int, ctype string, isJSON bool, body []byte, empty bool) error {
	if _, ok := d.pattern(method, path); !ok {
		return fmt.Errorf("openapi: %s %s %d: no operation in the document", method, path, status)
	}
	if isJSON {
		empty = false // an empty JSON body is checked, and fails, as not JSON
	}
	if err := d.CheckContentType(method, path, status, ctype, empty); err != nil {
		return err
	}
	if isJSON {
		return d.CheckResponse(method, path, status, body)
	}
	return nil
}

// checkWriter holds a JSON response's body for Handler and passes others through.
type checkWriter struct {
	http.ResponseWriter
	wrote  bool
	status int
	ctype  string
	json   bool // the body is held in body
	empty  bool // nothing written (for bodies not held)
	body   bytes.Buffer
}

// WriteHeader notes the status and content type; a JSON response's header is sent
// at once, its body when the handler returns.
func (c *checkWriter) WriteHeader(code int) {
	if c.wrote {
		return
	}
	c.wrote, c.status, c.empty = true, code, true
	c.ctype = c.Header().Get("Content-Type")
	c.json = strings.HasPrefix(strings.ToLower(c.ctype), "application/json")
	c.ResponseWriter.WriteHeader(code)
}

// Write holds a JSON body and passes any other through.
func (c *checkWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		if c.Header().Get("Content-Type") == "" {
			c.Header().Set("Content-Type", http.DetectContentType(b))
		}
		c.WriteHeader(http.StatusOK)
	}
	if c.json {
		return c.body.Write(b)
	}
	if len(b) > 0 {
		c.empty = false
	}
	return c.ResponseWriter.Write(b)
}

// Flush flushes a body that is not held (an event stream).
func (c *checkWriter) Flush() {
	if c.json {
		return
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap is the wrapped writer, for http.ResponseController.
func (c *checkWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
