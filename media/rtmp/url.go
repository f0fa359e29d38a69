package rtmp

import (
	"fmt"
	"net/url"
	"strings"

	"streamedge/media/connlog"
	"streamedge/media/hub"
)

// connectTarget is what a connect command names: the vhost and the app.
type connectTarget struct {
	Vhost string
	App   string
}

// parseConnect takes the app and tcUrl of a connect command. The app comes
// from `app`, or from tcUrl's path when a client sends only tcUrl (some do,
// with or without a port, some with an http:// scheme). The vhost comes from
// a ?vhost= parameter on either, else the default vhost.
func parseConnect(app, tcURL string) (connectTarget, error) {
	t := connectTarget{Vhost: hub.DefaultVhost}
	var tcQuery url.Values
	if tcURL != "" {
		u, err := url.Parse(tcURL)
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // its message repeats the whole URL
		}
		if err != nil {
			return t, fmt.Errorf("bad tcUrl %q: %v", connlog.Clip(tcURL), err)
		}
		tcQuery = u.Query()
		if app == "" {
			app = strings.Trim(u.Path, "/")
		}
	}
	app, appQuery, _ := strings.Cut(app, "?")
	app = strings.Trim(app, "/")
	if !hub.ValidName(app) {
		return t, fmt.Errorf("bad app %q", connlog.Clip(app))
	}
	t.App = app
	if v := vhostParam(appQuery); v != "" {
		t.Vhost = v
	} else if v := tcQuery.Get("vhost"); v != "" {
		t.Vhost = v
	}
	if !hub.ValidName(t.Vhost) || strings.Contains(t.Vhost, "/") {
		return t, fmt.Errorf("bad vhost %q", connlog.Clip(t.Vhost))
	}
	return t, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

func vhostParam(rawQuery string) string {
	q, _ := url.ParseQuery(rawQuery)
	return q.Get("vhost")
}

// streamKey makes the hub key for a publish or play of name on t. The
// stream's query string (tokens and such) is not part of the key, but a
// ?vhost= in it wins over the connect's.
//
// The stream is the URL's last path segment and the app all before it, as
// HTTP-FLV reads /{app}/{stream}.flv. Clients split a longer path their own
// way (ffmpeg sends app "a/b" and stream "c/s" for rtmp://host/a/b/c/s), so
// segments of the stream name move to the app.
func streamKey(t connectTarget, name string) (hub.Key, error) {
	name, query, _ := strings.Cut(name, "?")
	app := t.App
	if dir, base, ok := cutLast(name, "/"); ok {
		app, name = app+"/"+dir, base
	}
	key := hub.Key{Vhost: t.Vhost, App: app, Name: name}
	if v := vhostParam(query); v != "" {
		key.Vhost = v
	}
	if !hub.ValidName(key.Name) {
		return key, fmt.Errorf("bad stream name %q", connlog.Clip(name))
	}
	if !hub.ValidName(key.App) {
		return key, fmt.Errorf("bad app %q", connlog.Clip(key.App))
	}
	if !hub.ValidName(key.Vhost) || strings.Contains(key.Vhost, "/") {
		return key, fmt.Errorf("bad vhost %q", connlog.Clip(key.Vhost))
	}
	return key, nil
}
