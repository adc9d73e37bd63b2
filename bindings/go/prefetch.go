package sutracache

import (
	"container/list"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// prefetcher is MultiTier's semantic prefetch (MultiTierOptions.Prefetch): after an L2 hit,
// one goroutine asks the shard what to bring in next (ANALYTICS NEXT: the entries looked up
// right after this one most often, then its nearest) and fetches those not in L1 into it.
// Offers go through a bounded channel (a full one drops the offer: a lookup never waits).
// Unused prefetched entries hold at most a tenth of L1: past that the oldest unused leaves.
// A model split over parts (ClientOptions.Parts > 1 on a cluster) is served from every part:
// the co-accessed entries from the entry's own part (the shard pairs lookups of one set),
// its nearest from all parts at once (VSIM FP32 of its vector, merged by score).
type prefetcher struct {
	k       int
	q       chan prefetchOffer
	stop    chan struct{}
	done    sync.WaitGroup
	pending atomic.Int64

	mu     sync.Mutex
	unused map[string]*list.Element
	order  *list.List
	cap    int

	offered, dropped, entries, hits, roundTrips, errs atomic.Uint64
	unsupported                                       atomic.Bool
}

// PrefetchStats describe the prefetch (all zero when it is off).
type PrefetchStats struct {
	Neighbours int    `json:"neighbours"`
	Offered    uint64 `json:"offered"`
	Dropped    uint64 `json:"dropped"`
	Entries    uint64 `json:"entries"`
	Hits       uint64 `json:"hits"`
	RoundTrips uint64 `json:"round_trips"`
	Errors     uint64 `json:"errors"`
}

// prefetchOffer is an L2 hit to prefetch after: the model, the entry's element name and its
// vector.
type prefetchOffer struct {
	model, element string
	vec            []float32
}

func (m *MultiTier) startPrefetch(k, queue int) {
	p := &prefetcher{k: k, q: make(chan prefetchOffer, queue), stop: make(chan struct{}),
		unused: map[string]*list.Element{}, order: list.New(), cap: max(1, m.maxSize/10)}
	m.prefetch = p
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		for {
			select {
			case <-p.stop:
				return
			case it := <-p.q:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				n, err := m.prefetchNow(ctx, it)
				cancel()
				p.entries.Add(uint64(n))
				if err != nil {
					p.errs.Add(1)
					if strings.Contains(strings.ToLower(err.Error()), "unknown") {
						p.unsupported.Store(true)
						m.l2.log.Warn("sutra cache: the shard has no ANALYTICS NEXT; prefetch is off", "err", err)
					}
				}
				p.pending.Add(-1)
			}
		}
	}()
}

// offerPrefetch queues a prefetch after an L2 hit of element (of model, with vector vec).
func (m *MultiTier) offerPrefetch(model, element string, vec []float32) {
	p := m.prefetch
	if p == nil || p.unsupported.Load() {
		return
	}
	p.pending.Add(1)
	select {
	case p.q <- prefetchOffer{model, element, vec}:
		p.offered.Add(1)
	default:
		p.pending.Add(-1)
		p.dropped.Add(1)
	}
}

// prefetchUsed notes a lookup of key (an L1 hit, or a promotion): it is no longer unused.
func (m *MultiTier) prefetchUsed(key string, hit bool) {
	p := m.prefetch
	if p == nil {
		return
	}
	p.mu.Lock()
	if e, ok := p.unused[key]; ok {
		p.order.Remove(e)
		delete(p.unused, key)
		if hit {
			p.hits.Add(1)
		}
	}
	p.mu.Unlock()
}

