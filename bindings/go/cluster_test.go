package sutracache

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sutraCluster starts three `sutra-cache serve --cluster-mode yes` nodes and makes them a
// cluster with `sutra-cache cluster create` (even contiguous slot ranges, in this order).
func sutraCluster(t *testing.T) []string {
	t.Helper()
	var nodes []string
	for range 3 {
		nodes = append(nodes, addr(sutraServer(t, "SUTRA_CLUSTER_MODE=yes")))
	}
	bin, _ := filepath.Abs("../../target/release/sutra-cache")
	out, err := exec.Command(bin, append([]string{"cluster", "create"}, nodes...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster create: %v\n%s", err, out)
	}
	return nodes
}

// ownerOf is the address of the node serving key's slot (from CLUSTER SLOTS).
func ownerOf(t *testing.T, ctx context.Context, nodes []string, key string) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: nodes[0], Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	s := KeySlot(key)
	for _, r := range slots {
		if int(r.Start) <= s && s <= int(r.End) {
			return r.Nodes[0].Addr
		}
	}
	t.Fatalf("no node serves slot %d", s)
	return ""
}

func randomVectors(n, dim int, seed int64) [][]float32 {
	rng := rand.New(rand.NewSource(seed))
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, dim)
		for j := range out[i] {
			out[i][j] = rng.Float32()*2 - 1
		}
	}
	return out
}

func TestThePartLayoutIsThePythonClients(t *testing.T) {
	// The values sutra_cache.parts gives (Python): both clients must find the same sets.
	keys, err := PartKeys("emb:", "minilm", 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"emb:minilm:{minilm:0.0}", "emb:minilm:{minilm:1.2}", "emb:minilm:{minilm:2.1}"}; !slices.Equal(keys, want) {
		t.Fatalf("PartKeys = %q, want %q", keys, want)
	}
	slotsOf := []int{KeySlot(keys[0]), KeySlot(keys[1]), KeySlot(keys[2])}
	if !slices.Equal(slotsOf, []int{3242, 7128, 13035}) {
		t.Fatalf("slots %v", slotsOf)
	}
	parts := []int{PartOf("hello", 3), PartOf("text 1", 3), PartOf("sha256:ab", 3), PartOf("é", 3)}
	if !slices.Equal(parts, []int{1, 1, 1, 2}) {
		t.Fatalf("PartOf %v", parts)
	}
	if one, _ := PartKeys("emb:", "minilm", 1); !slices.Equal(one, []string{"emb:minilm"}) {
		t.Fatalf("one part: %q", one)
	}
	if _, err := PartKeys("emb:", "a{b}", 2); !errors.Is(err, ErrBadInput) {
		t.Fatalf("a model with braces: %v", err)
	}
}

