package sutracache

import (
	"container/list"
	"context"
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
type prefetcher struct {
	k       int
	q       chan [2]string
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

func (m *MultiTier) startPrefetch(k, queue int) {
	p := &prefetcher{k: k, q: make(chan [2]string, queue), stop: make(chan struct{}),
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
				n, err := m.prefetchNow(ctx, it[0], it[1])
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

// offerPrefetch queues a prefetch after an L2 hit of element of set.
func (m *MultiTier) offerPrefetch(set, element string) {
	p := m.prefetch
	if p == nil || p.unsupported.Load() {
		return
	}
	p.pending.Add(1)
	select {
	case p.q <- [2]string{set, element}:
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

func (m *MultiTier) prefetchNow(ctx context.Context, set, element string) (int, error) {
	p := m.prefetch
	reply, err := m.l2.rdb.Do(ctx, "ANALYTICS", "NEXT", set, element, "COUNT", p.k).Slice()
	p.roundTrips.Add(1)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, r := range reply {
		if pair, ok := r.([]any); ok && len(pair) > 0 {
			if n, ok := pair[0].(string); ok {
				if _, _, in := m.l1Get(set + "\x00" + n); !in {
					names = append(names, n)
				}
			}
		}
	}
	if len(names) == 0 {
		return 0, nil
	}
	p.roundTrips.Add(1)
	return m.fetchInto(ctx, set, names, len(names), func(key string) {
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
