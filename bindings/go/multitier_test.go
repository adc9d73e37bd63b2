package sutracache

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestMultiTier(t testing.TB, opts MultiTierOptions) *MultiTier {
	t.Helper()
	m, err := NewMultiTier(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// eventually polls cond until it holds, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMultiTierReadsL1ThenL2AndPromotesWithTheEntrysRemainingTTL(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	m := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 100, Client: ClientOptions{Addr: addr(port)}, NoTracking: true})
	other := newTestClient(t, ClientOptions{Addr: addr(port)})

	if err := m.Set(ctx, "mine", []float32{1, 2}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if err := other.Set(ctx, "theirs", []float32{3, 4}, "m", 100*time.Second); err != nil {
		t.Fatal(err)
	}
	if v, found, err := m.Get(ctx, "mine", "m"); err != nil || !found || v[1] != 2 {
		t.Fatalf("L1 hit: %v %v %v", v, found, err)
	}
	if s := m.Stats(); s.L1.Hits != 1 || s.L2.TotalRequests != 0 {
		t.Fatalf("a Set entry was not served by L1: %v", s)
	}
	if v, found, err := m.Get(ctx, "theirs", "m"); err != nil || !found || v[0] != 3 {
		t.Fatalf("L2 hit: %v %v %v", v, found, err)
	}
	ttl, err := m.l1.TTL(m.l1Key("theirs", "m"))
	if err != nil || ttl <= 0 || ttl > 100*time.Second {
		t.Fatalf("promoted L1 entry TTL %v %v, want the L2 entry's remaining ≤ 100 s", ttl, err)
	}
	if ttl, _ := m.l1.TTL(m.l1Key("mine", "m")); ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Fatalf("L1 TTL of a Set with the default TTL: %v", ttl)
	}
	if _, found, _ := m.Get(ctx, "theirs", "m"); !found {
		t.Fatal("promoted entry missing")
	}
	if _, found, _ := m.Get(ctx, "nobody", "m"); found {
		t.Fatal("miss found")
	}
	s := m.Stats()
	if s.L1.Hits != 2 || s.L2.Hits != 1 || s.L2.Misses != 1 || s.L1.Size != 2 || s.L1.MaxSize != 100 ||
		s.L1.Utilization != 0.02 || s.TotalHitRate != 0.75 || s.Backend != "100% Sutra Native" || s.L1.Coherent || s.L1.Tracking != TrackingOff {
		t.Fatalf("stats %+v", s)
	}
}

func TestMultiTierL1EntriesExpireWithTheEntrysTTLAndEvictLeastRecentlyUsed(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	m := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 3, Client: ClientOptions{Addr: addr(port)}, NoTracking: true})
	if err := m.Set(ctx, "short-lived", []float32{1}, "m", time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the L1 entry's expiry", func() bool {
		_, found, _ := m.l1.Get(m.l1Key("short-lived", "m"))
		return !found
	})
	eventually(t, "the L2 entry's expiry", func() bool {
		_, found, _ := m.Get(ctx, "short-lived", "m")
		return !found
	})
	for i := range 5 {
		if err := m.Set(ctx, "t"+strconv.Itoa(i), []float32{float32(i)}, "m", 0); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			_, _, _ = m.Get(ctx, "t0", "m") // t0 becomes the most recently used
		}
	}
	if s := m.Stats(); s.L1.Size != 3 || s.L1.Utilization != 1 {
		t.Fatalf("L1 over its size: %+v", s.L1)
	}
	for i, want := range []bool{true, false, false, true, true} {
		if _, found, _ := m.l1.Get(m.l1Key("t"+strconv.Itoa(i), "m")); found != want {
			t.Fatalf("t%d in L1 = %v, want %v (LRU order)", i, found, want)
		}
	}
	if _, found, _ := m.Get(ctx, "t1", "m"); !found {
		t.Fatal("an entry evicted from L1 is still in L2")
	}
}

func TestMultiTierSetDropsBadInputAndSemanticInvalidationLeavesL1(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	m := newTestMultiTier(t, MultiTierOptions{Client: ClientOptions{Addr: addr(port)}, NoTracking: true})
	if err := m.Set(ctx, "a", unit(0), "m", 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "b", []float32{1, 0}, "m", 0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("wrong dimension through the MultiTier: %v", err)
	}
	if _, found, _ := m.l1.Get(m.l1Key("b", "m")); found {
		t.Fatal("a vector the shard refused is in L1")
	}
	if err := m.Set(ctx, "near a", unit(10), "m", 0); err != nil {
		t.Fatal(err)
	}
	removed, err := m.SemanticInvalidate(ctx, Query{Text: "a"}, 0.9, "m")
	if err != nil || len(removed) != 2 {
		t.Fatalf("removed %+v %v", removed, err)
	}
	for _, text := range []string{"a", "near a"} {
		if _, found, _ := m.Get(ctx, text, "m"); found {
			t.Fatalf("%q served after its semantic invalidation", text)
		}
	}
	if err := m.Set(ctx, "c", unit(0), "m", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := m.Get(ctx, "c", "m"); found || m.Stats().L1.Size != 0 {
		t.Fatal("an entry survived Clear")
	}
}

func TestMultiTierGetOrComputeAndMaxAge(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	m := newTestMultiTier(t, MultiTierOptions{Client: ClientOptions{Addr: addr(port)}, NoTracking: true})
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := m.GetOrCompute(ctx, "x", "m", func(context.Context) ([]float32, error) {
				calls.Add(1)
				<-release
				return []float32{5}, nil
			})
			if err != nil || len(v) != 1 || v[0] != 5 {
				t.Errorf("%v %v", v, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // lets the goroutines join the flight (the assertion holds either way)
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("compute ran %d times", calls.Load())
	}
	// The L1 keeps cached_at: an entry older than the max age is not served from L1 either.
	time.Sleep(20 * time.Millisecond)
	if _, found, _ := m.Get(ctx, "x", "m", MaxAge(10*time.Millisecond)); found {
		t.Fatal("an entry older than the max age was served")
	}
	if _, found, _ := m.Get(ctx, "x", "m", MaxAge(time.Hour)); !found {
		t.Fatal("a fresh entry was not served")
	}
}

func TestFromEnvReadsTheSeedsVariables(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	t.Setenv("L1_CACHE_SIZE", "42")
	t.Setenv("CACHE_SHARD_HOST", "127.0.0.1")
	t.Setenv("CACHE_SHARD_PORT", strconv.Itoa(port))
	m, err := FromEnv(MultiTierOptions{NoTracking: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Set(ctx, "a", []float32{1}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.L1.MaxSize != 42 || s.L2.Shard != addr(port) || s.L2.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}
	t.Setenv("L1_CACHE_SIZE", "")
	t.Setenv("CACHE_SHARD_HOST", "")
	t.Setenv("CACHE_SHARD_PORT", "")
	d, err := FromEnv(MultiTierOptions{NoTracking: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if s := d.Stats(); s.L1.MaxSize != 10_000 || s.L2.Shard != "storage-cache-shard:50051" {
		t.Fatalf("the seed's defaults: %+v", s)
	}
	for k, v := range map[string]string{"L1_CACHE_SIZE": "lots", "CACHE_SHARD_PORT": "99999"} {
		t.Setenv(k, v)
		if _, err := FromEnv(MultiTierOptions{NoTracking: true}); !errors.Is(err, ErrBadInput) {
			t.Fatalf("%s=%s: %v", k, v, err)
		}
		t.Setenv(k, "")
	}
}
