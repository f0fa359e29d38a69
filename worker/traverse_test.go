package worker

import (
	"context"
	"strings"
	"testing"

	"streamedge/configs"
	"streamedge/media/access"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp/amf"
)

func TestTokenTraverse(t *testing.T) {
	origin, connects := mediatest.RTMPConnectServer(t, func(obj amf.Object) bool {
		tc, _ := obj["tcUrl"].(string)
		return strings.HasSuffix(tc, "?token=good")
	})
	dead := mediatest.GarbageServer(t)
	cfg, err := configs.Parse("edge.yaml", []byte("vhosts:\n"+
		"  __defaultVhost__:\n    cluster: {mode: remote, origin: ["+origin+"], token_traverse: true}\n"+
		"  open.v:\n    cluster: {mode: remote, origin: ["+origin+"]}\n"+
		"  dead.v:\n    cluster: {mode: remote, origin: ["+dead+"], token_traverse: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := newTokenTraverse(cfg)
	connect := func(vhost, param string) error {
		return g.Admit(context.Background(), &access.Request{Action: access.Connect, Vhost: vhost, App: "live", Param: param})
	}
	if err := connect("__defaultVhost__", "token=good"); err != nil {
		t.Fatalf("good token: %v", err)
	}
	if obj := <-connects; obj["tcUrl"] != "rtmp://"+origin+"/live?token=good" || obj["srs_pid"] == nil {
		t.Fatalf("the origin was asked with %v", obj)
	}
	err = connect("__defaultVhost__", "token=bad")
	if d, ok := access.IsDenied(err); !ok || d.Reason != ReasonTokenTraverse || !strings.Contains(d.Detail, "bad token") {
		t.Fatalf("bad token: %v", err)
	}
	<-connects
	if err := connect("open.v", "token=bad"); err != nil || len(connects) != 0 {
		t.Fatalf("a vhost without token_traverse was checked: %v", err)
	}
	if _, ok := access.IsDenied(connect("dead.v", "token=good")); !ok {
		t.Fatal("an origin that cannot answer let the connect through")
	}
	// Plays and publishes are not the traverse's business.
	if err := g.Admit(context.Background(), &access.Request{Action: access.Play, Vhost: "__defaultVhost__"}); err != nil {
		t.Fatal(err)
	}
}
