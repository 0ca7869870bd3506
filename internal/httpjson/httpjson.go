// Package httpjson writes the JSON answers of apedge's HTTP APIs (the site console's
// and central's query API) one way: content type, no caching of answers that hold
// evidence or personal data, and the status before the body.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers with status and v encoded as JSON. Answers are never cached: they
// describe a site as it is now, and may name people.
func Write(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status is sent; a client gone mid-body has nothing left to be told.
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers with status and {"error": msg}.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, map[string]string{"error": msg})
}
