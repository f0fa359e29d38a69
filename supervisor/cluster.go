package supervisor

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/supervisor/hosts"
)

// The master's side of the cluster (package hosts): it is the only process
// that talks to the store. Its record comes from the loop's state, a
// publish is checked against the whole cluster before it is granted, and
// the API resolves players to hosts from the store's last view.

// newStore makes the cluster store when hosts.redis is set; nothing is
// dialled until Run.
func newStore(m *Master, cfg configs.Hosts) (*hosts.Store, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	client, err := hosts.Dial(cfg.Redis, m.log)
	if err != nil {
		return nil, err
	}
	id := cfg.HostID
	if id == "" {
		if id, err = os.Hostname(); err != nil {
			client.Close()
			return nil, fmt.Errorf("hosts.host_id is empty and the hostname is unknown: %w", err)
		}
	}
	m.hostID = id
	return hosts.New(hosts.Options{Client: client, HostID: id, Heartbeat: cfg.Heartbeat.Std(), TTL: cfg.TTL.Std(),
		LoadFactor: cfg.LoadFactor, Local: m.hostRecord, Log: m.log}), nil
}

// runStore runs the store beside the loop; the returned func stops it and
// waits, which deletes this host's records (a clean quit).
func (m *Master) runStore() (stop func()) {
	if m.store == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.store.Run(ctx); err != nil {
			m.log.Error("cluster store stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
		m.store.Close()
	}
}

// keepHosts holds the store's connection and timings as they were at
// start: a reload that changes them says so and keeps them. advertise and
// resolve, read at every heartbeat, do change live.
func (m *Master) keepHosts(next *configs.Config) {
	prev, n := m.cfg.Hosts, &next.Hosts
	if prev.Redis == n.Redis && prev.HostID == n.HostID && prev.Heartbeat == n.Heartbeat && prev.TTL == n.TTL &&
		prev.LoadFactor == n.LoadFactor {
		return
	}
	m.log.Warn("hosts.redis, host_id, heartbeat, ttl and load_factor change at restart only; the running ones are kept")
	n.Redis, n.HostID, n.Heartbeat, n.TTL, n.LoadFactor = prev.Redis, prev.HostID, prev.Heartbeat, prev.TTL, prev.LoadFactor
}

// hostRecord is this host as the store writes it, made on the loop.
func (m *Master) hostRecord(ctx context.Context) (hosts.Record, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	type result struct {
		rec     hosts.Record
		streams []string
	}
	reply := make(chan result, 1)
	select {
	case m.events <- func(m *Master) {
		snap := m.snapshot()
		t := totals(snap)
		h := m.cfg.Hosts
		rec := hosts.Record{
			Advertise: hosts.Advertise{RTMP: h.Advertise.RTMP, HTTP: h.Advertise.HTTP, RTC: h.Advertise.RTC},
			Resolve:   h.Resolve,
			Load: hosts.Load{CPUPercent: snap.Host.CPUPercent, Connections: t.Connections, Players: t.Players,
				BytesOutPerSec: t.BytesOutPerSec, Capacity: m.cfg.Balance.HostMaxConnections},
			// The balancer's host-full rule, hysteresis and all, so other
			// hosts' resolvers pass this host over exactly while it
			// refuses players; a host on its way out takes nobody new.
			Full:    m.quitting || m.stopping || m.bal.host.Full,
			Version: m.opts.Version,
		}
		// Published here: an edge vhost's streams are pulled (or
		// forwarded), and belong to the host they come from.
		streams := make([]string, 0, len(m.registry.owners))
		for name := range m.registry.owners {
			if !m.cfg.Remote(vhostOf(name)) {
				streams = append(streams, name)
			}
		}
		reply <- result{rec, streams}
	}:
	case <-m.done:
		return hosts.Record{}, nil, errLoopGone
	case <-ctx.Done():
		return hosts.Record{}, nil, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.rec, r.streams, nil
	case <-m.done:
		return hosts.Record{}, nil, errLoopGone
	case <-ctx.Done():
		return hosts.Record{}, nil, ctx.Err()
	}
}

var errLoopGone = fmt.Errorf("master loop is not running")

// claimInCluster asks the store for a publish the host's registry has just
// granted p, and answers the worker when the store has: refused if another
// host publishes the name. A store that cannot answer does not stop the
// publish: the host keeps serving, as it would alone.
func (m *Master) claimInCluster(p *workerProc, msg *ipc.Claim) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		holder, err := m.store.Claim(ctx, msg.Stream)
		select {
		case m.events <- func(m *Master) { m.clusterClaimed(p, msg, holder, err) }:
		case <-m.done:
		}
	}()
}

