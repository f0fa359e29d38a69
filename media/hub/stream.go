package hub

import (
	"sync"
	"sync/atomic"

	"streamedge/media/flv"
)

// Stream is one live stream: its publisher (if any), its headers, its GOP
// cache and the window of recent messages its players read.
type Stream struct {
	hub *Hub
	key Key

	mu        sync.RWMutex
	win       ring
	signal    chan struct{} // closed and replaced whenever the stream changes
	publisher *Publisher
	players   int // every subscriber, relays included
	relays    int // subscribers that are other workers' relays
	closed    bool
	ended     bool // unpublished on a draining hub: players must go elsewhere
	watch     watchers

	meta, videoSeq, audioSeq *Msg
	// meta0 is meta stamped 0, for a new player's first message (see
	// Subscriber.MetadataAtZero).
	meta0     *Msg
	gopStart  uint64 // sequence number of the last keyframe
	hasGOP    bool
	gopFrames int
	// gopHeaders are the headers in force at the last keyframe, stamped
	// with its time: what a player starting on the GOP cache gets first.
	gopHeaders []*Msg

	// Tracks of the current publish: seen in its media, and declared by its
	// metadata (which players need before the media, for the FLV header).
	hasAudio, hasVideo   bool
	mediaSeen            bool // an audio or video frame, not just headers
	metaAudio, metaVideo bool
	metaDeclared         bool

	tl timeline // publishers' timestamps in, the players' monotonic time out

	// Edge streams: whether this publish has sent a keyframe, and the
	// failures of the upstream pull (see FailUpstream).
	sawKey bool
	upErr  error
	upGen  uint64

	bytesIn atomic.Uint64
	msgsIn  atomic.Uint64

	fan fanout // the players' writer loop
}

func newStream(h *Hub, key Key) *Stream {
	s := &Stream{hub: h, key: key, signal: make(chan struct{})}
	s.fan = fanout{s: s, wake: make(chan struct{}, 1), batch: make([]*Msg, 0, maxBatch+3)}
	return s
}

// changed returns a channel closed at the stream's next change.
func (s *Stream) changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.signal
}

// Key returns the stream's name.
func (s *Stream) Key() Key { return s.key }

// wakeLocked tells every waiting player that something changed.
func (s *Stream) wakeLocked() {
	close(s.signal)
	s.signal = make(chan struct{})
}

func (s *Stream) idle() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.publisher == nil && s.players == 0
}

func (s *Stream) publish(relay bool) (*Publisher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.publisher != nil {
		return nil, ErrStreamBusy
	}
	p := &Publisher{s: s, relay: relay}
	s.publisher, s.ended = p, false
	s.tl.publisherChanged()
	s.hasAudio, s.hasVideo, s.mediaSeen, s.metaDeclared = false, false, false, false
	s.sawKey = false
	s.wakeLocked()
	return p, nil
}

func (s *Stream) unpublish(p *Publisher) {
	s.mu.Lock()
	if s.publisher == p {
		s.publisher = nil
		// Like SRS, a new publisher starts from scratch: no stale headers or GOP
		// for players that join before it sends its own.
		s.meta, s.meta0, s.videoSeq, s.audioSeq, s.gopHeaders = nil, nil, nil, nil, nil
		s.hasGOP, s.gopFrames = false, 0
		s.wakeLocked()
	}
	s.mu.Unlock()
	if s.hub.isDraining() {
		s.endIfUnpublished()
	}
	s.hub.release(s)
}

func (s *Stream) endIfUnpublished() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher == nil && !s.ended {
		s.ended = true
		s.wakeLocked()
	}
}

// push appends one message from the publisher p.
func (s *Stream) push(p *Publisher, typeID uint8, timestamp uint32, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher != p {
		return ErrClosed
	}
	meta := typeID == flv.TagScript && isMetadata(payload)
	if meta {
		if md, ok := flv.ParseMetadata(payload); ok {
			payload = md.Live
			s.metaAudio, s.metaVideo, s.metaDeclared = md.Audio, md.Video, md.Declared
		}
	}
	var ts uint32
	if isHeader(typeID, payload) {
		ts = s.tl.data(timestamp)
	} else {
		ts = s.tl.media(timestamp)
	}
	m := NewMsg(typeID, ts, payload)
	s.bytesIn.Add(uint64(len(payload)))
	s.msgsIn.Add(1)
	switch {
	case meta:
		s.meta = m
		s.meta0 = m
		if m.Timestamp != 0 {
			s.meta0 = NewMsg(typeID, 0, payload)
		}
	case typeID == flv.TagVideo:
		s.hasVideo = true
		s.mediaSeen = s.mediaSeen || !m.SeqHeader
		if m.SeqHeader {
			s.videoSeq = m
		}
	case typeID == flv.TagAudio:
		s.hasAudio = true
		s.mediaSeen = s.mediaSeen || !m.SeqHeader
		if m.SeqHeader {
			s.audioSeq = m
		}
	}
	if m.Keyframe {
		s.gopStart, s.hasGOP, s.gopFrames = s.win.head, true, 0
		s.gopHeaders = s.appendHeadersLocked(s.gopHeaders[:0], m.Timestamp)
		s.sawKey = true
	}
	s.win.push(m)
	s.trimLocked(m)
	s.wakeLocked()
	return nil
}

