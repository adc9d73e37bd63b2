package sutracache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultL1MaxSize is the seed's L1 capacity (entries).
const DefaultL1MaxSize = 10_000

// MultiTierOptions configure a MultiTier.
type MultiTierOptions struct {
	// L1MaxSize is the in-process tier's capacity in entries (DefaultL1MaxSize when 0);
	// beyond it the least recently used entry is evicted.
	L1MaxSize int
	// Client configures the L2 client of the shard.
	Client ClientOptions
	// NoTracking turns coherence off: the L1 then drops an entry only at its TTL, at
	// eviction, or when this process sets or invalidates it, so another process's change is
	// not seen until then. By default a dedicated connection subscribes to the shard's
	// invalidations (CLIENT TRACKING on BCAST PREFIX <namespace>, RESP3) and the L1 is only
	// used while that connection is up. On a cluster (Client.StartupNodes) there is one
	// such connection per master (read from CLUSTER SLOTS, again every second), and the L1
	// is used only while all of them are up.
	NoTracking bool
	// Prefetch, when > 0, turns semantic prefetch on: after an L2 hit, that many entries
	// the shard offers (ANALYTICS NEXT) are brought into L1 in the background; unused
	// prefetched entries hold at most a tenth of L1. Off by default.
	Prefetch int
	// PrefetchQueue bounds the prefetches waiting (64 when 0); a full queue drops offers.
	PrefetchQueue int
}

// MultiTier is the seed's two-tier cache: an L1 in this process (the embedded engine, an
// O(1) LRU of L1MaxSize entries with each entry's TTL) in front of a Client of the shard
// (L2). Get looks in L1, then L2 (promoting a hit into L1); Set writes both. It is safe for
// concurrent use.
type MultiTier struct {
	l1       *Cache
	l2       *Client
	maxSize  int
	l1Hits   atomic.Uint64
	lookups  atomic.Uint64
	flights  singleflight.Group
	coherent *tracker // nil with NoTracking or on a cluster
	// nodes: on a cluster with tracking, one tracker per master (else nil).
	nodes *clusterTracking
	// mu orders L1 writes against invalidations: a promotion or write checks, under mu,
	// that no invalidation of its entry arrived since it read or wrote L2.
	mu      sync.Mutex
	pending map[string]*pendingEntry
	epoch   uint64 // bumped when the whole L1 is dropped
	// Entries dropped by invalidations, and whole-L1 drops.
	invalidations, flushes atomic.Uint64
	// Entries Warmup and WarmupConcept put in L1.
	warmed atomic.Uint64
	// The prefetch; nil when off.
	prefetch *prefetcher
}

type pendingEntry struct {
	n     int
	dirty bool
}

// NewMultiTier makes a two-tier cache. With tracking (the default) it opens the
// invalidation connection before returning when the shard answers within the client's
// timeout, and keeps retrying in the background otherwise.
func NewMultiTier(opts MultiTierOptions) (*MultiTier, error) {
	if opts.L1MaxSize < 0 {
		return nil, badInput("L1MaxSize must not be negative, got %d", opts.L1MaxSize)
	}
	if opts.L1MaxSize == 0 {
		opts.L1MaxSize = DefaultL1MaxSize
	}
	l2, err := NewClient(opts.Client)
	if err != nil {
		return nil, err
	}
	l1, err := Open("", Options{MaxEntries: uint64(opts.L1MaxSize), EvictionPolicy: EvictLRU})
	if err != nil {
		_ = l2.Close()
		return nil, err
	}
	m := &MultiTier{l1: l1, l2: l2, maxSize: opts.L1MaxSize, pending: map[string]*pendingEntry{}}
	if opts.Prefetch < 0 || opts.Prefetch > 1000 || opts.PrefetchQueue < 0 {
		_ = l2.Close()
		_ = l1.Close()
		return nil, badInput("Prefetch must be from 0 to 1000 and PrefetchQueue not negative, got %d and %d", opts.Prefetch, opts.PrefetchQueue)
	}
	if opts.Prefetch > 0 {
		q := opts.PrefetchQueue
		if q == 0 {
			q = 64
		}
		m.startPrefetch(opts.Prefetch, q)
	}
	if !opts.NoTracking {
		if l2.cluster != nil {
			m.nodes = startClusterTracking(l2, m.invalidate)
		} else {
			m.coherent = startTracker(l2, m.invalidate)
		}
	}
	return m, nil
}

