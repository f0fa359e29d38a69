package rtmp_test

import (
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/chunk"
)

// readUntil reads messages until match says stop, failing after d.
func readUntil(t *testing.T, c *rtmp.Client, d time.Duration, match func(chunk.Message) bool) []chunk.Message {
	t.Helper()
	c.Conn().SetReadDeadline(time.Now().Add(d))
	defer c.Conn().SetReadDeadline(time.Time{})
	var seen []chunk.Message
	for {
		msg, err := c.ReadAny()
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		seen = append(seen, msg)
		if match(msg) {
			return seen
		}
	}
}

func TestPauseAndUnpause(t *testing.T) {
	addr, _ := startServer(t)
	url := "rtmp://" + addr + "/live/p"
	ctx := ctxFor(t, 10*time.Second)
	pub, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	avcSeq := []byte{0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e}
	key := []byte{0x17, 1, 0, 0, 0, 0xaa}
	inter := []byte{0x27, 1, 0, 0, 0, 0xbb}
	pub.WriteMedia(flv.TagVideo, 0, avcSeq)
	pub.WriteMedia(flv.TagVideo, 0, key)
	ts := uint32(0)
	send := func(n int) {
		for range n {
			ts += 40
			pub.WriteMedia(flv.TagVideo, ts, inter)
		}
	}
	play, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer play.Close()
	if err := play.Play(ctx); err != nil {
		t.Fatal(err)
	}
	isVideo := func(m chunk.Message) bool { return m.TypeID == chunk.TypeVideo }
	readUntil(t, play, 5*time.Second, isVideo)
	if err := play.Pause(true); err != nil {
		t.Fatal(err)
	}
	readUntil(t, play, 5*time.Second, func(m chunk.Message) bool { return rtmp.ParseStatus(m) == "NetStream.Pause.Notify" })
	send(5)
	if err := play.Pause(false); err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, play, 5*time.Second, func(m chunk.Message) bool { return rtmp.ParseStatus(m) == "NetStream.Unpause.Notify" })
	// What came between the two answers is at most what was in flight when
	// the pause took hold: the frames sent while paused are never delivered.
	for _, m := range got {
		if m.TypeID == chunk.TypeVideo && m.Timestamp > 0 {
			t.Fatalf("a paused player got the frame at %d ms", m.Timestamp)
		}
	}
	send(1)
	got = readUntil(t, play, 5*time.Second, func(m chunk.Message) bool { return isVideo(m) && flv.IsVideoKeyPicture(m.Payload) })
	if !flv.IsVideoSequenceHeader(got[len(got)-2].Payload) {
		t.Fatal("the resumed player did not get the sequence header before its keyframe")
	}
}

func TestConnectAnswersBandwidthDone(t *testing.T) {
	addr, _ := startServer(t)
	// Dial sends connect and returns at its _result; onBWDone follows it.
	c, err := rtmp.Dial(ctxFor(t, 5*time.Second), "rtmp://"+addr+"/live/x")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readUntil(t, c, 5*time.Second, func(m chunk.Message) bool {
		return m.TypeID == chunk.TypeCommandAMF0 && string(m.Payload[:11]) == "\x02\x00\x08onBWDone"
	})
}
