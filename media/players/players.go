// Package players serves the page at /players/ that tries a stream in a
// browser: play it over WHEP or HTTP-FLV, publish the camera over WHIP.
//
// The page is static and embedded. HTTP-FLV playback uses mpegts.js, a
// maintained FLV-to-MSE player, vendored from npm at build time (`make
// vendor` puts it in static/vendor/); a binary built without it serves the
// page all the same, and the page says that HTTP-FLV needs it.
package players

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Prefix is the path the page is served under.
const Prefix = "/players/"

// Handler serves the page and its scripts under Prefix.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