// FromEnv is the seed's integration step: a MultiTier whose L1 size is L1_CACHE_SIZE
// (default 10000) and whose shard is CACHE_SHARD_HOST:CACHE_SHARD_PORT (defaults
// storage-cache-shard and 50051). opts supplies everything else (password, TLS, …); a
// variable that is set wins over opts.
func FromEnv(opts MultiTierOptions) (*MultiTier, error) {
	if v := os.Getenv("L1_CACHE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, badInput("L1_CACHE_SIZE=%q is not a positive integer", v)
		}
		opts.L1MaxSize = n
	}
	host, port := "storage-cache-shard", "50051"
	if opts.Client.Addr != "" {
		h, p, err := splitAddr(opts.Client.Addr)
		if err != nil {
			return nil, err
		}
		host, port = h, p
	}
	if v := os.Getenv("CACHE_SHARD_HOST"); v != "" {
		host = v
	}
	if v := os.Getenv("CACHE_SHARD_PORT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n <= 0 || n > 65535 {
			return nil, badInput("CACHE_SHARD_PORT=%q is not a port number", v)
		}
		port = v
	}
	opts.Client.Addr = joinHostPort(host, port)
	return NewMultiTier(opts)
}

func splitAddr(addr string) (string, string, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", badInput("address %q is not host:port", addr)
	}
	return strings.Trim(addr[:i], "[]"), addr[i+1:], nil
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// Client is the L2 client.
func (m *MultiTier) Client() *Client { return m.l2 }

// Close stops the invalidation connection and closes both tiers.
func (m *MultiTier) Close() error {
	m.stopPrefetch()
	if m.coherent != nil {
		m.coherent.stop()
	}
	if m.nodes != nil {
		m.nodes.stop()
	}
	err := m.l2.Close()
	if e := m.l1.Close(); err == nil {
		err = e
	}
	return err
}

// l1Key is an entry's L1 key: the name the shard's invalidations carry, set + "\x00" +
// element.
func (m *MultiTier) l1Key(text, model string) string {
	return m.l1KeyOf(model, ElementName(text))
}

// l1KeyOf is the L1 key of element of model: the name the shard's invalidations give it,
// `<set key>\x00<element>` with the set key of its part on a split model.
func (m *MultiTier) l1KeyOf(model, element string) string {
	if set, err := m.l2.entryKey(model, element); err == nil {
		return set + "\x00" + element
	}
	return m.l2.SetKey(model) + "\x00" + element
}

// l1Value is cached_at (float64 unix seconds, little-endian) followed by the f32 bytes.
func l1Value(cachedAt float64, v []float32) []byte {
	b := make([]byte, 8+4*len(v))
	binary.LittleEndian.PutUint64(b, math.Float64bits(cachedAt))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[8+4*i:], math.Float32bits(x))
	}
	return b
}

func l1Decode(b []byte) (float64, []float32, bool) {
	if len(b) < 8 || (len(b)-8)%4 != 0 {
		return 0, nil, false
	}
	v, _ := DecodeEmbedding(b[8:])
	return math.Float64frombits(binary.LittleEndian.Uint64(b)), v, true
}

// l1Bufs are read buffers of L1 hits (one cgo call per hit: Cache.Get would first try a
// 256-byte buffer).
var l1Bufs = sync.Pool{New: func() any { b := make([]byte, 8+4*1024); return &b }}

// l1Get is key's L1 entry: cached_at and the vector.
func (m *MultiTier) l1Get(key string) (float64, []float32, bool) {
	bp := l1Bufs.Get().(*[]byte)
	defer l1Bufs.Put(bp)
	for {
		n, found, err := m.l1.GetInto(key, *bp)
		if e, ok := err.(*Error); ok && e.Code == BufferTooSmall {
			*bp = make([]byte, n)
			continue
		}
		if err != nil || !found {
			return 0, nil, false
		}
		return l1Decode((*bp)[:n])
	}
}

// usable says whether the L1 may be read and written: always without tracking or against a
// shard that refused it, otherwise only while the invalidation connection is subscribed.
func (m *MultiTier) usable() bool {
	if m.nodes != nil {
		return m.nodes.healthy() || m.nodes.unsupported()
	}
	return m.coherent == nil || m.coherent.healthy.Load() || m.coherent.unsupported.Load()
}

// begin registers an L2 access to key; finish (under m.mu) says whether no invalidation of
// key, and no L1 drop, happened since.
func (m *MultiTier) begin(key string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pending[key]
	if p == nil {
		p = &pendingEntry{}
		m.pending[key] = p
	}
	p.n++
	return m.epoch
}

// finish ends an access begun with begin and, when nothing invalidated key meanwhile,
// writes value to L1 for ttl (≤ 0: no expiry); says whether it did.
func (m *MultiTier) finish(key string, epoch uint64, value []byte, ttl time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pending[key]
	clean := !p.dirty && epoch == m.epoch && m.usable()
	if p.n--; p.n == 0 {
		delete(m.pending, key)
	}
	if !clean || value == nil {
		return false
	}
	if ttl <= 0 {
		ttl = TTLNever
	}
	if err := m.l1.Set(key, value, ttl); err != nil {
		m.l2.log.Warn("sutra cache L1 write failed", "err", err)
		return false
	}
	return true
}

