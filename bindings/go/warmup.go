package sutracache

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
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
//
// A model split over parts (ClientOptions.Parts > 1 on a cluster, docs/cluster.md) is warmed
// from every part: ANALYTICS HOT to all parts at once (a goroutine each), the concepts
// merged by count (each part counts the lookups of its own entries), and each batch one
// pipeline with a VMGETF32 per part it touches.
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
	model = modelOr(model)
	keys, err := m.l2.keys(model)
	if err != nil {
		return 0, err
	}
	if err := m.l2.checkLayout(ctx, model); err != nil {
		if isLayoutError(err) {
			return 0, err
		}
		return 0, m.l2.degrade("warmup", err)
	}
	tail := []any{"COUNT", min(count, m.maxSize), "WINDOW", window}
	if opts.Topic != "" {
		tail = append(tail, "FILTER", opts.Topic)
	}
	replies := make([]any, len(keys))
	errs := make([]error, len(keys))
	hotOf := func(i int) {
		args := append([]any{"ANALYTICS", "HOT", keys[i]}, tail...)
		replies[i], errs[i] = m.l2.doOnKey(ctx, keys[i], args...).Result()
	}
	if len(keys) == 1 {
		hotOf(0)
	} else {
		var wg sync.WaitGroup
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hotOf(i)
			}()
		}
		wg.Wait()
	}
	var hot []hotConcept
	for i := range keys {
		if errs[i] != nil {
			if strings.Contains(errs[i].Error(), "existing vector set") {
				continue // no entries (in this part) yet
			}
			return 0, m.l2.degrade("warmup", errs[i])
		}
		got, err := hotConcepts(replies[i], keys[i])
		if err != nil {
			return 0, m.l2.degrade("warmup", err)
		}
		hot = append(hot, got...)
	}
	if len(keys) > 1 {
		sort.SliceStable(hot, func(a, b int) bool {
			if hot[a].count != hot[b].count {
				return hot[a].count > hot[b].count
			}
			return hot[a].name < hot[b].name
		})
	}
	hot = hot[:min(len(hot), count)]
	entries := make([]l2Entry, len(hot))
	for i, c := range hot {
		entries[i] = l2Entry{set: c.set, name: c.name, l1: c.set + "\x00" + c.name}
	}
	n, err := m.load(ctx, entries, opts.BatchSize)
	if err != nil {
		return n, m.l2.degrade("warmup", err)
	}
	return n, nil
}

// WarmupConcept is the seed's loop form (`for concept in hot: await
// cache_client.warmup(concept)`): it brings one concept into L1 — a text as given to Set,
// or an element name as ANALYTICS HOT and POST /api/query answer it — and, with
// neighbours > 0, its nearest cached entries (one more round trip, VSIM … ELE; for a model
// split over parts, its vector, then VSIM … FP32 to every part at once, the nearest of all
// kept). An entry not cached is skipped. Returns how many entries entered L1.
func (m *MultiTier) WarmupConcept(ctx context.Context, concept, model string, neighbours int) (int, error) {
	if neighbours < 0 {
		return 0, badInput("neighbours must not be negative, got %d", neighbours)
	}
	model = modelOr(model)
	keys, err := m.l2.keys(model)
	if err != nil {
		return 0, err
	}
	if err := m.l2.checkLayout(ctx, model); err != nil {
		if isLayoutError(err) {
			return 0, err
		}
		return 0, m.l2.degrade("warmup", err)
	}
	name := concept
	if !(strings.HasPrefix(concept, hashedPrefix) && len(concept) == len(hashedPrefix)+64) {
		name = ElementName(concept)
	}
	set := keys[PartOf(name, len(keys))]
	// The L1 key is the name the shard's invalidations give the entry (its part's set).
	l1 := func(n string) string { return set + "\x00" + n }
	entries := []l2Entry{{set: set, name: name, l1: l1(name)}}
	switch {
	case neighbours > 0 && len(keys) == 1:
		got, err := m.l2.rdb.Do(ctx, "VSIM", set, "ELE", name, "COUNT", neighbours+1).StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "not found") {
			return 0, m.l2.degrade("warmup", err)
		}
		for _, g := range got {
			if g != name && len(entries) <= neighbours {
				entries = append(entries, l2Entry{set: set, name: g, l1: l1(g)})
			}
		}
	case neighbours > 0:
		raw, err := m.l2.rdb.Do(ctx, "VGETF32", set, name).Text()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, m.l2.degrade("warmup", err)
		}
		if err == nil {
			all, err := m.nearestInParts(ctx, keys, []any{"FP32", []byte(raw)}, neighbours+1)
			if err != nil {
				return 0, m.l2.degrade("warmup", err)
			}
			all = slices.DeleteFunc(all, func(nb partNeighbour) bool { return nb.name == name })
			for _, nb := range all[:min(len(all), neighbours)] {
				entries = append(entries, l2Entry{set: nb.set, name: nb.name, l1: nb.set + "\x00" + nb.name})
			}
		}
	}
	n, err := m.load(ctx, entries, 0)
	if err != nil {
		return n, m.l2.degrade("warmup", err)
	}
	return n, nil
}

