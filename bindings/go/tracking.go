package sutracache

// The MultiTier's coherence: a dedicated RESP3 connection with `CLIENT TRACKING on BCAST
// PREFIX <namespace>` whose invalidation pushes drop L1 entries as soon as they arrive.
//
// Why not go-redis: its RESP3 push handlers (v9) run only when the connection that carries
// a push is next read for a command's reply, so an idle L1 would keep serving a stale entry
// until its next command; its client-side cache bounds staleness by a MaxStaleness timer
// instead. A connection read by its own goroutine applies each push on arrival. The reader
// below decodes the RESP3 types only (go-redis's parser is internal).

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// TrackingClientName is the CLIENT SETNAME of a MultiTier's invalidation connection (as
// CLIENT LIST shows it).
const TrackingClientName = "sutracache-l1-invalidations"

const (
	trackPingEvery  = time.Second
	trackMaxBackoff = 5 * time.Second
	maxRESPLen      = 512 << 20
)

// Tracking states (MultiTierStats.L1.Tracking).
const (
	TrackingOff         = "off"         // NoTracking
	TrackingConnecting  = "connecting"  // L1 bypassed until subscribed
	TrackingConnected   = "connected"   // coherent
	TrackingUnsupported = "unsupported" // the shard refused CLIENT TRACKING: L1 by TTL/LRU only
)

type tracker struct {
	healthy     atomic.Bool // subscribed now
	unsupported atomic.Bool // the shard refused CLIENT TRACKING; the tracker has stopped
	messages    atomic.Uint64
	reconnects  atomic.Uint64
	opts        *redis.Options
	ns          string
	timeout     time.Duration
	log         *slog.Logger
	onInv       func(names []string, all bool)
	done        chan struct{}
	wg          sync.WaitGroup
	mu          sync.Mutex // guards conn, writes to it and waiters
	conn        net.Conn
	// waiters get the replies of the commands written on conn, in order.
	waiters []chan trackReply
}

type trackReply struct {
	v   any
	err error
}

// errTrackerDown: the invalidation connection is not subscribed now (use another).
var errTrackerDown = errors.New("sutracache: the invalidation connection is down")

// do runs a command on the invalidation connection (whose NOLOOP keeps this process's own
// writes from invalidating its L1) and waits for its reply, at most the client's timeout.
func (t *tracker) do(ctx context.Context, args []any) (any, error) {
	ch := make(chan trackReply, 1)
	t.mu.Lock()
	if t.conn == nil || !t.healthy.Load() {
		t.mu.Unlock()
		return nil, errTrackerDown
	}
	t.waiters = append(t.waiters, ch)
	_ = t.conn.SetWriteDeadline(time.Now().Add(t.timeout))
	if _, err := t.conn.Write(encodeCommand(args)); err != nil {
		_ = t.conn.Close() // a partial command: the reader fails and reconnects
		t.mu.Unlock()
		return nil, err
	}
	t.mu.Unlock()
	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
		return nil, fmt.Errorf("no reply from %s within %v", t.opts.Addr, t.timeout)
	}
}

// failWaiters answers every command in flight with err (the connection is gone).
func (t *tracker) failWaiters(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range t.waiters {
		ch <- trackReply{err: err}
	}
	t.waiters = nil
}

// startTracker subscribes to the invalidations of c's namespace; the first connection is
// tried before it returns, later ones in the background until stop.
func startTracker(c *Client, onInv func(names []string, all bool)) *tracker {
	return startTrackerAt(c, c.single.Options(), onInv)
}

// startTrackerAt is startTracker on the node opts names (one master of a cluster).
func startTrackerAt(c *Client, opts *redis.Options, onInv func(names []string, all bool)) *tracker {
	t := &tracker{opts: opts, ns: c.ns, timeout: c.timeout, log: c.log, onInv: onInv,
		done: make(chan struct{})}
	conn, rd, err := t.connect()
	if t.refused(err) {
		return t
	}
	if err == nil {
		t.healthy.Store(true) // usable from the constructor's return, not from the goroutine's start
	}
	t.wg.Add(1)
	go t.run(conn, rd, err)
	return t
}

