package rtmp_test

import (
	"errors"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/rtmp"
)

func TestAdmitRefusesConnect(t *testing.T) {
	addr, srv := startServerWith(t)
	var seen rtmp.ConnectInfo
	srv.SetAdmit(func(ci rtmp.ConnectInfo) *rtmp.Refusal {
		seen = ci
		return &rtmp.Refusal{Reason: "host_full", Description: "server busy: every worker is over 80% CPU", Redirect: "rtmp://peer:1935/live"}
	})
	_, err := rtmp.Dial(ctxFor(t, 5*time.Second), "rtmp://"+addr+"/live/s")
	var st *rtmp.StatusError
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" || st.Description != "server busy: every worker is over 80% CPU" {
		t.Fatalf("connect: %v, want NetConnection.Connect.Rejected with the description", err)
	}
	if seen.App != "live" || seen.Publisher {
		t.Errorf("admit saw %+v, want app live, not a publisher (the Go client says LNX)", seen)
	}
	srv.SetAdmit(nil)
	c, err := rtmp.Dial(ctxFor(t, 5*time.Second), "rtmp://"+addr+"/live/s")
	if err != nil {
		t.Fatalf("connect after admitting again: %v", err)
	}
	c.Close()
}

// A play refused where the stream is known (a full host of a cluster)
// ends with an onStatus that names where to go, SRS's RTMP 302.
func TestAdmitPlayRefusesPlay(t *testing.T) {
	addr, srv := startServerWith(t)
	seen := make(chan rtmp.PlayInfo, 1)
	srv.SetAdmitPlay(func(pi rtmp.PlayInfo) *rtmp.Refusal {
		seen <- pi
		return &rtmp.Refusal{Reason: "host_full", Description: "server busy; play it from host e2", Redirect: "rtmp://e2:1935/live"}
	})
	ctx := ctxFor(t, 5*time.Second)
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/s")
	if err != nil {
		t.Fatalf("connect: %v, want it admitted (only the play is put to AdmitPlay)", err)
	}
	defer c.Close()
	err = c.Play(ctx)
	var st *rtmp.StatusError
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" || st.Description != "server busy; play it from host e2" ||
		st.Redirect != "rtmp://e2:1935/live" {
		t.Fatalf("play: %v, want NetConnection.Connect.Rejected with the description and redirect", err)
	}
	if pi := <-seen; pi.Stream.App != "live" || pi.Stream.Name != "s" || pi.Addr == "" {
		t.Errorf("admit saw %+v, want live/s and the client's address", pi)
	}
}

// The newest player is shed with an onStatus that says why; the older one
// plays on.
func TestShedNewest(t *testing.T) {
	addr, srv := startServerWith(t)
	ctx := ctxFor(t, 10*time.Second)
	url := "rtmp://" + addr + "/live/shed"
	pub, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	seq := []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}
	if err := pub.WriteMedia(flv.TagVideo, 0, seq); err != nil {
		t.Fatal(err)
	}
	var players []*rtmp.Client
	for range 2 {
		p, err := rtmp.Dial(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Play(ctx); err != nil {
			t.Fatal(err)
		}
		players = append(players, p)
	}
	// A play is a session once the server has stored it, just after the
	// client saw Play.Start.
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := 0
		for _, ses := range srv.Sessions() {
			if ses.Kind == "rtmp_play" {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 players listed", n)
		}
		time.Sleep(time.Millisecond)
	}
	if !srv.ShedNewest("server busy: moving players to a cooler worker") {
		t.Fatal("nothing shed")
	}
	players[1].Conn().SetDeadline(time.Now().Add(5 * time.Second))
	var st *rtmp.StatusError
	for {
		_, err := players[1].ReadMedia()
		if err == nil {
			continue
		}
		if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Closed" {
			t.Fatalf("shed player: %v, want an onStatus NetConnection.Connect.Closed first", err)
		}
		break
	}
	if err := pub.WriteMedia(flv.TagVideo, 40, []byte{0x17, 1, 0, 0, 0, 0xaa}); err != nil {
		t.Fatal(err)
	}
	players[0].Conn().SetDeadline(time.Now().Add(5 * time.Second))
	for {
		msg, err := players[0].ReadMedia()
		if err != nil {
			t.Fatalf("the older player was hurt: %v", err)
		}
		if msg.TypeID == flv.TagVideo && msg.Timestamp == 40 {
			break
		}
	}
}