// doOnKey runs a command on the node serving key: on a cluster, for the commands whose key
// the cluster client cannot find (ANALYTICS's subcommands name their set after the
// subcommand); on one shard, as any command.
func (c *Client) doOnKey(ctx context.Context, key string, args ...any) *redis.Cmd {
	if c.cluster == nil {
		return c.rdb.Do(ctx, args...)
	}
	node, err := c.cluster.MasterForKey(ctx, key)
	if err != nil {
		cmd := redis.NewCmd(ctx, args...)
		cmd.SetErr(err)
		return cmd
	}
	return node.Do(ctx, args...)
}

// hotConcept is one concept of ANALYTICS HOT: its set (part), name and count.
type hotConcept struct {
	set, name string
	count     int64
}

// hotConcepts reads ANALYTICS HOT's map (RESP2: a flat list) of set for its concepts,
// hottest first.
func hotConcepts(reply any, set string) ([]hotConcept, error) {
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
	out := make([]hotConcept, 0, len(list))
	for _, c := range list {
		if t, ok := c.([]any); ok && len(t) > 0 {
			if s, ok := t[0].(string); ok {
				var n int64
				if len(t) > 1 {
					n, _ = t[1].(int64)
				}
				out = append(out, hotConcept{set: set, name: s, count: n})
			}
		}
	}
	return out, nil
}

// l2Entry is an entry to bring into L1: the set (part) holding it, its element name, and
// its L1 key.
type l2Entry struct {
	set, name, l1 string
}

// load fetches entries into L1, batch per round trip, least hot first (entries are hottest
// first), as Get would promote them (coherent: an entry invalidated while in flight is not
// kept).
func (m *MultiTier) load(ctx context.Context, entries []l2Entry, batch int) (int, error) {
	n, err := m.fetchEntries(ctx, entries, batch, nil)
	m.warmed.Add(uint64(n))
	return n, err
}

// fetchEntries is load's body: each batch one pipeline, a VMGETF32 per set it touches and
// each entry's attributes and TTL; put is called with each key that entered L1.
func (m *MultiTier) fetchEntries(ctx context.Context, entries []l2Entry, batch int, put func(string)) (int, error) {
	if batch <= 0 {
		batch = 256
	}
	if len(entries) > m.maxSize {
		entries = entries[:m.maxSize]
	}
	rev := make([]l2Entry, len(entries))
	for i, e := range entries {
		rev[len(entries)-1-i] = e
	}
	loaded := 0
	for at := 0; at < len(rev); at += batch {
		part := rev[at:min(at+batch, len(rev))]
		keys := make([]string, len(part))
		epochs := make([]uint64, len(part))
		for i, e := range part {
			keys[i] = e.l1
			epochs[i] = m.begin(keys[i])
		}
		pipe := m.l2.rdb.Pipeline()
		var sets []string
		bySet := map[string][]int{}
		for i, e := range part {
			if _, ok := bySet[e.set]; !ok {
				sets = append(sets, e.set)
			}
			bySet[e.set] = append(bySet[e.set], i)
		}
		vecCmds := make([]*redis.Cmd, len(sets))
		for j, set := range sets {
			args := []any{"VMGETF32", set}
			for _, i := range bySet[set] {
				args = append(args, part[i].name)
			}
			vecCmds[j] = pipe.Do(ctx, args...)
		}
		attrs := make([]*redis.Cmd, len(part))
		pttls := make([]*redis.Cmd, len(part))
		for i, e := range part {
			attrs[i] = pipe.Do(ctx, "VGETATTR", e.set, e.name)
			pttls[i] = pipe.Do(ctx, "VPTTL", e.set, e.name)
		}
		_, err := pipe.Exec(ctx)
		raws := make([]any, len(part))
		var verr error
		for j, set := range sets {
			got, e := vecCmds[j].Slice()
			if e == nil && len(got) != len(bySet[set]) {
				e = errors.New("VMGETF32 answered a different number of entries")
			}
			if e != nil {
				verr = e
				break
			}
			for k, i := range bySet[set] {
				raws[i] = got[k]
			}
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