// isHeader tells the messages that do not advance a stream's time.
func isHeader(typeID uint8, payload []byte) bool {
	switch typeID {
	case flv.TagVideo:
		return flv.IsVideoSequenceHeader(payload)
	case flv.TagAudio:
		return flv.IsAudioSequenceHeader(payload)
	}
	return true
}

// appendHeadersLocked appends the metadata and sequence headers in force,
// stamped ts: the time of the media that follows them, so a player that
// starts or resumes never sees time jump back to when they were sent.
func (s *Stream) appendHeadersLocked(batch []*Msg, ts uint32) []*Msg {
	for _, m := range [...]*Msg{s.meta, s.videoSeq, s.audioSeq} {
		if m == nil {
			continue
		}
		if m.Timestamp != ts {
			m = NewMsg(m.Type, ts, m.Payload)
		}
		batch = append(batch, m)
	}
	return batch
}

// atZeroLocked is the metadata m stamped 0: the stream's own copy when m
// is the metadata in force, a new one when the cached GOP's headers hold
// an older one (the publisher updated it since the keyframe).
func (s *Stream) atZeroLocked(m *Msg) *Msg {
	if m.Timestamp == 0 {
		return m
	}
	if s.meta0 != nil && len(m.Payload) > 0 && len(s.meta0.Payload) == len(m.Payload) && &s.meta0.Payload[0] == &m.Payload[0] {
		return s.meta0
	}
	return NewMsg(m.Type, 0, m.Payload)
}

// tracksLocked tells which tracks the stream has, and whether that is known
// yet: from the metadata when it says, else from the media once some came.
func (s *Stream) tracksLocked() (audio, video, known bool) {
	switch {
	case s.metaDeclared:
		return s.metaAudio, s.metaVideo, true
	case s.mediaSeen:
		return s.hasAudio, s.hasVideo, true
	}
	return true, true, false
}

// trimLocked drops what no player can still need: messages older than
// queue_length, except the GOP cache, and anything past the hard cap.
func (s *Stream) trimLocked(newest *Msg) {
	opts := s.hub.opts.Load()
	if s.hasGOP {
		s.gopFrames++
		if !opts.GOPCache || s.gopFrames > opts.GOPCacheMaxFrames {
			s.hasGOP = false
		}
	}
	keepFrom := s.win.head
	if s.hasGOP {
		keepFrom = s.gopStart
	}
	window := uint32(opts.QueueLength.Milliseconds())
	seq := s.win.tail
	for seq < keepFrom && lag(s.win.at(seq).Timestamp, newest.Timestamp) > window {
		seq++
	}
	if s.win.head-seq > maxWindow {
		seq = s.win.head - maxWindow
		if s.hasGOP && s.gopStart < seq {
			s.hasGOP = false
		}
	}
	s.win.dropBefore(seq)
}

// subscribe adds a player and tells whether the stream has a publisher.
func (s *Stream) subscribe(mustBePublished, relay bool) (*Subscriber, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.publisher != nil
	if s.closed || (mustBePublished && !live) {
		return nil, live
	}
	s.players++
	if relay {
		s.relays++
	}
	s.playersChangedLocked()
	return &Subscriber{s: s, relay: relay, ctl: make(chan struct{}, 1), upGen: s.upGen, idx: -1}, live
}

func (s *Stream) unsubscribe(relay bool) {
	s.mu.Lock()
	s.players--
	if relay {
		s.relays--
	}
	s.playersChangedLocked()
	s.mu.Unlock()
	s.hub.release(s)
}

func (s *Stream) close() {
	s.mu.Lock()
	s.closed = true
	s.publisher = nil
	s.wakeLocked()
	s.mu.Unlock()
}

// StreamInfo is a snapshot of a stream for the API and logs.
type StreamInfo struct {
	Key        Key
	Publishing bool
	Relay      bool // the publisher is a relay from another worker
	Players    int  // players on this process, relays to other workers not counted
	RelaysOut  int  // other workers' relays of this stream
	HasAudio   bool
	HasVideo   bool
	BytesIn    uint64
	MsgsIn     uint64
}

// Info snapshots the stream.
func (s *Stream) Info() StreamInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return StreamInfo{Key: s.key, Publishing: s.publisher != nil, Relay: s.publisher != nil && s.publisher.relay, Players: s.players - s.relays, RelaysOut: s.relays,
		HasAudio: s.hasAudio, HasVideo: s.hasVideo, BytesIn: s.bytesIn.Load(), MsgsIn: s.msgsIn.Load()}
}

// Publisher is the right to write one stream; Close gives it up.
type Publisher struct {
	s       *Stream
	once    sync.Once
	relay   bool   // fed from the owning worker, holds no claim
	claimed bool   // holds the host-wide claim, given back on Close
	onClose func() // an edge's forward to its origin, ended on Close
}

// Stream returns the stream being published.
func (p *Publisher) Stream() *Stream { return p.s }

// Write hands one message to every player. payload is kept by the hub.
func (p *Publisher) Write(typeID uint8, timestamp uint32, payload []byte) error {
	return p.s.push(p, typeID, timestamp, payload)
}

// Close unpublishes; players stay attached and wait for the next publisher.
func (p *Publisher) Close() {
	p.once.Do(func() {
		p.s.unpublish(p)
		if p.claimed {
			if host := p.s.hub.host(); host != nil {
				host.Release(p.s.key)
			}
		}
		if p.onClose != nil {
			p.onClose()
		}
	})
}