func TestASplitModelPutsEachPartOnItsOwnNodeAndEachEntryInItsPart(t *testing.T) {
	ctx := testCtx(t)
	nodes := sutraCluster(t)
	c := newTestClient(t, ClientOptions{StartupNodes: nodes, Parts: 3, Strict: true})
	vecs := randomVectors(90, 8, 1)
	for i, v := range vecs {
		if err := c.Set(ctx, "text "+strconv.Itoa(i), v, "minilm", 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range vecs {
		got, found, err := c.Get(ctx, "text "+strconv.Itoa(i), "minilm")
		if err != nil || !found || !slices.Equal(got, v) {
			t.Fatalf("get %d: %v %v %v", i, got, found, err)
		}
	}
	if _, found, err := c.Get(ctx, "never cached", "minilm"); found || err != nil {
		t.Fatalf("a miss: %v %v", found, err)
	}
	keys, _ := PartKeys("emb:", "minilm", 3)
	owners := map[string]bool{}
	for _, k := range keys {
		owners[ownerOf(t, ctx, nodes, k)] = true
	}
	if len(owners) != 3 {
		t.Fatalf("the parts are on %d nodes", len(owners))
	}
	for i := range vecs {
		text := "text " + strconv.Itoa(i)
		key := keys[PartOf(text, 3)]
		node := redis.NewClient(&redis.Options{Addr: ownerOf(t, ctx, nodes, key), Protocol: 2, DisableIdentity: true})
		if err := node.Do(ctx, "VGETF32", key, text).Err(); err != nil {
			t.Fatalf("%q is not in %q on its node: %v", text, key, err)
		}
		node.Close()
	}
	if models, err := c.Models(ctx); err != nil || !slices.Equal(models, []string{"minilm"}) {
		t.Fatalf("Models = %v, %v", models, err)
	}
	if n, err := c.Cluster().HGet(ctx, LayoutPrefix+"emb:", "minilm").Result(); err != nil || n != "3" {
		t.Fatalf("the recorded parts: %q %v", n, err)
	}
	if n, err := c.Clear(ctx); err != nil || n != 1 {
		t.Fatalf("Clear = %d, %v", n, err)
	}
	if models, _ := c.Models(ctx); len(models) != 0 {
		t.Fatalf("after Clear: %v", models)
	}
}

// bothLoaded writes the same entries to one node and to a cluster with three parts.
func bothLoaded(t *testing.T, ctx context.Context, n int, seed int64) (single, split *Client, vecs [][]float32) {
	single = newTestClient(t, ClientOptions{Addr: addr(sutraServer(t)), Strict: true})
	split = newTestClient(t, ClientOptions{StartupNodes: sutraCluster(t), Parts: 3, Strict: true})
	vecs = randomVectors(n, 16, seed)
	for i, v := range vecs {
		tags := Tags(map[string]any{"even": i%2 == 0})
		for _, c := range []*Client{single, split} {
			if err := c.Set(ctx, "entry "+strconv.Itoa(i), v, "m", 0, tags); err != nil {
				t.Fatal(err)
			}
		}
	}
	return single, split, vecs
}

func sameMatches(t *testing.T, what string, a, b []Match) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d matches on one node, %d on three", what, len(a), len(b))
	}
	for i := range a {
		d := a[i].Similarity - b[i].Similarity
		if a[i].Element != b[i].Element || d > 1e-5 || d < -1e-5 || a[i].Attributes["even"] != b[i].Attributes["even"] {
			t.Fatalf("%s: match %d: %+v on one node, %+v on three", what, i, a[i], b[i])
		}
	}
}

func TestFindSimilarFansOutToEveryPartAndMatchesOneNode(t *testing.T) {
	ctx := testCtx(t)
	single, split, vecs := bothLoaded(t, ctx, 300, 2)
	for qi, q := range randomVectors(10, 16, 3) {
		for _, opts := range [][]QueryOption{{EF(500)}, {EF(500), Filter(".even")}} {
			a, err := single.FindSimilar(ctx, Query{Vector: q}, "m", 10, 0.1, opts...)
			if err != nil {
				t.Fatal(err)
			}
			b, err := split.FindSimilar(ctx, Query{Vector: q}, "m", 10, 0.1, opts...)
			if err != nil {
				t.Fatal(err)
			}
			sameMatches(t, "query "+strconv.Itoa(qi), a, b)
		}
	}
	for _, text := range []string{"entry 0", "entry 17", "entry 299"} { // its part's vector
		a, _ := single.FindSimilar(ctx, Query{Text: text}, "m", 5, -1, EF(500))
		b, err := split.FindSimilar(ctx, Query{Text: text}, "m", 5, -1, EF(500))
		if err != nil || b[0].Text != text {
			t.Fatalf("%q: %v %v", text, b, err)
		}
		sameMatches(t, text, a, b)
	}
	if _, err := split.FindSimilar(ctx, Query{Text: "no such text"}, "m", 5, 0); !errors.Is(err, ErrNoEmbedder) {
		t.Fatalf("an uncached text without an embedder: %v", err)
	}
	_ = vecs
}

func elements(ms []Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Element
	}
	sort.Strings(out)
	return out
}