// finishSet ends a write begun with begin: L1 keeps value only when this write was the only
// access to key in flight and nothing invalidated key meanwhile; other accesses in flight
// are marked stale (they may hold what this write replaced).
func (m *MultiTier) finishSet(key string, epoch uint64, value []byte, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pending[key]
	clean := !p.dirty && p.n == 1 && epoch == m.epoch && m.usable()
	if p.n--; p.n == 0 {
		delete(m.pending, key)
	} else {
		p.dirty = true
	}
	if !clean || value == nil {
		_, _ = m.l1.Delete(key) // an older value must not outlive this write
		return
	}
	if ttl <= 0 {
		ttl = TTLNever
	}
	if err := m.l1.Set(key, value, ttl); err != nil {
		m.l2.log.Warn("sutra cache L1 write failed", "err", err)
	}
}

// invalidate drops names from L1 (the tracker's callback); all drops everything.
func (m *MultiTier) invalidate(names []string, all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	flush := func() {
		m.epoch++
		for _, p := range m.pending {
			p.dirty = true
		}
		_ = m.l1.Flush()
		m.flushes.Add(1)
	}
	if all {
		flush()
		return
	}
	for _, n := range names {
		if p := m.pending[n]; p != nil {
			p.dirty = true
		}
		if strings.IndexByte(n, 0) < 0 {
			// A whole set changed (deleted, flushed, replaced): drop every L1 entry.
			flush()
			return
		}
		if dropped, _ := m.l1.Delete(n); dropped {
			m.invalidations.Add(1)
		}
	}
}

// Get looks text up in L1, then in L2 (an L2 hit is promoted into L1 for the entry's
// remaining TTL); found is false on a miss. Errors as Client.Get.
func (m *MultiTier) Get(ctx context.Context, text, model string, opts ...GetOption) ([]float32, bool, error) {
	o, err := readOptions(opts)
	if err != nil {
		return nil, false, err
	}
	return m.get(ctx, text, model, o)
}

func (m *MultiTier) get(ctx context.Context, text, model string, o getOptions) ([]float32, bool, error) {
	m.lookups.Add(1)
	key := m.l1Key(text, model)
	if m.usable() {
		if at, v, ok := m.l1Get(key); ok && (o.maxAge == 0 || !tooOld(at, o.maxAge, time.Now())) {
			m.l1Hits.Add(1)
			m.prefetchUsed(key, true)
			return v, true, nil
		}
	}
	epoch := m.begin(key)
	e, found, err := m.l2.get(ctx, text, model, o, true)
	var value []byte
	if found {
		value = l1Value(e.cachedAt, e.vec)
	}
	if m.finish(key, epoch, value, e.ttl) {
		m.prefetchUsed(key, false)
	}
	if found {
		m.offerPrefetch(model, ElementName(text), e.vec)
	}
	return e.vec, found, err
}

// Set writes embedding to L2 and L1 (L1 for the same TTL: 0 is the client's default, NoTTL
// none). Errors as Client.Set; an embedding the shard did not store is not put in L1. With
// tracking, the write goes over the invalidation connection (NOLOOP: its own write does not
// invalidate this L1), and L1 keeps it unless another process changed the entry meanwhile
// or another call of this process on the same entry was in flight.
func (m *MultiTier) Set(ctx context.Context, text string, embedding []float32, model string, ttl time.Duration, opts ...SetOption) error {
	args, err := m.l2.setArgs(text, embedding, model, ttl, opts)
	if err != nil {
		return err
	}
	if err := m.l2.checkLayout(ctx, model); err != nil {
		if isLayoutError(err) {
			return err
		}
		return m.l2.degrade("set", err)
	}
	key := m.l1Key(text, model)
	epoch := m.begin(key)
	now := time.Now()
	werr := errTrackerDown
	if m.coherent != nil {
		_, werr = m.coherent.do(ctx, args)
	}
	if errors.Is(werr, errTrackerDown) {
		werr = m.l2.rdb.Do(ctx, args...).Err()
	}
	var value []byte
	if werr == nil {
		value = l1Value(unixSeconds(now), embedding)
	}
	m.finishSet(key, epoch, value, ttlOf(args))
	return m.l2.setResult(werr, embedding, model)
}