// refused says whether err is the shard's refusal of CLIENT TRACKING; the L1 then works as
// the seed's (entries leave it by TTL, LRU, or this process's own writes), as the Python
// client does against such a server.
func (t *tracker) refused(err error) bool {
	var refused errUnsupported
	if !errors.As(err, &refused) {
		return false
	}
	t.log.Warn("sutra cache: the shard refused CLIENT TRACKING; the L1 is not "+
		"invalidated by other processes' changes (entries leave it by TTL or LRU)",
		"shard", t.opts.Addr, "reply", refused.reply)
	t.onInv(nil, true)
	t.unsupported.Store(true)
	return true
}

func (t *tracker) stop() {
	close(t.done)
	t.mu.Lock()
	if t.conn != nil {
		_ = t.conn.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *tracker) stopped() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func (t *tracker) state() string {
	switch {
	case t.unsupported.Load():
		return TrackingUnsupported
	case t.healthy.Load():
		return TrackingConnected
	default:
		return TrackingConnecting
	}
}

// errUnsupported is the shard's refusal of CLIENT TRACKING (an error reply, not a failed
// connection).
type errUnsupported struct{ reply string }

func (e errUnsupported) Error() string { return "the shard refused CLIENT TRACKING: " + e.reply }

func (t *tracker) run(conn net.Conn, rd *bufio.Reader, err error) {
	defer t.wg.Done()
	backoff := 50 * time.Millisecond
	wasUp := true // log the first failure too
	for {
		if err == nil {
			backoff = 50 * time.Millisecond
			wasUp = true
			t.healthy.Store(true)
			err = t.serve(conn, rd)
			t.healthy.Store(false)
			// Invalidations may be lost from here on: drop the whole L1.
			t.onInv(nil, true)
			t.mu.Lock()
			_ = conn.Close()
			t.conn = nil
			t.mu.Unlock()
			t.failWaiters(fmt.Errorf("sutracache: connection to %s lost: %w", t.opts.Addr, err))
		}
		if t.stopped() {
			return
		}
		if t.refused(err) {
			return
		}
		if wasUp {
			t.log.Warn("sutra cache: L1 invalidation connection down; L1 emptied and bypassed "+
				"until it is back", "shard", t.opts.Addr, "err", err)
			wasUp = false
		}
		select {
		case <-t.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, trackMaxBackoff)
		t.reconnects.Add(1)
		conn, rd, err = t.connect()
	}
}

// connect dials, authenticates with HELLO 3 and turns BCAST tracking on for the namespace.
func (t *tracker) connect() (net.Conn, *bufio.Reader, error) {
	d := &net.Dialer{Timeout: t.timeout, KeepAlive: 15 * time.Second}
	var conn net.Conn
	var err error
	if t.opts.TLSConfig != nil {
		cfg := t.opts.TLSConfig.Clone()
		if cfg.ServerName == "" {
			if host, _, e := net.SplitHostPort(t.opts.Addr); e == nil {
				cfg.ServerName = host
			}
		}
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).Dial("tcp", t.opts.Addr)
	} else {
		conn, err = d.Dial("tcp", t.opts.Addr)
	}
	if err != nil {
		return nil, nil, err
	}
	t.mu.Lock()
	if t.stopped() {
		t.mu.Unlock()
		_ = conn.Close()
		return nil, nil, errors.New("stopped")
	}
	t.conn = conn
	t.mu.Unlock()
	fail := func(err error) (net.Conn, *bufio.Reader, error) {
		t.mu.Lock()
		_ = conn.Close()
		t.conn = nil
		t.mu.Unlock()
		return nil, nil, err
	}
	rd := bufio.NewReader(conn)
	_ = conn.SetDeadline(time.Now().Add(t.timeout))
	hello := []any{"HELLO", "3"}
	if t.opts.Password != "" {
		user := t.opts.Username
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, t.opts.Password)
	}
	hello = append(hello, "SETNAME", TrackingClientName)
	steps := [][]any{hello, {"CLIENT", "TRACKING", "on", "BCAST", "PREFIX", t.ns, "NOLOOP"}}
	for _, cmd := range steps {
		if _, err := conn.Write(encodeCommand(cmd)); err != nil {
			return fail(err)
		}
		for {
			v, push, err := readRESP(rd)
			if err != nil {
				return fail(err)
			}
			if push {
				continue
			}
			if e, ok := v.(respError); ok {
				if cmd[0] == "CLIENT" {
					return fail(errUnsupported{string(e)})
				}
				return fail(fmt.Errorf("the shard refused %s: %s", cmd[0], e.Error()))
			}
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, rd, nil
}

// serve applies pushes until the connection fails or stop closes it; a PING every second
// (answered within a few) shows the connection is alive.
func (t *tracker) serve(conn net.Conn, rd *bufio.Reader) error {
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		tick := time.NewTicker(trackPingEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				t.mu.Lock()
				t.waiters = append(t.waiters, make(chan trackReply, 1)) // its PONG is dropped
				_ = conn.SetWriteDeadline(time.Now().Add(t.timeout))
				_, err := conn.Write(encodeCommand([]any{"PING"}))
				t.mu.Unlock()
				if err != nil {
					return // the reader sees the failure too
				}
			}
		}
	}()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(3*trackPingEvery + t.timeout))
		v, push, err := readRESP(rd)
		if err != nil {
			return err
		}
		if !push {
			t.mu.Lock()
			if len(t.waiters) > 0 {
				ch := t.waiters[0]
				t.waiters = t.waiters[1:]
				if e, ok := v.(respError); ok {
					ch <- trackReply{err: e}
				} else {
					ch <- trackReply{v: v}
				}
			}
			t.mu.Unlock()
			continue
		}
		items, _ := v.([]any)
		if len(items) < 2 || items[0] != "invalidate" {
			continue
		}
		t.messages.Add(1)
		switch names := items[1].(type) {
		case nil:
			t.onInv(nil, true)
		case []any:
			out := make([]string, 0, len(names))
			for _, n := range names {
				if s, ok := n.(string); ok {
					out = append(out, s)
				}
			}
			t.onInv(out, false)
		}
	}
}