func (m *Master) clusterClaimed(p *workerProc, msg *ipc.Claim, holder string, err error) {
	if m.procs[p.gen] != p {
		m.registry.release(msg.Stream, p.gen) // the worker is gone
		return
	}
	if owner, ok := m.registry.owner(msg.Stream); !ok || owner != p.gen {
		p.proc.Send(&ipc.ClaimReply{ID: msg.ID, Owner: m.slotOf(owner), Err: "stream is published on another worker"})
		return
	}
	if err != nil {
		m.log.Warn("cluster store could not check the publish; granted on this host alone", "stream", msg.Stream, "worker", p.slot, "err", err)
	}
	if err == nil && holder != m.hostID {
		m.registry.release(msg.Stream, p.gen)
		m.log.Info("duplicate publish refused", "stream", msg.Stream, "worker", p.slot, "host", holder, "reason", "published on another host")
		p.proc.Send(&ipc.ClaimReply{ID: msg.ID, Owner: -1, Err: fmt.Sprintf("stream is published on host %s", holder)})
		return
	}
	m.grantClaim(p, msg)
}

// pullFromCluster answers the Lookup of an edge stream whose vhost's
// origin is the cluster: the store says which host publishes it, and that
// host is the origin of this pull (asked again at every pull, so a stream
// that moved is followed). It reports false for other vhosts.
func (m *Master) pullFromCluster(p *workerProc, msg *ipc.Lookup, deadline time.Time) bool {
	cl := m.cfg.Cluster(vhostOf(msg.Stream))
	if !cl.FromCluster() {
		return false
	}
	now := m.now()
	if at, ok := m.edge.notFound[msg.Stream]; ok && now.Sub(at) < notFoundRetry {
		p.proc.Send(&ipc.LookupReply{ID: msg.ID, Err: "not published on any host of the cluster (asked again at most every " + notFoundRetry.String() + ")"})
		return true
	}
	if m.store == nil { // validation forbids it; answer rather than hang
		p.proc.Send(&ipc.LookupReply{ID: msg.ID, Err: "origin: cluster without hosts.redis"})
		return true
	}
	upstream := cl.Vhost
	if upstream == "" {
		upstream = vhostOf(msg.Stream)
	}
	// The origin publishes the stream under the vhost the edge asks it for.
	name := upstream + strings.TrimPrefix(msg.Stream, vhostOf(msg.Stream))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		rec, found, err := m.store.Publisher(ctx, name)
		select {
		case m.events <- func(m *Master) { m.clusterPublisher(p, msg, deadline, cl, rec, found, err) }:
		case <-m.done:
		}
	}()
	return true
}

