package sutracache

import (
	"fmt"
	"testing"
	"time"
)

func warmVec(i int) []float32 { return []float32{1, float32(i % 7), float32(i/7) + 0.5, 0.25} }

func TestWarmupFillsL1WithTheHottestConceptsOneRoundTripPerBatch(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	for i := 0; i < 30; i++ {
		topic := "sports"
		if i%2 == 1 {
			topic = "financial"
		}
		if err := c.Set(ctx, fmt.Sprintf("concept %d", i), warmVec(i), "m", 0, Tags(map[string]any{"topic": topic})); err != nil {
			t.Fatal(err)
		}
	}
	// concept i is looked up 20 - i times for i < 12; the rest never.
	for i := 0; i < 12; i++ {
		for k := 0; k < 20-i; k++ {
			if _, found, err := c.Get(ctx, fmt.Sprintf("concept %d", i), "m"); err != nil || !found {
				t.Fatalf("get %d: %v %v", i, found, err)
			}
		}
	}
	m := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 5, Client: ClientOptions{Addr: addr(port)}})
	eventually(t, "tracking connected", func() bool { return m.Stats().L1.Coherent })
	n, err := m.Warmup(ctx, "m", WarmupOptions{BatchSize: 2})
	if err != nil || n != 5 {
		t.Fatalf("Warmup: %d %v, want 5", n, err)
	}
	before := m.Stats().L2.TotalRequests
	for i := 0; i < 5; i++ {
		v, found, err := m.Get(ctx, fmt.Sprintf("concept %d", i), "m")
		if err != nil || !found || v[2] != warmVec(i)[2] {
			t.Fatalf("get %d after warmup: %v %v %v", i, v, found, err)
		}
	}
	if s := m.Stats(); s.L1.Hits != 5 || s.L2.TotalRequests != before || s.L1.Warmed != 5 {
		t.Fatalf("the 5 hottest were not all served from L1: %v (warmed %d)", s, s.L1.Warmed)
	}

	// A topic: only its hot concepts.
	t2 := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 100, Client: ClientOptions{Addr: addr(port)}, NoTracking: true})
	if n, err := t2.Warmup(ctx, "m", WarmupOptions{Topic: `.topic == "financial"`, Count: 4}); err != nil || n != 4 {
		t.Fatalf("topic warmup: %d %v", n, err)
	}
	for _, i := range []int{1, 3, 5, 7} {
		if _, _, ok := t2.l1Get(t2.l1Key(fmt.Sprintf("concept %d", i), "m")); !ok {
			t.Fatalf("financial concept %d not warmed", i)
		}
	}
	if _, _, ok := t2.l1Get(t2.l1Key("concept 0", "m")); ok {
		t.Fatal("a sports concept was warmed for the financial topic")
	}

	// The seed's loop form: one concept (and its nearest neighbours).
	t3 := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 100, Client: ClientOptions{Addr: addr(port)}, NoTracking: true})
	for _, concept := range []string{"concept 3", "concept 4"} {
		if n, err := t3.WarmupConcept(ctx, concept, "m", 0); err != nil || n != 1 {
			t.Fatalf("WarmupConcept(%q): %d %v", concept, n, err)
		}
	}
	if n, err := t3.WarmupConcept(ctx, "concept 20", "m", 2); err != nil || n != 3 {
		t.Fatalf("WarmupConcept with 2 neighbours: %d %v", n, err)
	}
	if n, err := t3.WarmupConcept(ctx, "never cached", "m", 0); err != nil || n != 0 {
		t.Fatalf("an uncached concept: %d %v", n, err)
	}
	if n, err := t3.Warmup(ctx, "empty", WarmupOptions{}); err != nil || n != 0 {
		t.Fatalf("a model with no entries: %d %v", n, err)
	}
	if _, err := t3.Warmup(ctx, "m", WarmupOptions{Count: 10_001}); err == nil {
		t.Fatal("Count 10001 accepted")
	}
	if _, err := t3.WarmupConcept(ctx, "x", "m", -1); err == nil {
		t.Fatal("negative neighbours accepted")
	}
}

func TestPrefetchAfterAnL2HitBringsInWhatWasLookedUpNext(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	for i := 0; i < 40; i++ {
		if err := c.Set(ctx, fmt.Sprintf("concept %d", i), warmVec(i), "pf", 0); err != nil {
			t.Fatal(err)
		}
	}
	for r := 0; r < 4; r++ { // other clients: concept 3 is asked right after concept 30
		for _, i := range []int{30, 3} {
			if _, found, err := c.Get(ctx, fmt.Sprintf("concept %d", i), "pf"); err != nil || !found {
				t.Fatal(found, err)
			}
		}
	}
	m := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 20, Client: ClientOptions{Addr: addr(port)}, NoTracking: true, Prefetch: 2})
	if _, found, err := m.Get(ctx, "concept 30", "pf"); err != nil || !found {
		t.Fatal(found, err)
	}
	if !m.WaitPrefetched(20 * time.Second) {
		t.Fatal("prefetch never finished")
	}
	before := m.Stats().L2.TotalRequests
	if v, found, err := m.Get(ctx, "concept 3", "pf"); err != nil || !found || v[1] != warmVec(3)[1] {
		t.Fatal(v, found, err)
	}
	s := m.Stats()
	if s.L2.TotalRequests != before || s.Prefetch.Hits != 1 || s.Prefetch.Entries != 2 || s.Prefetch.RoundTrips != 2 {
		t.Fatalf("concept 3 was not prefetched: %+v", s.Prefetch)
	}
	if _, err := NewMultiTier(MultiTierOptions{Client: ClientOptions{Addr: addr(port)}, Prefetch: -1}); err == nil {
		t.Fatal("Prefetch -1 accepted")
	}
	off := newTestMultiTier(t, MultiTierOptions{Client: ClientOptions{Addr: addr(port)}, NoTracking: true})
	if off.Stats().Prefetch != (PrefetchStats{}) || !off.WaitPrefetched(time.Second) {
		t.Fatal("prefetch is not off by default")
	}
}
