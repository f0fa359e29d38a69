package hub

import (
	"errors"
	"testing"

	"streamedge/media/flv"
)

// fakeEdge is an EdgeHost whose PullUpstream runs pull, as the worker
// would start a pull or a relay.
type fakeEdge struct {
	pull  func(key Key) error
	pulls int
}

func (f *fakeEdge) Claim(Key) error                    { return nil }
func (f *fakeEdge) Release(Key)                        {}
func (f *fakeEdge) Pull(Key) bool                      { return false }
func (f *fakeEdge) Published(Key) bool                 { return false }
func (f *fakeEdge) Want(Key)                           {}
func (f *fakeEdge) Upstream(key Key) bool              { return key.Vhost == "edge" }
func (f *fakeEdge) Forward(*Publisher) (func(), error) { return func() {}, nil }
func (f *fakeEdge) PullUpstream(key Key) error {
	f.pulls++
	return f.pull(key)
}

var edgeKey = Key{Vhost: "edge", App: "live", Name: "s"}

func TestEdgePlayerStartsOnTheFirstKeyframe(t *testing.T) {
	h := newTestHub(DefaultOptions())
	fe := &fakeEdge{}
	fe.pull = func(key Key) error {
		p, err := h.PublishRelay(key)
		if err != nil {
			return err
		}
		go func() {
			// Headers and inter frames first: not enough for the player.
			p.Write(flv.TagVideo, 0, avcSeq)
			p.Write(flv.TagVideo, 40, inter)
			p.Write(flv.TagVideo, 80, keyframe)
		}()
		return nil
	}
	h.SetHost(fe)
	sub, err := h.Subscribe(edgeKey, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := describe(fetchAll(t, sub))
	if len(got) < 2 || got[0] != "vseq" || got[1] != "key" {
		t.Fatalf("first messages %v, want vseq then key", got)
	}
	// The stream is live with a keyframe: the next player needs no pull.
	sub2, err := h.Subscribe(edgeKey, false)
	if err != nil {
		t.Fatal(err)
	}
	sub2.Close()
	if fe.pulls != 1 {
		t.Fatalf("%d pulls for two players", fe.pulls)
	}
}

func TestEdgePlayerGetsTheUpstreamError(t *testing.T) {
	notFound := errors.New("not on any origin")
	for _, tc := range []struct {
		name string
		pull func(h *Hub) func(Key) error
		is   error
	}{
		{"refused at once", func(*Hub) func(Key) error {
			return func(Key) error { return errors.Join(ErrNotPublished, notFound) }
		}, ErrNotPublished},
		{"failed while waiting", func(h *Hub) func(Key) error {
			return func(key Key) error {
				go h.FailUpstream(key, errors.Join(ErrUpstream, errors.New("every origin failed")))
				return nil
			}
		}, ErrUpstream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(DefaultOptions())
			h.SetHost(&fakeEdge{pull: tc.pull(h)})
			_, err := h.Subscribe(edgeKey, false)
			if !errors.Is(err, tc.is) {
				t.Fatalf("Subscribe: %v, want %v", err, tc.is)
			}
			if n := len(h.Streams()); n != 0 {
				t.Fatalf("%d streams left behind by a refused player", n)
			}
		})
	}
}

func TestEdgePlayersEndWhenThePullFails(t *testing.T) {
	h := newTestHub(DefaultOptions())
	var pub *Publisher
	h.SetHost(&fakeEdge{pull: func(key Key) error {
		var err error
		if pub, err = h.PublishRelay(key); err == nil {
			pub.Write(flv.TagVideo, 0, keyframe)
		}
		return err
	}})
	sub, err := h.Subscribe(edgeKey, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	fetchAll(t, sub)
	pub.Close()
	failure := errors.Join(ErrUpstream, errors.New("origin gone"))
	h.FailUpstream(edgeKey, failure)
	if _, _, err := sub.Fetch(nil); !errors.Is(err, ErrUpstream) {
		t.Fatalf("Fetch after the failure: %v", err)
	}
	// A stream not from an origin is untouched by the edge path.
	if _, err := h.Subscribe(Key{Vhost: "local", App: "live", Name: "s"}, true); !errors.Is(err, ErrNotPublished) {
		t.Fatalf("local stream: %v", err)
	}
}

func TestWatchersAndEndRelay(t *testing.T) {
	h := newTestHub(DefaultOptions())
	if n := h.Watchers(edgeKey); n != 0 {
		t.Fatalf("watchers of no stream: %d", n)
	}
	relay, err := h.PublishRelay(edgeKey)
	if err != nil {
		t.Fatal(err)
	}
	player, _ := h.Subscribe(edgeKey, false)
	out, _ := h.SubscribeRelay(edgeKey)
	if n := h.Watchers(edgeKey); n != 2 {
		t.Fatalf("a player and another worker's relay: %d watchers, want 2", n)
	}
	h.EndRelay(edgeKey)
	if _, err := h.PublishRelay(edgeKey); err != nil {
		t.Fatalf("publish after EndRelay: %v", err)
	}
	if err := relay.Write(flv.TagVideo, 0, keyframe); err == nil {
		t.Fatal("the ended relay still writes")
	}
	player.Close()
	out.Close()
	if n := h.Watchers(edgeKey); n != 0 {
		t.Fatalf("%d watchers after both left", n)
	}
}
