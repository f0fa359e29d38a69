package rtmp_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/amf"
	"streamedge/media/rtmp/chunk"
)

// A playing session reads its commands in a goroutine of its own started
// once it played, through a read buffer of 256 bytes: a command that came in
// the same write as the play, one longer than the buffer, one split across
// two writes, and a deleteStream are each handled there: with a poller
// (the session's goroutines are short-lived, started when the client sends
// something) and without (one goroutine reads for the player's life).
func TestPlayerCommandsAfterItsReaderShrank(t *testing.T) {
	t.Run("poller", func(t *testing.T) { testPlayerCommands(t, true) })
	t.Run("goroutine", func(t *testing.T) { testPlayerCommands(t, false) })
}

func testPlayerCommands(t *testing.T, poller bool) {
	addr, srv, h := startServerPolled(t, poller)
	p, err := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	mediatest.FeedPlayers(t, p)
	ctx := ctxFor(t, 20*time.Second)
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	isVideo := func(m chunk.Message) bool { return m.TypeID == chunk.TypeVideo }
	status := func(code string) func(chunk.Message) bool {
		return func(m chunk.Message) bool { return m.TypeID == chunk.TypeCommandAMF0 && rtmp.ParseStatus(m) == code }
	}
	command := func(values ...any) []byte {
		return chunk.AppendMessage(nil, chunk.CSIDCommand, chunk.TypeCommandAMF0, 0, 1, amf.Append(nil, values...), 60000)
	}
	write := func(b []byte) {
		t.Helper()
		if _, err := c.Conn().Write(b); err != nil {
			t.Fatal(err)
		}
	}
	pause := func(on bool) []byte { return command("pause", 0.0, nil, on, 0.0) }

	// The play and a pause in one write: the pause is in the buffer the
	// play was read with when the session moves to the small one.
	write(command("createStream", 2.0, nil))
	write(append(command("play", 3.0, nil, "s", -2000.0), pause(true)...))
	readUntil(t, c, 10*time.Second, status("NetStream.Play.Start"))
	readUntil(t, c, 10*time.Second, status("NetStream.Pause.Notify"))
	write(pause(false))
	readUntil(t, c, 10*time.Second, status("NetStream.Unpause.Notify"))
	readUntil(t, c, 10*time.Second, isVideo)

	// A command of 3 KiB, a dozen times the buffer: ignored, and the next
	// one parses.
	write(command("getStreamLength", 0.0, nil, strings.Repeat("x", 3<<10)))
	half := pause(true)
	write(half[:len(half)/2])
	readUntil(t, c, 10*time.Second, isVideo) // the server has read the half by now, most likely
	write(half[len(half)/2:])
	readUntil(t, c, 10*time.Second, status("NetStream.Pause.Notify"))
	write(pause(false))
	readUntil(t, c, 10*time.Second, status("NetStream.Unpause.Notify"))
	readUntil(t, c, 10*time.Second, isVideo)

	write(command("deleteStream", 0.0, nil, 1.0))
	c.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, err := c.ReadAny()
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("after deleteStream the player read %v, want EOF", err)
		}
		break
	}
	for deadline := time.Now().Add(10 * time.Second); srv.Stats.Players.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d players counted after deleteStream, want 0", srv.Stats.Players.Load())
		}
	}
}