func TestSemanticInvalidateFansOutAndRemovesWhatOneNodeRemoves(t *testing.T) {
	ctx := testCtx(t)
	single, split, vecs := bothLoaded(t, ctx, 300, 4)
	a, err := single.SemanticInvalidate(ctx, Query{Vector: vecs[0]}, 0.3, "m")
	if err != nil {
		t.Fatal(err)
	}
	b, err := split.SemanticInvalidate(ctx, Query{Vector: vecs[0]}, 0.3, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) < 4 || !slices.Equal(elements(a), elements(b)) {
		t.Fatalf("one node removed %v, three %v", elements(a), elements(b))
	}
	// a text query over every model of the namespace
	a, _ = single.SemanticInvalidate(ctx, Query{Text: "entry 1"}, 0.2, "")
	b, err = split.SemanticInvalidate(ctx, Query{Text: "entry 1"}, 0.2, "")
	if err != nil || !slices.Contains(elements(b), "entry 1") || !slices.Equal(elements(a), elements(b)) {
		t.Fatalf("one node removed %v, three %v (%v)", elements(a), elements(b), err)
	}
	left := func(c *Client) []string {
		ms, err := c.FindSimilar(ctx, Query{Vector: vecs[0]}, "m", 300, -1, EF(500))
		if err != nil {
			t.Fatal(err)
		}
		return elements(ms)
	}
	if l1, l3 := left(single), left(split); !slices.Equal(l1, l3) {
		t.Fatalf("left on one node %d, on three %d", len(l1), len(l3))
	}
}

func TestClientsWithAnotherNumberOfPartsAreRefusedSayingWhich(t *testing.T) {
	ctx := testCtx(t)
	nodes := sutraCluster(t)
	c := newTestClient(t, ClientOptions{StartupNodes: nodes, Parts: 3})
	if err := c.Set(ctx, "x", []float32{1, 0}, "m", 0); err != nil {
		t.Fatal(err)
	}
	other := newTestClient(t, ClientOptions{StartupNodes: nodes, Parts: 2})
	if _, _, err := other.Get(ctx, "x", "m"); !errors.Is(err, ErrBadInput) {
		t.Fatalf("a Get with another Parts: %v", err)
	}
	if err := other.Set(ctx, "y", []float32{1, 0}, "m", 0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("a Set with another Parts: %v", err)
	}
	if err := other.Set(ctx, "y", []float32{1, 0}, "n", 0); err != nil {
		t.Fatalf("another model has its own layout: %v", err)
	}
	for _, opts := range []ClientOptions{
		{Addr: "127.0.0.1:1", Parts: 3},
		{StartupNodes: []string{"nohost"}},
		{StartupNodes: nodes, Addr: "127.0.0.1:1"},
		{StartupNodes: nodes, Parts: MaxParts + 1},
	} {
		if _, err := NewClient(opts); !errors.Is(err, ErrBadInput) {
			t.Fatalf("%+v: %v", opts, err)
		}
	}
}