func (m *Master) clusterPublisher(p *workerProc, msg *ipc.Lookup, deadline time.Time, cl configs.Cluster, rec hosts.Record, found bool, err error) {
	if m.procs[p.gen] != p {
		return
	}
	// Another lookup may have made a puller meanwhile: relay from it.
	if owner, ok := m.registry.owner(msg.Stream); ok {
		m.answerOwned(p, msg, owner, deadline)
		return
	}
	var reason string
	switch {
	case err != nil:
		reason = "the cluster store cannot say which host publishes it: " + clipText(err.Error())
	case !found:
		reason = "not published on any host of the cluster"
		m.edge.notFound[msg.Stream] = m.now()
	case rec.ID == m.hostID:
		reason = "published on this host itself, under a vhost that pulls from the cluster"
	}
	if reason != "" {
		m.log.Info("cluster pull not possible", "stream", msg.Stream, "reason", reason)
		p.proc.Send(&ipc.LookupReply{ID: msg.ID, Err: reason})
		return
	}
	origin := rec.Advertise.RTMP
	if cl.Protocol == configs.ProtocolFLV {
		origin = rec.Advertise.HTTP
	}
	m.log.Info("cluster origin found", "stream", msg.Stream, "host", rec.ID, "origin", origin)
	p.proc.Send(m.assignPull(p, msg, cl, []string{origin}))
}

// onRedirect answers a worker of this full host: the host a refused
// player of the stream goes to instead is the one the resolver picks for
// it with this host passed over, so a stream's redirected players stay
// together on one host, as resolved ones do.
func (m *Master) onRedirect(p *workerProc, msg *ipc.Redirect) {
	reply := &ipc.RedirectReply{ID: msg.ID}
	var rec hosts.Record
	ok := false
	if m.store != nil {
		rec, _, ok = m.store.ResolveExcept(msg.Stream, m.hostID)
	}
	switch {
	case m.store == nil:
		reply.Err = "this host is not in a cluster"
	case !ok:
		reply.Err = "every other host of the cluster is full"
	default:
		reply.Host, reply.HTTP, reply.RTMP = rec.ID, rec.Advertise.HTTP, rec.Advertise.RTMP
	}
	// One a player: debug. The workers count what they refuse and how
	// (streamedge_worker_refusals_total), and the full host's own
	// decision is logged by the balancer.
	m.log.Debug("redirect target", "stream", clipText(msg.Stream), "worker", p.slot, "host", reply.Host, "err", reply.Err)
	if err := p.proc.Send(reply); err != nil {
		m.log.Warn("redirect answer not sent", "worker", p.slot, "err", err)
	}
}

// releaseInCluster frees streams in the store at once, not at the TTL.
func (m *Master) releaseInCluster(streams ...string) {
	if m.store == nil {
		return
	}
	for _, s := range streams {
		m.store.Release(s)
	}
}

// clusterRoutes adds the cluster's endpoints to the API.
func (m *Master) clusterRoutes(mux *http.ServeMux) []string {
	mux.HandleFunc("GET /api/v1/resolve", m.resolveJSON)
	mux.HandleFunc("GET /api/v1/hosts", m.hostsJSON)
	return []string{"/api/v1/resolve", "/api/v1/hosts"}
}

// maxStreamParam bounds what a client may put in a resolve query.
const maxStreamParam = 256

// The cluster endpoints' bodies.
type (
	resolveResponse struct {
		Code   int       `json:"code"`
		Stream string    `json:"stream"` // vhost/app/name
		Host   string    `json:"host"`
		RTMP   string    `json:"rtmp"`
		FLV    string    `json:"flv"`
		WHEP   string    `json:"whep,omitempty"`
		Client string    `json:"client,omitempty"` // echoed; the choice does not depend on it
		Stale  bool      `json:"stale"`            // the store could not be read: an older view answered
		ReadAt time.Time `json:"read_at"`
	}
	hostsResponse struct {
		Code    int            `json:"code"`
		Self    string         `json:"self"`
		StoreUp bool           `json:"store_up"`
		Stale   bool           `json:"stale"`
		ReadAt  time.Time      `json:"read_at"`
		Error   string         `json:"error,omitempty"`
		Hosts   []hosts.Record `json:"hosts"`
	}
)

var errNotClustered = errorResponse{Code: 404, Error: "this host is not in a cluster (hosts.redis is empty)"}

