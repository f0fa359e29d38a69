package hosts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The keys. Host records and their index share the {hosts} hash tag, so a
// Redis Cluster keeps them in one slot and one MGET reads them all; stream
// keys spread over every slot by name, which is what lets the stream table
// grow past one shard.
const keyPrefix = "streamedge:"

func hostKey(id string) string       { return keyPrefix + "{hosts}:host:" + id }
func streamKey(stream string) string { return keyPrefix + "stream:" + stream }

const indexKey = keyPrefix + "{hosts}:index"

// claimScript sets a stream's key to this host unless another host holds
// it, and returns the holder: a publish on two hosts at once is decided by
// Redis, not by whoever's heartbeat came last.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return v`)

// releaseScript deletes a stream's key if this host holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Options configure a Store.
type Options struct {
	Client     redis.UniversalClient
	HostID     string
	Heartbeat  time.Duration
	TTL        time.Duration
	LoadFactor float64
	// Local reports this host now: its record (ID and UpdatedAt are the
	// store's) and the streams published on it.
	Local func(ctx context.Context) (Record, []string, error)
	Log   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// View is the cluster as this host last read it. A View is never modified
// once published, so readers share it without locks.
type View struct {
	Hosts  []Record  `json:"hosts"`   // by ID; this host is always there
	ReadAt time.Time `json:"read_at"` // last successful read; zero: never
	// Stale: the last read failed, so the others' records may be old.
	Stale bool   `json:"stale"`
	Error string `json:"error,omitempty"`

	ring  *Ring // over the hosts with Resolve
	index []int // ring host -> index in Hosts
}

// Stats are the store's counters, for /metrics.
type Stats struct {
	Up        bool
	Failures  uint64 // heartbeats that did not reach the store
	Heartbeat uint64 // heartbeats written
	Resolves  uint64
	Refused   uint64 // resolves with no open host
}

// Store keeps this host's records in Redis and the cluster's view in
// memory. Run owns the heartbeat; the other methods are safe from any
// goroutine.
type Store struct {
	opts Options
	log  *slog.Logger
	view atomic.Pointer[View]

	mu    sync.Mutex
	local []string // streams written at the last heartbeat
	held  bool     // local are this host's in the store (no failure since)

	up, loaded         atomic.Bool
	failures, beats    atomic.Uint64
	resolves, refusals atomic.Uint64
	calls              sync.WaitGroup // Release calls under way
}

// New makes a Store; nothing is sent before Run.
func New(opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{opts: opts, log: opts.Log.With("component", "hosts", "host", opts.HostID)}
	s.view.Store(buildView(nil, nil, time.Time{}, true, "not read yet"))
	return s
}

// downLogEvery is how often an outage is logged while it lasts: one line
// when it starts, then one per interval, then one when it ends.
const downLogEvery = 10 * time.Second

// Run writes this host's record every heartbeat and reads the others',
// until ctx ends; then it deletes this host's keys (a clean quit leaves
// nothing for the TTL to clear) and returns nil. An unreachable store is
// retried with backoff, from a quarter heartbeat up to one, so the
// records are back within a heartbeat of the store's return.
func (s *Store) Run(ctx context.Context) error {
	defer s.calls.Wait()
	retry := s.opts.Heartbeat / 4
	var downSince, loggedAt time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.leave()
			return nil
		case <-timer.C:
		}
		err := s.beat(ctx)
		now := s.opts.Now()
		switch {
		case err == nil:
			if !downSince.IsZero() {
				s.log.Info("cluster store reachable again", "down_for", now.Sub(downSince).Round(time.Millisecond).String(),
					"failures", s.failures.Load())
				downSince = time.Time{}
			}
			retry = s.opts.Heartbeat / 4
			timer.Reset(s.opts.Heartbeat)
			continue
		case ctx.Err() != nil:
			continue // quitting: the next select leaves
		case downSince.IsZero():
			downSince, loggedAt = now, now
			s.log.Warn("cluster store unreachable, serving from the last view", "err", err)
		case now.Sub(loggedAt) >= downLogEvery:
			loggedAt = now
			s.log.Warn("cluster store still unreachable", "down_for", now.Sub(downSince).Round(time.Second).String(),
				"failures", s.failures.Load(), "err", err)
		}
		timer.Reset(retry)
		retry = min(2*retry, s.opts.Heartbeat)
	}
}