// prefetchNow is one prefetch: ANALYTICS NEXT on the node of the entry's set (part), for a
// split model the nearest of every part, then one pipeline for those not in L1.
func (m *MultiTier) prefetchNow(ctx context.Context, o prefetchOffer) (int, error) {
	p := m.prefetch
	keys, err := m.l2.keys(o.model)
	if err != nil {
		return 0, err
	}
	home := keys[PartOf(o.element, len(keys))]
	reply, err := m.l2.doOnKey(ctx, home, "ANALYTICS", "NEXT", home, o.element, "COUNT", p.k).Slice()
	p.roundTrips.Add(1)
	if err != nil {
		return 0, err
	}
	l1 := func(n string) string { return m.l1KeyOf(o.model, n) }
	var chosen []l2Entry
	taken := map[string]bool{o.element: true}
	for _, r := range reply {
		pair, ok := r.([]any)
		if !ok || len(pair) == 0 {
			continue
		}
		n, ok := pair[0].(string)
		if !ok || taken[n] {
			continue
		}
		var count int64
		if len(pair) > 1 {
			count, _ = pair[1].(int64)
		}
		// One set: its nearest come with the co-accessed. A split model: only the
		// co-accessed here (count > 0); the nearest from every part below.
		if len(keys) == 1 || count > 0 {
			taken[n] = true
			chosen = append(chosen, l2Entry{set: home, name: n, l1: l1(n)})
		}
	}
	if len(keys) > 1 && len(chosen) < p.k && len(o.vec) > 0 {
		near, err := m.nearestInParts(ctx, keys, vectorArgs(o.vec), p.k+1)
		p.roundTrips.Add(1)
		if err != nil {
			return 0, err
		}
		for _, nb := range near {
			if len(chosen) >= p.k {
				break
			}
			if !taken[nb.name] {
				taken[nb.name] = true
				chosen = append(chosen, l2Entry{set: nb.set, name: nb.name, l1: l1(nb.name)})
			}
		}
	}
	var fetch []l2Entry
	for _, e := range chosen[:min(len(chosen), p.k)] {
		if _, _, in := m.l1Get(e.l1); !in {
			fetch = append(fetch, e)
		}
	}
	if len(fetch) == 0 {
		return 0, nil
	}
	p.roundTrips.Add(1)
	return m.fetchEntries(ctx, fetch, len(fetch), func(key string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, ok := p.unused[key]; !ok {
			p.unused[key] = p.order.PushBack(key)
		}
		for p.order.Len() > p.cap {
			old := p.order.Remove(p.order.Front()).(string)
			delete(p.unused, old)
			_, _ = m.l1.Delete(old)
		}
	})
}

// partNeighbour is an entry of a part and its score against a query.
type partNeighbour struct {
	set, name string
	score     float64
}

// nearestInParts asks every part at once for the count entries nearest query (VSIM's
// query arguments, e.g. FP32 and the bytes; … WITHSCORES) and merges them, highest score
// first (as find_similar merges a split model's parts). A part that fails is left out; all
// failing is an error.
func (m *MultiTier) nearestInParts(ctx context.Context, keys []string, query []any, count int) ([]partNeighbour, error) {
	replies, err := m.l2.fanOut(ctx, keys, func(key string) []any {
		return append(append([]any{"VSIM", key}, query...), "COUNT", count, "WITHSCORES")
	})
	var all []partNeighbour
	answered := 0
	for i, reply := range replies {
		if reply == nil {
			continue
		}
		answered++
		for j := 0; j+1 < len(reply); j += 2 {
			n, _ := reply[j].(string)
			score, perr := strconv.ParseFloat(fmt.Sprint(reply[j+1]), 64)
			if perr != nil {
				return nil, fmt.Errorf("VSIM answered a score %v", reply[j+1])
			}
			all = append(all, partNeighbour{keys[i], n, score})
		}
	}
	if answered == 0 && err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(a, b int) bool {
		if all[a].score != all[b].score {
			return all[a].score > all[b].score
		}
		return all[a].name < all[b].name
	})
	return all, nil
}

// WaitPrefetched blocks until every prefetch offered so far is done (tests, benchmarks);
// whether they all are within timeout. True at once with prefetch off.
func (m *MultiTier) WaitPrefetched(timeout time.Duration) bool {
	p := m.prefetch
	if p == nil {
		return true
	}
	deadline := time.Now().Add(timeout)
	for p.pending.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func (m *MultiTier) prefetchStats() PrefetchStats {
	p := m.prefetch
	if p == nil {
		return PrefetchStats{}
	}
	return PrefetchStats{Neighbours: p.k, Offered: p.offered.Load(), Dropped: p.dropped.Load(),
		Entries: p.entries.Load(), Hits: p.hits.Load(), RoundTrips: p.roundTrips.Load(),
		Errors: p.errs.Load()}
}

func (m *MultiTier) stopPrefetch() {
	if p := m.prefetch; p != nil {
		close(p.stop)
		p.done.Wait()
	}
}
