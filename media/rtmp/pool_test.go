package rtmp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"streamedge/media/hub"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/chunk"
)

// A connection being set up reads with a buffer and answers with handshake
// packets lent from pools, given back once it plays. Many handshakes and
// plays at once, twice, the first wave playing on while the second is set
// up: each raw handshake gets its own C1 back as S2, each player gets its
// own stream's frames and the answers to its own commands, and -race sees
// no buffer used by two connections.
func TestSetupBuffersNotShared(t *testing.T) {
	addr, h := startServer(t)
	const streams, perStream = 4, 8
	for i := range streams {
		p, err := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: fmt.Sprint("s", i)})
		if err != nil {
			t.Fatal(err)
		}
		feedMarked(t, p, byte(i+1))
	}
	ctx := ctxFor(t, 60*time.Second)
	deadline, _ := ctx.Deadline()
	errs := make(chan error, 4*streams*perStream)
	var wg sync.WaitGroup
	wave := func(then <-chan struct{}) (playing *sync.WaitGroup) {
		playing = new(sync.WaitGroup)
		for i := range streams * perStream {
			wg.Add(2)
			playing.Add(1)
			go func() {
				defer wg.Done()
				errs <- rawHandshake(addr, deadline)
			}()
			go func() {
				defer wg.Done()
				errs <- playMarked(ctx, addr, i%streams, playing, then)
			}()
		}
		return playing
	}
	second := make(chan struct{})
	first := wave(second)
	first.Wait() // every player of the first wave has had its stream: their setup buffers are back
	close(second)
	wave(nil)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// feedMarked publishes frames whose every byte after the header is mark,
// until the test ends.
func feedMarked(t *testing.T, p *hub.Publisher, mark byte) {
	const video = 9
	frame := func(key bool) []byte {
		b := bytes.Repeat([]byte{mark}, 3000)
		b[0], b[1], b[2], b[3], b[4] = 0x27, 1, 0, 0, 0
		if key {
			b[0] = 0x17
		}
		return b
	}
	p.Write(video, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff})
	p.Write(video, 0, frame(true))
	stop, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for n := uint32(1); ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				p.Write(video, n*40, frame(n%25 == 0))
			}
		}
	}()
}

// rawHandshake makes a simple handshake and checks that S2 is its C1.
func rawHandshake(addr string, deadline time.Time) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(deadline)
	c0c1 := make([]byte, 1+1536)
	rand.Read(c0c1)
	c0c1[0] = 3
	clear(c0c1[5:9]) // version 0: a simple C1
	if _, err := nc.Write(c0c1); err != nil {
		return err
	}
	s := make([]byte, 1+2*1536)
	if _, err := io.ReadFull(nc, s); err != nil {
		return fmt.Errorf("reading S0+S1+S2: %w", err)
	}
	if !bytes.Equal(s[1+1536:], c0c1[1:]) {
		return errors.New("S2 is not this connection's C1")
	}
	_, err = nc.Write(make([]byte, 1536)) // C2
	return err
}

// playMarked plays stream s<i> and checks its frames carry i's mark; it
// marks playing done then, and if then is not nil, once then is closed,
// pauses and unpauses and checks the answers and the frames again.
func playMarked(ctx context.Context, addr string, i int, playing *sync.WaitGroup, then <-chan struct{}) error {
	once := sync.OnceFunc(playing.Done)
	defer once()
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+fmt.Sprint("/live/s", i))
	if err == nil {
		err = c.Play(ctx)
	}
	if err != nil {
		return fmt.Errorf("play s%d: %w", i, err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.Conn().SetReadDeadline(deadline)
	mark := byte(i + 1)
	frame := func() error {
		for {
			msg, err := c.ReadMedia()
			if err != nil {
				return fmt.Errorf("s%d: %w", i, err)
			}
			if msg.TypeID != chunk.TypeVideo || len(msg.Payload) < 6 || msg.Payload[1] != 1 {
				continue // not a frame
			}
			if k := bytes.IndexFunc(msg.Payload[5:], func(r rune) bool { return r != rune(mark) }); k >= 0 {
				return fmt.Errorf("s%d: a frame with byte %d of another stream's", i, k)
			}
			return nil
		}
	}
	status := func(code string) error {
		for {
			msg, err := c.ReadAny()
			if err != nil {
				return fmt.Errorf("s%d waiting for %s: %w", i, code, err)
			}
			if msg.TypeID == chunk.TypeCommandAMF0 && rtmp.ParseStatus(msg) == code {
				return nil
			}
		}
	}
	if err := frame(); err != nil {
		return err
	}
	once()
	if then == nil {
		return nil
	}
	select {
	case <-then:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, step := range []func() error{
		func() error { return c.Pause(true) },
		func() error { return status("NetStream.Pause.Notify") },
		func() error { return c.Pause(false) },
		func() error { return status("NetStream.Unpause.Notify") },
		frame,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