// beat is one heartbeat: write this host, refresh its streams, read all.
func (s *Store) beat(ctx context.Context) error {
	rec, streams, err := s.opts.Local(ctx)
	if err != nil {
		return nil // the master is busy or quitting: skip a beat, the TTL allows it
	}
	rec.ID, rec.UpdatedAt, rec.Published = s.opts.HostID, s.opts.Now().UTC(), len(streams)
	hosts, err := s.write(ctx, rec, streams)
	if err != nil {
		s.failures.Add(1)
		s.up.Store(false)
		s.loaded.Store(false) // a restarted Redis has lost its script cache
		s.mu.Lock()
		s.held = false // and its keys: claim every stream again
		s.mu.Unlock()
		old := s.view.Load()
		s.publish(buildView(old, withSelf(old.Hosts, rec), old.ReadAt, true, err.Error()))
		return err
	}
	s.beats.Add(1)
	s.up.Store(true)
	s.publish(buildView(s.view.Load(), withSelf(hosts, rec), s.opts.Now(), false, ""))
	return nil
}

func (s *Store) write(ctx context.Context, rec Record, streams []string) ([]Record, error) {
	ctx, cancel := context.WithTimeout(ctx, max(s.opts.Heartbeat, ioTimeout))
	defer cancel()
	c := s.opts.Client
	if !s.loaded.Load() {
		if err := errors.Join(claimScript.Load(ctx, c).Err(), releaseScript.Load(ctx, c).Err()); err != nil {
			return nil, err
		}
		s.loaded.Store(true)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	ttl := s.opts.TTL.Milliseconds()
	s.mu.Lock()
	gone := without(s.local, streams)
	held := map[string]bool{}
	if s.held {
		for _, st := range s.local {
			held[st] = true
		}
	}
	s.mu.Unlock()
	pipe := c.Pipeline()
	pipe.Set(ctx, hostKey(rec.ID), data, s.opts.TTL)
	pipe.SAdd(ctx, indexKey, rec.ID)
	// A stream this host already holds only has its TTL pushed back
	// (PEXPIRE, a tenth of the script's cost in Redis); a new one, or every
	// one after the store was lost (it may have restarted empty), is
	// claimed.
	claims := map[string]*redis.Cmd{}
	expires := map[string]*redis.BoolCmd{}
	for _, st := range streams {
		if held[st] {
			expires[st] = pipe.PExpire(ctx, streamKey(st), s.opts.TTL)
		} else {
			claims[st] = claimScript.EvalSha(ctx, pipe, []string{streamKey(st)}, rec.ID, ttl)
		}
	}
	for _, st := range gone {
		releaseScript.EvalSha(ctx, pipe, []string{streamKey(st)}, rec.ID)
	}
	members := pipe.SMembers(ctx, indexKey)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	// A held key that expired meanwhile (a beat came late) is claimed anew.
	var lost []string
	for st, cmd := range expires {
		if !cmd.Val() {
			lost = append(lost, st)
		}
	}
	if len(lost) > 0 {
		again := c.Pipeline()
		for _, st := range lost {
			claims[st] = claimScript.EvalSha(ctx, again, []string{streamKey(st)}, rec.ID, ttl)
		}
		if _, err := again.Exec(ctx); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.local, s.held = streams, true
	s.mu.Unlock()
	for st, cmd := range claims {
		if owner, _ := cmd.Text(); owner != rec.ID {
			s.log.Warn("stream is published on another host too; that host keeps the name", "stream", st, "other", owner)
		}
	}
	return s.read(ctx, members.Val())
}

// read fetches the records of ids; an ID whose record has expired is a
// host that died, and leaves the index.
func (s *Store) read(ctx context.Context, ids []string) ([]Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = hostKey(id)
	}
	vals, err := s.opts.Client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var recs []Record
	var dead []any
	for i, v := range vals {
		str, ok := v.(string)
		var r Record
		if !ok || json.Unmarshal([]byte(str), &r) != nil || r.ID != ids[i] {
			dead = append(dead, ids[i])
			continue
		}
		recs = append(recs, r)
	}
	if len(dead) > 0 {
		// A host that comes back adds itself again at its next heartbeat.
		s.opts.Client.SRem(ctx, indexKey, dead...)
	}
	return recs, nil
}

// leave deletes this host's keys. ctx is over by now, so it has a short
// deadline of its own.
func (s *Store) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	s.mu.Lock()
	streams := s.local
	s.mu.Unlock()
	pipe := s.opts.Client.Pipeline()
	pipe.Del(ctx, hostKey(s.opts.HostID))
	pipe.SRem(ctx, indexKey, s.opts.HostID)
	for _, st := range streams {
		releaseScript.Eval(ctx, pipe, []string{streamKey(st)}, s.opts.HostID)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.log.Warn("could not remove this host from the cluster store; its records expire within the ttl", "err", err,
			"ttl", s.opts.TTL.String())
		return
	}
	s.log.Info("left the cluster", "streams", len(streams))
}

// Claim asks the store for the cluster-wide right to publish stream. It
// returns the host that holds it: this host's ID means granted. An error
// means the store could not say.
func (s *Store) Claim(ctx context.Context, stream string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	return claimScript.Run(ctx, s.opts.Client, []string{streamKey(stream)}, s.opts.HostID, s.opts.TTL.Milliseconds()).Text()
}