// encodeCommand is a RESP array of bulk strings; args are strings, byte slices or integers.
func encodeCommand(args []any) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		var v []byte
		switch x := a.(type) {
		case string:
			v = []byte(x)
		case []byte:
			v = x
		case int64:
			v = strconv.AppendInt(nil, x, 10)
		case int:
			v = strconv.AppendInt(nil, int64(x), 10)
		default:
			panic(fmt.Sprintf("encodeCommand: argument of type %T", a))
		}
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, "\r\n"...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	return b
}

// respError is an error reply; it is a redis.Error, as go-redis's error replies are.
type respError string

func (e respError) Error() string { return string(e) }

// RedisError marks an error reply of the server (go-redis's redis.Error interface).
func (respError) RedisError() {}

// readRESP reads one RESP3 value: strings, numbers, doubles, booleans and big numbers as
// string, null as nil, arrays, sets, maps (flattened) and pushes as []any, errors as
// respError; push says whether it was a push. Attributes are skipped.
func readRESP(r *bufio.Reader) (v any, push bool, err error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, false, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, false, fmt.Errorf("RESP: malformed line %q", line)
	}
	typ, body := line[0], line[1:len(line)-2]
	length := func() (int, error) {
		n, err := strconv.Atoi(body)
		if err != nil || n > maxRESPLen {
			return 0, fmt.Errorf("RESP: bad length %q", body)
		}
		return n, nil
	}
	switch typ {
	case '+', ':', ',', '(', '#':
		return body, false, nil
	case '-':
		return respError(body), false, nil
	case '_':
		return nil, false, nil
	case '$', '=', '!':
		n, err := length()
		if err != nil || n < 0 {
			return nil, false, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, false, err
		}
		s := string(buf[:n])
		if typ == '!' {
			return respError(s), false, nil
		}
		if typ == '=' && len(s) >= 4 {
			s = s[4:] // "txt:" / "mkd:"
		}
		return s, false, nil
	case '*', '~', '>', '%', '|':
		n, err := length()
		if err != nil || n < 0 {
			return nil, false, err
		}
		if typ == '%' || typ == '|' {
			n *= 2
		}
		items := make([]any, 0, min(n, 1024))
		for range n {
			item, _, err := readRESP(r)
			if err != nil {
				return nil, false, err
			}
			items = append(items, item)
		}
		if typ == '|' {
			return readRESP(r) // the attributed value
		}
		return items, typ == '>', nil
	}
	return nil, false, fmt.Errorf("RESP: unknown type %q", typ)
}

// trackRefreshEvery is how often a cluster's masters are read again (CLUSTER SLOTS).
const trackRefreshEvery = time.Second