// GetOrCompute is Client.GetOrCompute through both tiers.
func (m *MultiTier) GetOrCompute(ctx context.Context, text, model string, compute func(ctx context.Context) ([]float32, error), opts ...GetOption) ([]float32, error) {
	o, err := readOptions(opts)
	if err != nil {
		return nil, err
	}
	return singleFlight(ctx, &m.flights, m.l1Key(text, model), func(ctx context.Context) ([]float32, error) {
		v, found, err := m.get(ctx, text, model, o)
		if err != nil || found {
			return v, err
		}
		if v, err = compute(ctx); err != nil {
			return nil, err
		}
		return v, m.Set(ctx, text, v, model, 0)
	})
}

// FindSimilar is Client.FindSimilar (the shard holds every entry).
func (m *MultiTier) FindSimilar(ctx context.Context, q Query, model string, k int, minSimilarity float64, opts ...QueryOption) ([]Match, error) {
	return m.l2.FindSimilar(ctx, q, model, k, minSimilarity, opts...)
}

// SemanticInvalidate is Client.SemanticInvalidate; the removed entries also leave this
// process's L1 at once (other processes' L1s drop them through tracking).
func (m *MultiTier) SemanticInvalidate(ctx context.Context, q Query, threshold float64, model string, opts ...QueryOption) ([]Match, error) {
	removed, err := m.l2.SemanticInvalidate(ctx, q, threshold, model, opts...)
	names := make([]string, len(removed))
	for i, r := range removed {
		names[i] = m.l1KeyOf(r.Model, r.Element)
	}
	m.invalidate(names, false)
	return removed, err
}

// Clear empties L1 and removes this namespace's sets from the shard (Client.Clear).
func (m *MultiTier) Clear(ctx context.Context) (int, error) {
	m.invalidate(nil, true)
	return m.l2.Clear(ctx)
}

// L1Stats describe the in-process tier.
type L1Stats struct {
	Size        int     `json:"size"`
	MaxSize     int     `json:"max_size"`
	Utilization float64 `json:"utilization"`
	Hits        uint64  `json:"hits"`
	// Warmed counts entries Warmup and WarmupConcept put in L1.
	Warmed uint64 `json:"warmed"`
	// Coherent says whether the L1 is subscribed to the shard's invalidations now.
	Coherent bool `json:"coherent"`
	// Tracking is TrackingOff, TrackingConnecting, TrackingConnected or TrackingUnsupported.
	Tracking string `json:"tracking"`
	// Invalidations counts L1 entries dropped by invalidations, Flushes whole-L1 drops (a
	// flush, a whole set changed, a lost invalidation connection, Clear).
	Invalidations      uint64 `json:"invalidations"`
	Flushes            uint64 `json:"flushes"`
	TrackingMessages   uint64 `json:"tracking_messages"`
	TrackingReconnects uint64 `json:"tracking_reconnects"`
}

// MultiTierStats are the seed's combined statistics.
type MultiTierStats struct {
	L1 L1Stats     `json:"l1"`
	L2 ClientStats `json:"l2"`
	// Prefetch describes the semantic prefetch (zero when off).
	Prefetch PrefetchStats `json:"prefetch"`
	// TotalHitRate is (L1 hits + L2 hits) over all lookups.
	TotalHitRate float64 `json:"total_hit_rate"`
	Backend      string  `json:"backend"`
}

// Stats are the seed's statistics of both tiers.
func (m *MultiTier) Stats() MultiTierStats {
	size := 0
	if s, err := m.l1.Stats(); err == nil {
		size = int(s.Entries)
	}
	l2 := m.l2.Stats()
	s := MultiTierStats{
		L1: L1Stats{Size: size, MaxSize: m.maxSize, Utilization: float64(size) / float64(m.maxSize),
			Hits: m.l1Hits.Load(), Warmed: m.warmed.Load(), Tracking: TrackingOff, Invalidations: m.invalidations.Load(),
			Flushes: m.flushes.Load()},
		L2:       l2,
		Prefetch: m.prefetchStats(),
		Backend:  "100% Sutra Native",
	}
	if t := m.coherent; t != nil {
		s.L1.Tracking, s.L1.Coherent = t.state(), t.healthy.Load()
		s.L1.TrackingMessages, s.L1.TrackingReconnects = t.messages.Load(), t.reconnects.Load()
	}
	if ct := m.nodes; ct != nil {
		s.L1.Tracking, s.L1.Coherent = ct.state(), ct.healthy()
		s.L1.TrackingMessages, s.L1.TrackingReconnects = ct.counts()
	}
	if n := m.lookups.Load(); n > 0 {
		s.TotalHitRate = float64(s.L1.Hits+l2.Hits) / float64(n)
	}
	return s
}

func (s MultiTierStats) String() string {
	return fmt.Sprintf("l1 %d/%d (%d hits, tracking %s), l2 %d/%d hits, total hit rate %.2f",
		s.L1.Size, s.L1.MaxSize, s.L1.Hits, s.L1.Tracking, s.L2.Hits, s.L2.TotalRequests, s.TotalHitRate)
}