// Release gives stream up now rather than at the TTL, so it may be
// published on another host at once. It returns at once; Run waits for it.
func (s *Store) Release(stream string) {
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := releaseScript.Run(ctx, s.opts.Client, []string{streamKey(stream)}, s.opts.HostID).Err(); err != nil {
			s.log.Debug("stream release not written; it expires within the ttl", "stream", stream, "err", err)
		}
	}()
}

// Publisher returns the record of the host that publishes stream, for an
// edge whose origin is the cluster.
func (s *Store) Publisher(ctx context.Context, stream string) (Record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	id, err := s.opts.Client.Get(ctx, streamKey(stream)).Result()
	if errors.Is(err, redis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	for _, r := range s.view.Load().Hosts {
		if r.ID == id {
			return r, true, nil
		}
	}
	// Published on a host this view has not read yet.
	data, err := s.opts.Client.Get(ctx, hostKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Record{}, false, fmt.Errorf("stream is held by host %q, which has no record (yet, or any more)", id)
	}
	if err != nil {
		return Record{}, false, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, false, err
	}
	return r, true, nil
}

// Close closes the store's client, once Run has returned.
func (s *Store) Close() error { return s.opts.Client.Close() }

// View is the cluster as last read.
func (s *Store) View() *View { return s.view.Load() }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{Up: s.up.Load(), Failures: s.failures.Load(), Heartbeat: s.beats.Load(),
		Resolves: s.resolves.Load(), Refused: s.refusals.Load()}
}

// Resolve picks the host for a player of stream from the last view. The
// loads are the ones the hosts reported: a resolve is not counted as a
// player, since asking twice is not watching twice, so a stream's players
// stay together until the reports show its host over the bound, a
// heartbeat later at most.
func (s *Store) Resolve(stream string) (Record, *View, bool) { return s.ResolveExcept(stream, "") }

// ResolveExcept is Resolve with the host except passed over as if full: a
// full host asks where its player should go instead, before its record
// says it is full (which it does a heartbeat later at most).
func (s *Store) ResolveExcept(stream, except string) (Record, *View, bool) {
	v := s.view.Load()
	r, ok := v.choose(stream, s.opts.LoadFactor, except)
	if !ok {
		s.refusals.Add(1)
		return Record{}, v, false
	}
	s.resolves.Add(1)
	return r, v, true
}

func (s *Store) publish(v *View) { s.view.Store(v) }

// buildView sorts hosts and makes the ring of those open to players,
// reusing prev's when the set of hosts is the same: loads change every
// heartbeat, the set seldom, and a ring of hundreds of hosts takes tens of
// milliseconds to build.
func buildView(prev *View, hosts []Record, readAt time.Time, stale bool, errText string) *View {
	hosts = slices.Clone(hosts)
	slices.SortFunc(hosts, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	v := &View{Hosts: hosts, ReadAt: readAt, Stale: stale, Error: errText}
	if v.Hosts == nil {
		v.Hosts = []Record{}
	}
	var ids []string
	for i, h := range hosts {
		if h.Resolve {
			ids = append(ids, h.ID)
			v.index = append(v.index, i)
		}
	}
	// ids are sorted already, so index lines up with the ring's.
	if prev != nil && prev.ring != nil && slices.Equal(prev.ring.IDs(), ids) {
		v.ring = prev.ring
	} else {
		v.ring = NewRing(ids)
	}
	return v
}

// choose runs the ring over the view's loads, with host except (if any)
// taken as full.
func (v *View) choose(stream string, c float64, except string) (Record, bool) {
	n := len(v.index)
	load, full := make([]int, n), make([]bool, n)
	for i, hi := range v.index {
		h := v.Hosts[hi]
		load[i] = h.Load.Players
		full[i] = h.Full || (except != "" && h.ID == except)
	}
	i, ok := v.ring.Choose(stream, load, full, c)
	if !ok {
		return Record{}, false
	}
	return v.Hosts[v.index[i]], true
}

// withSelf puts this host's fresh record in hosts in place of the one read:
// the resolver always knows this host, even before the store ever answers.
func withSelf(hosts []Record, self Record) []Record {
	out := make([]Record, 0, len(hosts)+1)
	for _, h := range hosts {
		if h.ID != self.ID {
			out = append(out, h)
		}
	}
	return append(out, self)
}

// without is the names of old missing from cur.
func without(old, cur []string) []string {
	if len(old) == 0 {
		return nil
	}
	now := make(map[string]bool, len(cur))
	for _, s := range cur {
		now[s] = true
	}
	var gone []string
	for _, s := range old {
		if !now[s] {
			gone = append(gone, s)
		}
	}
	return gone
}
