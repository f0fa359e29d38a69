package httpflv

import (
	"net/http"

	"streamedge/media/access"
	"streamedge/media/hub"
)

// head answers a HEAD of a stream URL with the headers a GET would get and
// no body: 200 when a worker of the host has the stream, 404 when none
// does. It asks only what is known: a HEAD starts no relay from another
// worker and no pull from an origin (an edge answers 404 for a stream it
// does not pull yet, which a GET would pull). A gate's on_play, if it
// admitted the HEAD, is paired with its on_stop at once.
func (h *Handler) head(w http.ResponseWriter, r *http.Request, key hub.Key, gated *access.Request) {
	defer h.notifyStop(gated)
	code := http.StatusOK
	if !h.hub.Published(key) {
		code = http.StatusNotFound
	}
	h.log.Debug("flv head", "client", r.RemoteAddr, "stream", key.String(), "status", code)
	if code != http.StatusOK {
		jsonError(w, code, "stream "+key.App+"/"+key.Name+" is not published")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "video/x-flv")
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Server", "streamedge")
	w.WriteHeader(code)
}
