package httpjson_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apedge/apedge/internal/httpjson"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name   string
		write  func(http.ResponseWriter)
		status int
		body   string
	}{
		{"value", func(w http.ResponseWriter) { httpjson.Write(w, http.StatusOK, map[string]int{"n": 1}) }, 200, `{"n":1}` + "\n"},
		{"error", func(w http.ResponseWriter) { httpjson.Error(w, http.StatusForbidden, "no <role>") }, 403, `{"error":"no \u003crole\u003e"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.write(rec)
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tt.status, tt.body)
			}
			if ct, cc := rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
				t.Errorf("headers %q %q", ct, cc)
			}
		})
	}
}