// clusterTracking keeps the L1 coherent on a cluster: one tracker (invalidation connection)
// per master, since each node reports only the writes it serves. The masters are read from
// CLUSTER SLOTS before the constructor returns and every trackRefreshEvery: a new master
// gets its tracker (the L1 is emptied and bypassed until it is subscribed), one that left
// loses it. The L1 is usable only while every tracker is subscribed (or a node refused
// CLIENT TRACKING: then, as against such a shard, by TTL and LRU only).
type clusterTracking struct {
	c       *Client
	onInv   func(names []string, all bool)
	mu      sync.Mutex
	byAddr  map[string]*tracker
	known   atomic.Bool  // the masters were read once
	pending atomic.Int32 // trackers being added
	done    chan struct{}
	wg      sync.WaitGroup
}

func startClusterTracking(c *Client, onInv func(names []string, all bool)) *clusterTracking {
	ct := &clusterTracking{c: c, onInv: onInv, byAddr: map[string]*tracker{}, done: make(chan struct{})}
	ct.refresh()
	ct.wg.Add(1)
	go func() {
		defer ct.wg.Done()
		tick := time.NewTicker(trackRefreshEvery)
		defer tick.Stop()
		for {
			select {
			case <-ct.done:
				return
			case <-tick.C:
				ct.refresh()
			}
		}
	}()
	return ct
}

// masters are the addresses of the nodes serving slots now.
func (ct *clusterTracking) masters() (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ct.c.timeout)
	defer cancel()
	slots, err := ct.c.cluster.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, s := range slots {
		if len(s.Nodes) > 0 {
			out[s.Nodes[0].Addr] = true
		}
	}
	return out, nil
}

// refresh starts a tracker for each new master and stops those of nodes that left; an
// unreachable cluster changes nothing (the trackers say whether their nodes are up).
func (ct *clusterTracking) refresh() {
	addrs, err := ct.masters()
	if err != nil || len(addrs) == 0 {
		return
	}
	ct.mu.Lock()
	var added []string
	var removed []*tracker
	for a := range addrs {
		if ct.byAddr[a] == nil {
			added = append(added, a)
		}
	}
	for a, t := range ct.byAddr {
		if !addrs[a] {
			removed = append(removed, t)
			delete(ct.byAddr, a)
		}
	}
	ct.pending.Add(int32(len(added)))
	ct.mu.Unlock()
	if len(added) > 0 || len(removed) > 0 {
		ct.onInv(nil, true) // writes on a new master were not seen
	}
	for _, t := range removed {
		t.stop()
	}
	base := ct.c.cluster.Options()
	for _, a := range added {
		t := startTrackerAt(ct.c, &redis.Options{Addr: a, Username: base.Username,
			Password: base.Password, TLSConfig: base.TLSConfig}, ct.onInv)
		ct.mu.Lock()
		select {
		case <-ct.done:
			ct.mu.Unlock()
			t.stop()
		default:
			ct.byAddr[a] = t
			ct.mu.Unlock()
		}
		ct.pending.Add(-1)
	}
	ct.known.Store(true)
}

// each runs f on every tracker.
func (ct *clusterTracking) each(f func(t *tracker)) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, t := range ct.byAddr {
		f(t)
	}
}

// unsupported says whether a node refused CLIENT TRACKING.
func (ct *clusterTracking) unsupported() bool {
	refused := false
	ct.each(func(t *tracker) { refused = refused || t.unsupported.Load() })
	return refused
}

// healthy says whether every master's tracker is subscribed now.
func (ct *clusterTracking) healthy() bool {
	if !ct.known.Load() || ct.pending.Load() > 0 {
		return false
	}
	all, n := true, 0
	ct.each(func(t *tracker) { all = all && t.healthy.Load(); n++ })
	return all && n > 0
}

func (ct *clusterTracking) state() string {
	switch {
	case ct.unsupported():
		return TrackingUnsupported
	case ct.healthy():
		return TrackingConnected
	default:
		return TrackingConnecting
	}
}

func (ct *clusterTracking) counts() (messages, reconnects uint64) {
	ct.each(func(t *tracker) { messages += t.messages.Load(); reconnects += t.reconnects.Load() })
	return
}

// nodes are the addresses of the masters tracked now.
func (ct *clusterTracking) nodes() []string {
	var out []string
	ct.mu.Lock()
	for a := range ct.byAddr {
		out = append(out, a)
	}
	ct.mu.Unlock()
	return out
}

func (ct *clusterTracking) stop() {
	close(ct.done)
	ct.wg.Wait()
	ct.mu.Lock()
	ts := ct.byAddr
	ct.byAddr = map[string]*tracker{}
	ct.mu.Unlock()
	for _, t := range ts {
		t.stop()
	}
}