func TestMultiTierRunsOnAClusterWithItsL1(t *testing.T) {
	ctx := testCtx(t)
	nodes := sutraCluster(t)
	m, err := NewMultiTier(MultiTierOptions{L1MaxSize: 100, NoTracking: true,
		Client: ClientOptions{StartupNodes: nodes, Parts: 3, Strict: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Set(ctx, "a", []float32{1, 0}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "b", []float32{0, 1}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := m.Get(ctx, "a", "m"); !found || err != nil || !slices.Equal(v, []float32{1, 0}) {
		t.Fatalf("get: %v %v %v", v, found, err)
	}
	removed, err := m.SemanticInvalidate(ctx, Query{Vector: []float32{1, 0}}, 0.99, "m")
	if err != nil || len(removed) != 1 || removed[0].Element != "a" {
		t.Fatalf("invalidate: %v %v", removed, err)
	}
	if _, found, _ := m.Get(ctx, "a", "m"); found {
		t.Fatal("the invalidated entry is still in a tier")
	}
}

func TestAClusterThatCannotBeReachedGivesMissesNotAFailedConstructor(t *testing.T) {
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{StartupNodes: []string{"127.0.0.1:1"}, Parts: 3})
	if _, found, err := c.Get(ctx, "x", "m"); found || err != nil {
		t.Fatalf("get: %v %v", found, err)
	}
	if err := c.Set(ctx, "x", []float32{1}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if ms, err := c.FindSimilar(ctx, Query{Vector: []float32{1}}, "m", 3, 0); len(ms) != 0 || err != nil {
		t.Fatalf("find: %v %v", ms, err)
	}
	if s := c.Stats(); s.Errors != 3 || s.Shard != "127.0.0.1:1" {
		t.Fatalf("stats %+v", s)
	}
}

func TestWarmupOfASplitModelMergesTheHotConceptsOfEveryPart(t *testing.T) {
	ctx := testCtx(t)
	nodes := sutraCluster(t)
	c := newTestClient(t, ClientOptions{StartupNodes: nodes, Parts: 3, Strict: true})
	vecs := randomVectors(60, 16, 7)
	text := func(i int) string { return "hot " + strconv.Itoa(i) }
	for i, v := range vecs {
		if err := c.Set(ctx, text(i), v, "warm", 0); err != nil {
			t.Fatal(err)
		}
	}
	// hot i is looked up 30 - i times for i < 20 (distinct counts), the rest never.
	for i := range 20 {
		for range 30 - i {
			if _, found, err := c.Get(ctx, text(i), "warm"); err != nil || !found {
				t.Fatalf("get %d: %v %v", i, found, err)
			}
		}
	}
	parts := map[int]bool{}
	for i := range 8 {
		parts[PartOf(ElementName(text(i)), 3)] = true
	}
	if len(parts) != 3 {
		t.Fatalf("the 8 hottest should span the 3 parts: %v", parts)
	}
	m := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 8, NoTracking: true,
		Client: ClientOptions{StartupNodes: nodes, Parts: 3, Strict: true}})
	n, err := m.Warmup(ctx, "warm", WarmupOptions{BatchSize: 3})
	if err != nil || n != 8 {
		t.Fatalf("Warmup: %d %v, want 8", n, err)
	}
	for i := range 9 {
		_, v, ok := m.l1Get(m.l1Key(text(i), "warm"))
		if ok != (i < 8) {
			t.Fatalf("hot %d in L1: %v (the 8 hottest of all parts, no other)", i, ok)
		}
		if ok && !slices.Equal(v, vecs[i]) {
			t.Fatalf("hot %d: %v, want %v", i, v, vecs[i])
		}
	}

	// One concept and its 3 nearest, found in every part.
	cos := func(a, b []float32) float64 {
		var d, na, nb float64
		for k := range a {
			d += float64(a[k] * b[k])
			na += float64(a[k] * a[k])
			nb += float64(b[k] * b[k])
		}
		return d / math.Sqrt(na*nb)
	}
	order := make([]int, 60)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cos(vecs[0], vecs[order[a]]) > cos(vecs[0], vecs[order[b]]) })
	m2 := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 16, NoTracking: true,
		Client: ClientOptions{StartupNodes: nodes, Parts: 3, Strict: true}})
	if n, err := m2.WarmupConcept(ctx, text(0), "warm", 3); err != nil || n != 4 {
		t.Fatalf("WarmupConcept with 3 neighbours: %d %v", n, err)
	}
	nearParts := map[int]bool{}
	for _, i := range order[:4] {
		if _, _, ok := m2.l1Get(m2.l1Key(text(i), "warm")); !ok {
			t.Fatalf("neighbour hot %d (of %v) not warmed", i, order[:4])
		}
		nearParts[PartOf(ElementName(text(i)), 3)] = true
	}
	if len(nearParts) < 2 {
		t.Fatalf("the 4 nearest should come from several parts: %v", nearParts)
	}
}