// resolveJSON is the HTTP-DNS: which host a player of a stream should use.
func (m *Master) resolveJSON(w http.ResponseWriter, r *http.Request) {
	if m.store == nil {
		writeJSON(w, http.StatusNotFound, errNotClustered)
		return
	}
	q := r.URL.Query()
	key, err := resolveKey(q.Get("vhost"), q.Get("stream"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Code: 400, Error: err.Error()})
		return
	}
	var client string
	if c := q.Get("client"); c != "" {
		ip, err := netip.ParseAddr(c)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorResponse{Code: 400, Error: "client must be an IP address"})
			return
		}
		client = ip.String()
	}
	rec, view, ok := m.store.Resolve(key)
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Code: 503, Error: "every host of the cluster is full"})
		return
	}
	u := rec.PlayURLs(key)
	writeJSON(w, http.StatusOK, resolveResponse{Stream: key, Host: rec.ID, RTMP: u.RTMP, FLV: u.FLV, WHEP: u.WHEP,
		Client: client, Stale: view.Stale, ReadAt: view.ReadAt})
}

// resolveKey makes the registry's "vhost/app/name" from the query, which
// names the stream as APP/STREAM; the vhost defaults as a player's would.
func resolveKey(vhost, stream string) (string, error) {
	if vhost == "" {
		vhost = hosts.DefaultVhost
	}
	if len(stream) > maxStreamParam || len(vhost) > maxStreamParam {
		return "", fmt.Errorf("stream and vhost must be at most %d bytes", maxStreamParam)
	}
	stream = strings.TrimSuffix(stream, ".flv")
	i := strings.LastIndex(stream, "/")
	if i <= 0 || i == len(stream)-1 {
		return "", fmt.Errorf("stream must be APP/STREAM, got %q", stream)
	}
	for _, part := range append(strings.Split(stream, "/"), vhost) {
		if !validSegment(part) {
			return "", fmt.Errorf("stream and vhost take letters, digits and -_.~ between slashes, got %q", vhost+"/"+stream)
		}
	}
	return vhost + "/" + stream, nil
}

func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.~", c)) {
			return false
		}
	}
	return true
}

// hostsJSON shows the cluster as this host last read it.
func (m *Master) hostsJSON(w http.ResponseWriter, r *http.Request) {
	if m.store == nil {
		writeJSON(w, http.StatusNotFound, errNotClustered)
		return
	}
	v := m.store.View()
	writeJSON(w, http.StatusOK, hostsResponse{Self: m.hostID, StoreUp: m.store.Stats().Up, Stale: v.Stale,
		ReadAt: v.ReadAt, Error: v.Error, Hosts: v.Hosts})
}

// clusterCollector mirrors the store's counters at scrape time.
type clusterCollector struct{ m *Master }

var (
	descStoreUp       = desc("cluster_store_up", "1 when the last heartbeat reached the cluster store.")
	descStoreFailures = desc("cluster_store_failures_total", "Heartbeats that did not reach the cluster store.")
	descClusterHosts  = desc("cluster_hosts", "Hosts in the last view of the cluster, this one included.")
	descViewStale     = desc("cluster_view_stale", "1 when the resolver answers from a view the store could not refresh.")
	descResolves      = desc("cluster_resolves_total", "Resolves answered, by result.", "result")
)

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStoreUp, descStoreFailures, descClusterHosts, descViewStale, descResolves} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.store
	if s == nil {
		return
	}
	st, v := s.Stats(), s.View()
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, b(st.Up))
	ch <- prometheus.MustNewConstMetric(descStoreFailures, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(descClusterHosts, prometheus.GaugeValue, float64(len(v.Hosts)))
	ch <- prometheus.MustNewConstMetric(descViewStale, prometheus.GaugeValue, b(v.Stale))
	ch <- prometheus.MustNewConstMetric(descResolves, prometheus.CounterValue, float64(st.Resolves), "ok")
	ch <- prometheus.MustNewConstMetric(descResolves, prometheus.CounterValue, float64(st.Refused), "no_host")
}
