// Package console is the operator's page at /console/ on the API port: one
// static page that reads the JSON API (workers, streams, clients, reloads,
// balancer decisions) every two seconds, draws CPU and bandwidth per worker
// over the last minutes in plain SVG, and kicks clients. No framework and no
// build step: the page is embedded as it is.
package console

import (
	"embed"
	"net/http"
)

//go:embed index.html
var files embed.FS

// Handler serves the page under /console/.
func Handler() http.Handler {
	fs := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data:")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		if r.URL.Path != "/console/" {
			http.NotFound(w, r)
			return
		}
		fs.ServeHTTP(w, r2)
	})
}