func TestPrefetchOnAClusterAsksTheNodeOfTheModelsSet(t *testing.T) {
	ctx := testCtx(t)
	nodes := sutraCluster(t)
	m := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 100, NoTracking: true, Prefetch: 2,
		Client: ClientOptions{StartupNodes: nodes, Strict: true}})
	for i, v := range randomVectors(30, 16, 11) {
		if err := m.Client().Set(ctx, "pf "+strconv.Itoa(i), v, "pf", 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		if _, found, err := m.Get(ctx, "pf "+strconv.Itoa(i), "pf"); err != nil || !found {
			t.Fatalf("get %d: %v %v", i, found, err)
		}
		if !m.WaitPrefetched(10 * time.Second) {
			t.Fatal("a prefetch did not finish")
		}
	}
	p := m.Stats().Prefetch
	if p.Errors != 0 || p.Offered == 0 || p.Entries == 0 {
		t.Fatalf("prefetch on a cluster: %+v", p)
	}
}

func TestMultiTierL1sOnAClusterAreInvalidatedByAWriteOnAnyNode(t *testing.T) {
	ctx := testCtx(t)
	nodes := sutraCluster(t)
	opts := MultiTierOptions{L1MaxSize: 100, Client: ClientOptions{StartupNodes: nodes, Parts: 3, Strict: true}}
	a := newTestMultiTier(t, opts)
	b := newTestMultiTier(t, opts)
	eventually(t, "both L1s coherent", func() bool { return a.Stats().L1.Coherent && b.Stats().L1.Coherent })
	// One invalidation connection per master.
	got := a.nodes.nodes()
	sort.Strings(got)
	want := slices.Clone(nodes)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tracked %v, masters %v", got, want)
	}
	texts := make([]string, 12)
	owners := map[string]bool{}
	for i := range texts {
		texts[i] = "coherent " + strconv.Itoa(i)
		if err := b.Set(ctx, texts[i], []float32{float32(i), 1}, "m", 0); err != nil {
			t.Fatal(err)
		}
		set, err := a.Client().entryKey("m", ElementName(texts[i]))
		if err != nil {
			t.Fatal(err)
		}
		owners[ownerOf(t, ctx, nodes, set)] = true
	}
	if len(owners) != 3 {
		t.Fatalf("the entries span %d nodes, not 3", len(owners))
	}
	// A caches every entry in its L1.
	for i, text := range texts {
		eventually(t, text+" in A's L1", func() bool {
			v, found, err := a.Get(ctx, text, "m")
			_, _, in := a.l1Get(a.l1Key(text, "m"))
			return err == nil && found && slices.Equal(v, []float32{float32(i), 1}) && in
		})
	}
	hits := a.Stats().L1.Hits
	if v, _, _ := a.Get(ctx, texts[0], "m"); !slices.Equal(v, []float32{0, 1}) || a.Stats().L1.Hits != hits+1 {
		t.Fatalf("not an L1 hit: %v", v)
	}
	// B writes new values through the cluster: A sees every one.
	for i, text := range texts {
		if err := b.Set(ctx, text, []float32{float32(i), 2}, "m", 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, text := range texts {
		eventually(t, "A sees B's write of "+text, func() bool {
			v, found, err := a.Get(ctx, text, "m")
			return err == nil && found && slices.Equal(v, []float32{float32(i), 2})
		})
	}
	// A plain cluster client's deletion of a part drops its entries from A's L1.
	set, _ := a.Client().entryKey("m", ElementName(texts[0]))
	if err := b.Client().Cluster().Del(ctx, set).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A misses the deleted part's entry", func() bool {
		_, found, err := a.Get(ctx, texts[0], "m")
		return err == nil && !found
	})
	if s := a.Stats().L1; !s.Coherent || s.TrackingMessages == 0 || s.Tracking != TrackingConnected {
		t.Fatalf("stats: %+v", s)
	}
}

