package sutracache

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// WarmupOptions configure MultiTier.Warmup.
type WarmupOptions struct {
	// Count is how many of the hottest concepts to load (0: the L1's size; at most 10000).
	Count int
	// Topic, when set, is a FILTER expression (e.g. `.topic == "financial"`): only the hot
	// concepts whose attributes pass it are loaded.
	Topic string
	// Window is how far back lookups count (0: one hour; whole seconds).
	Window time.Duration
	// BatchSize is how many entries one round trip fetches (0: 256).
	BatchSize int
}

// Warmup fills L1 with the shard's hottest concepts of model (ANALYTICS HOT: the most
// looked-up entries over the window; of a topic when opts.Topic is set), BatchSize entries
// per round trip (one pipeline of VMGETF32 and each entry's attributes and TTL). The hottest
// end up the most recently used. Returns how many entries entered L1. A model with no
// entries yet warms nothing; a shard without ANALYTICS (e.g. Redis) is a logged,
// non-critical failure (an error with Strict).
func (m *MultiTier) Warmup(ctx context.Context, model string, opts WarmupOptions) (int, error) {
	count := opts.Count
	if count == 0 {
		count = min(m.maxSize, 10_000)
	}
	if count < 1 || count > 10_000 {
		return 0, badInput("Count must be from 1 to 10000, got %d", opts.Count)
	}
	window := int64(opts.Window / time.Second)
	if opts.Window == 0 {
		window = 3600
	}
	if window < 1 {
		return 0, badInput("Window must be at least 1 s, got %v", opts.Window)
	}
	if opts.BatchSize < 0 {
		return 0, badInput("BatchSize must not be negative, got %d", opts.BatchSize)
	}
	set := m.l2.SetKey(model)
	args := []any{"ANALYTICS", "HOT", set, "COUNT", min(count, m.maxSize), "WINDOW", window}
	if opts.Topic != "" {
		args = append(args, "FILTER", opts.Topic)
	}
	reply, err := m.l2.rdb.Do(ctx, args...).Result()
	if err != nil {
		if strings.Contains(err.Error(), "existing vector set") {
			return 0, nil
		}
		return 0, m.l2.degrade("warmup", err)
	}
	names, err := hotNames(reply)
	if err != nil {
		return 0, m.l2.degrade("warmup", err)
	}
	n, err := m.load(ctx, set, names, opts.BatchSize)
	if err != nil {
		return n, m.l2.degrade("warmup", err)
	}
	return n, nil
}

// WarmupConcept is the seed's loop form (`for concept in hot: await
// cache_client.warmup(concept)`): it brings one concept into L1 — a text as given to Set,
// or an element name as ANALYTICS HOT and POST /api/query answer it — and, with
// neighbours > 0, its nearest cached entries (one more round trip, VSIM … ELE). An entry
// not cached is skipped. Returns how many entries entered L1.
func (m *MultiTier) WarmupConcept(ctx context.Context, concept, model string, neighbours int) (int, error) {
	if neighbours < 0 {
		return 0, badInput("neighbours must not be negative, got %d", neighbours)
	}
	set := m.l2.SetKey(model)
	name := concept
	if !(strings.HasPrefix(concept, hashedPrefix) && len(concept) == len(hashedPrefix)+64) {
		name = ElementName(concept)
	}
	names := []string{name}
	if neighbours > 0 {
		got, err := m.l2.rdb.Do(ctx, "VSIM", set, "ELE", name, "COUNT", neighbours+1).StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "not found") {
			return 0, m.l2.degrade("warmup", err)
		}
		for _, g := range got {
			if g != name && len(names) <= neighbours {
				names = append(names, g)
			}
		}
	}
	n, err := m.load(ctx, set, names, 0)
	if err != nil {
		return n, m.l2.degrade("warmup", err)
	}
	return n, nil
}

// hotNames reads ANALYTICS HOT's map (RESP2: a flat list) for its concepts' names, hottest
// first.
func hotNames(reply any) ([]string, error) {
	var concepts any
	switch r := reply.(type) {
	case []any:
		for i := 0; i+1 < len(r); i += 2 {
			if k, _ := r[i].(string); k == "concepts" {
				concepts = r[i+1]
			}
		}
	case map[any]any:
		concepts = r["concepts"]
	}
	list, ok := concepts.([]any)
	if !ok {
		return nil, errors.New("unexpected reply to ANALYTICS HOT")
	}
	names := make([]string, 0, len(list))
	for _, c := range list {
		if t, ok := c.([]any); ok && len(t) > 0 {
			if s, ok := t[0].(string); ok {
				names = append(names, s)
			}
		}
	}
	return names, nil
}

// load fetches names of set into L1, batch per round trip, least hot first (names are
// hottest first), as Get would promote them (coherent: an entry invalidated while in flight
// is not kept).
func (m *MultiTier) load(ctx context.Context, set string, names []string, batch int) (int, error) {
	n, err := m.fetchInto(ctx, set, names, batch, nil)
	m.warmed.Add(uint64(n))
	return n, err
}

// fetchInto is load's body; put is called with each key that entered L1.
func (m *MultiTier) fetchInto(ctx context.Context, set string, names []string, batch int, put func(string)) (int, error) {
	if batch <= 0 {
		batch = 256
	}
	if len(names) > m.maxSize {
		names = names[:m.maxSize]
	}
	rev := make([]string, len(names))
	for i, n := range names {
		rev[len(names)-1-i] = n
	}
	loaded := 0
	for at := 0; at < len(rev); at += batch {
		part := rev[at:min(at+batch, len(rev))]
		keys := make([]string, len(part))
		epochs := make([]uint64, len(part))
		for i, n := range part {
			keys[i] = set + "\x00" + n
			epochs[i] = m.begin(keys[i])
		}
		pipe := m.l2.rdb.Pipeline()
		args := []any{"VMGETF32", set}
		for _, n := range part {
			args = append(args, n)
		}
		vecs := pipe.Do(ctx, args...)
		attrs := make([]*redis.Cmd, len(part))
		pttls := make([]*redis.Cmd, len(part))
		for i, n := range part {
			attrs[i] = pipe.Do(ctx, "VGETATTR", set, n)
			pttls[i] = pipe.Do(ctx, "VPTTL", set, n)
		}
		_, err := pipe.Exec(ctx)
		raws, verr := vecs.Slice()
		if verr == nil && len(raws) != len(part) {
			verr = errors.New("VMGETF32 answered a different number of entries")
		}
		if verr != nil {
			for i := range part {
				m.finish(keys[i], epochs[i], nil, 0)
			}
			if err == nil || errors.Is(err, redis.Nil) {
				err = verr
			}
			return loaded, err
		}
		for i := range part {
			raw, _ := raws[i].(string)
			var value []byte
			ttl := time.Duration(0)
			if raws[i] != nil {
				if v, derr := DecodeEmbedding([]byte(raw)); derr == nil {
					var a struct {
						CachedAt float64 `json:"cached_at"`
					}
					if js, e := attrs[i].Text(); e == nil {
						_ = json.Unmarshal([]byte(js), &a)
					}
					ms, e := pttls[i].Int64()
					switch {
					case e == nil && ms >= 0:
						ttl = time.Duration(ms) * time.Millisecond
					case e == nil && ms == -2:
						v = nil // expired between the reads
					}
					if v != nil {
						value = l1Value(a.CachedAt, v)
					}
				}
			}
			if m.finish(keys[i], epochs[i], value, ttl) {
				loaded++
				if put != nil {
					put(keys[i])
				}
			}
		}
	}
	return loaded, nil
}
