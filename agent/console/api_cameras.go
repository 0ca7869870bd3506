package console

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/apedge/apedge/internal/httpjson"
)

// CCTV cameras: GET /api/v1/cameras lists every camera of the bridge's configuration
// with its last reported status (agent.CameraView; verdict "unknown" for one the
// bridge has not reported on), the same list as the cameras of GET /api/v1/devices and
// of the stream's state; GET /api/v1/cameras/{id}/thumbnail is its latest picture, a
// small JPEG. Both are for every signed-in role, as the doors are.

// cameras is GET /api/v1/cameras.
func (s *Server) cameras(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, s.o.Site.Devices().Cameras)
}

// cameraThumbnail is GET /api/v1/cameras/{id}/thumbnail: the JPEG, never cached (a
// page asks again when the camera's thumbnailAt changes), or 404 saying why there is
// none.
func (s *Server) cameraThumbnail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	th, ok := s.o.Site.CameraThumbnail(id)
	if !ok {
		for _, c := range s.o.Site.Devices().Cameras {
			if c.ID == id {
				why := c.Picture.Why
				if why == "" {
					why = "none has come from the bridge yet"
				}
				httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("camera %s has no picture: %s", id, why))
				return
			}
		}
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no camera %q is configured", id))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(th.JPEG)))
	if !th.At.IsZero() {
		h.Set("Last-Modified", th.At.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(http.StatusOK)
	w.Write(th.JPEG)
}