// nearestTo is the k entries nearest vecs[i] by cosine similarity (i itself excluded).
func nearestTo(vecs [][]float32, i, k int) []int {
	cos := func(a, b []float32) float64 {
		var d, na, nb float64
		for j := range a {
			d += float64(a[j]) * float64(b[j])
			na += float64(a[j]) * float64(a[j])
			nb += float64(b[j]) * float64(b[j])
		}
		return d / math.Sqrt(na*nb)
	}
	var order []int
	for j := range vecs {
		if j != i {
			order = append(order, j)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return cos(vecs[i], vecs[order[a]]) > cos(vecs[i], vecs[order[b]]) })
	return order[:k]
}

// After an L2 hit on a cluster, the prefetch brings into L1 the entry other clients looked
// up right after it (ANALYTICS NEXT on the node of the entry's set or part) and its nearest
// entries: for a model split over parts, the nearest of every part (VSIM FP32 to all parts,
// merged by score), each fetched from its own part.
func TestPrefetchOnAClusterBringsTheCoAccessedEntryAndTheNearestOfEveryPartIntoL1(t *testing.T) {
	ctx := testCtx(t)
	nodes := sutraCluster(t)
	for _, parts := range []int{1, 3} {
		t.Run("parts="+strconv.Itoa(parts), func(t *testing.T) {
			model := "prefetch" + strconv.Itoa(parts)
			vecs := randomVectors(60, 16, 11)
			text := func(i int) string { return "pf " + strconv.Itoa(i) }
			home := PartOf(ElementName(text(0)), parts)
			near := nearestTo(vecs, 0, 2)
			near3 := nearestTo(vecs, 0, 3)
			// The successor other clients ask for: in the entry's own part, not near it.
			succ := -1
			for j := 59; j > 0 && succ < 0; j-- {
				if PartOf(ElementName(text(j)), parts) == home && !slices.Contains(near3, j) {
					succ = j
				}
			}
			if parts == 3 {
				inParts := map[int]bool{home: true}
				for _, j := range near {
					inParts[PartOf(ElementName(text(j)), 3)] = true
				}
				if len(inParts) < 2 {
					t.Fatalf("the nearest should lie in other parts than the entry's: %v", inParts)
				}
			}
			c := newTestClient(t, ClientOptions{StartupNodes: nodes, Parts: parts, Strict: true})
			for i, v := range vecs {
				if err := c.Set(ctx, text(i), v, model, 0); err != nil {
					t.Fatal(err)
				}
			}
			for range 5 {
				for _, i := range []int{0, succ} {
					if _, found, err := c.Get(ctx, text(i), model); err != nil || !found {
						t.Fatalf("get %d: %v %v", i, found, err)
					}
				}
			}
			m := newTestMultiTier(t, MultiTierOptions{L1MaxSize: 40, NoTracking: true, Prefetch: 3,
				Client: ClientOptions{StartupNodes: nodes, Parts: parts, Strict: true}})
			if _, found, err := m.Get(ctx, text(0), model); err != nil || !found {
				t.Fatalf("the L2 hit: %v %v", found, err)
			}
			if !m.WaitPrefetched(10 * time.Second) {
				t.Fatal("the prefetch did not finish")
			}
			if p := m.Stats().Prefetch; p.Errors != 0 || p.Entries != 3 {
				t.Fatalf("prefetch: %+v, want 3 entries and no error", p)
			}
			want := append([]int{succ}, near...)
			for _, j := range want {
				_, v, ok := m.l1Get(m.l1Key(text(j), model))
				if !ok || !slices.Equal(v, vecs[j]) {
					t.Fatalf("pf %d (successor %d, nearest %v) in L1: %v", j, succ, near, ok)
				}
			}
			before := m.Stats().L1.Hits
			for _, j := range want {
				if _, found, err := m.Get(ctx, text(j), model); err != nil || !found {
					t.Fatalf("get %d: %v %v", j, found, err)
				}
			}
			if got := m.Stats().L1.Hits - before; got != 3 {
				t.Fatalf("the prefetched entries gave %d L1 hits, want 3", got)
			}
		})
	}
}
