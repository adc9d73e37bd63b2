package sutracache

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, opts Options) *Cache {
	t.Helper()
	opts.NoActiveExpire = true
	c, err := Open("", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestVersionAndISAAreReported(t *testing.T) {
	if Version() == "" || SimdISA() == "" {
		t.Fatalf("version %q isa %q", Version(), SimdISA())
	}
	if NotFound.String() != "SUTRA_NOT_FOUND" {
		t.Fatalf("status name %q", NotFound.String())
	}
}

func TestBlobsRoundTripWithConditionsAndTTL(t *testing.T) {
	c := open(t, Options{})
	big := make([]byte, 10_000)
	for i := range big {
		big[i] = byte(i)
	}
	if err := c.Set("k", big, TTLNever); err != nil {
		t.Fatal(err)
	}
	got, found, err := c.Get("k")
	if err != nil || !found || string(got) != string(big) {
		t.Fatalf("get: %v %v %d", err, found, len(got))
	}
	if _, found, _ := c.Get("missing"); found {
		t.Fatal("missing key found")
	}
	if w, _ := c.SetIf("k", []byte("x"), TTLDefault, IfAbsent); w {
		t.Fatal("NX wrote over an existing key")
	}
	buf := make([]byte, 4)
	if n, _, err := c.GetInto("k", buf); !errors.Is(err, &Error{Code: BufferTooSmall}) || n != len(big) {
		t.Fatalf("small buffer: n=%d err=%v", n, err)
	}
	if ok, _ := c.Expire("k", time.Minute); !ok {
		t.Fatal("expire on an existing key")
	}
	if ttl, _ := c.TTL("k"); ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
	if had, _ := c.Persist("k"); !had {
		t.Fatal("persist")
	}
	if ttl, _ := c.TTL("k"); ttl != TTLNoExpiry {
		t.Fatalf("ttl after persist %v", ttl)
	}
	if ttl, _ := c.TTL("missing"); ttl != TTLMissing {
		t.Fatalf("ttl of a missing key %v", ttl)
	}
	if existed, _ := c.Delete("k"); !existed {
		t.Fatal("delete")
	}
	if err := c.Set("", nil, TTLDefault); err != nil { // empty key and value are allowed
		t.Fatal(err)
	}
	if v, found, err := c.Get(""); err != nil || !found || len(v) != 0 {
		t.Fatalf("empty value: %v %v %v", v, found, err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestFilteredSearchKeepsOnlyElementsWhoseAttributesPass(t *testing.T) {
	c := open(t, Options{})
	const n, dim = 300, 8
	vecs := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		for j := 0; j < dim; j++ {
			vecs[i*dim+j] = float32(math.Sin(float64(i*dim+j) * 0.37))
		}
		opts := &AddOptions{}
		if i%10 != 9 {
			a := fmt.Sprintf(`{"g": %d}`, i%3)
			opts.Attributes = &a
		}
		if _, err := c.VAdd("f", fmt.Sprintf("e%d", i), vecs[i*dim:(i+1)*dim], opts); err != nil {
			t.Fatalf("VAdd %d: %v", i, err)
		}
	}
	if err := c.IndexWait(); err != nil {
		t.Fatalf("index wait: %v", err)
	}
	hits, err := c.Search("f", vecs[4*dim:5*dim], &SearchParams{Count: 10, Filter: ".g == 1"})
	if err != nil || len(hits) != 10 || hits[0].Element != "e4" {
		t.Fatalf("filtered Search %v %v", hits, err)
	}
	for _, h := range hits {
		var i int
		fmt.Sscanf(h.Element, "e%d", &i)
		if i%3 != 1 || i%10 == 9 {
			t.Fatalf("%s does not pass the filter", h.Element)
		}
	}
	hits, err = c.Search("f", vecs[:dim], &SearchParams{Filter: ".g > 5", FilterEF: 50})
	if err != nil || len(hits) != 0 {
		t.Fatalf("nothing passes: %v %v", hits, err)
	}
	_, err = c.Search("f", vecs[:dim], &SearchParams{Filter: ".g =="})
	if e, ok := err.(*Error); !ok || e.Code != InvalidArgument {
		t.Fatalf("bad filter: %v", err)
	}
}

func TestVectorsComeBackExactlyAndSearchFindsThem(t *testing.T) {
	c := open(t, Options{})
	const n, dim = 100, 8
	names := make([]string, n)
	vecs := make([]float32, n*dim)
	for i := range names {
		names[i] = fmt.Sprintf("e%d", i)
		for j := 0; j < dim; j++ {
			vecs[i*dim+j] = float32(math.Sin(float64(i*dim+j) * 0.37))
		}
	}
	added, err := c.VAddMany("m", names, vecs, dim, &AddOptions{Set: VectorSetOptions{Metric: Cosine}})
	if err != nil || added != n {
		t.Fatalf("VAddMany: %d %v", added, err)
	}
	if d, count, _ := c.VInfo("m"); d != dim || count != n {
		t.Fatalf("VInfo %d %d", d, count)
	}
	v, found, err := c.VGet("m", "e7")
	if err != nil || !found {
		t.Fatalf("VGet %v %v", found, err)
	}
	for j := range v {
		if v[j] != vecs[7*dim+j] {
			t.Fatalf("VGet not exact at %d", j)
		}
	}
	rows, err := c.VGetMany("m", []string{"e1", "nope", "e2"})
	if err != nil || rows[1] != nil || rows[0][0] != vecs[dim] || rows[2][0] != vecs[2*dim] {
		t.Fatalf("VGetMany %v %v", rows, err)
	}
	if err := c.IndexWait(); err != nil {
		t.Fatalf("index wait: %v", err)
	}
	hits, err := c.Search("m", vecs[7*dim:8*dim], &SearchParams{Count: 3})
	if err != nil || len(hits) != 3 || hits[0].Element != "e7" || math.Abs(float64(hits[0].Score)-1) > 1e-3 {
		t.Fatalf("Search %v %v", hits, err)
	}
	hits, err = c.SearchElement("m", "e7", &SearchParams{Count: 200, Exhaustive: true})
	if err != nil || len(hits) != n {
		t.Fatalf("SearchElement: %d %v", len(hits), err)
	}
	removed, err := c.Invalidate("m", vecs[7*dim:8*dim], 0.9999)
	if err != nil || removed < 1 {
		t.Fatalf("Invalidate %d %v", removed, err)
	}
	if _, found, _ := c.VGet("m", "e7"); found {
		t.Fatal("invalidated element still there")
	}
	if existed, _ := c.VRemove("m", "e8"); !existed {
		t.Fatal("VRemove")
	}
	if ok, _ := c.VExpire("m", "e9", time.Minute); !ok {
		t.Fatal("VExpire")
	}
	if ttl, _ := c.VTTL("m", "e9"); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("VTTL %v", ttl)
	}
	st, found, err := c.VStats("m")
	if err != nil || !found || st.Entries != uint64(n-1-removed) {
		t.Fatalf("VStats %+v %v %v", st, found, err)
	}
	all, _ := c.Stats()
	if all.VectorSets != 1 || all.HitRate() <= 0 {
		t.Fatalf("Stats %+v", all)
	}
}

func TestErrorsCarryStableCodes(t *testing.T) {
	c := open(t, Options{})
	if _, err := c.VAdd("s", "a", []float32{1, 0, 0}, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		code Status
	}{
		{"dimension", second(c.VAdd("s", "b", []float32{1, 0}, nil)), DimensionMismatch},
		{"nan", second(c.VAdd("s", "b", []float32{float32(math.NaN()), 0, 0}, nil)), InvalidArgument},
		{"conflict", second(c.VAdd("s", "b", []float32{1, 0, 0}, &AddOptions{Set: VectorSetOptions{Metric: L2}})), Conflict},
		{"wrong type", third(c.Get("s")), WrongType},
		{"attributes too long", second(c.VAdd("s", "b", []float32{1, 0, 0}, &AddOptions{Attributes: ptr(strings.Repeat("x", 1<<17))})), TooLarge},
		{"checkpoint in memory", second(c.Checkpoint()), Unsupported},
	}
	for _, tc := range cases {
		var e *Error
		if !errors.As(tc.err, &e) || e.Code != tc.code || e.Message == "" {
			t.Errorf("%s: got %v, want code %s", tc.name, tc.err, tc.code)
		}
	}
	if _, err := Open("", Options{EvictionPolicy: 9}); !errors.Is(err, &Error{Code: InvalidArgument}) {
		t.Errorf("bad policy: %v", err)
	}
}

func TestAClosedCacheRefusesCallsAndCloseIsIdempotent(t *testing.T) {
	c, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get("k"); !errors.Is(err, &Error{Code: Closed}) {
		t.Fatalf("after close: %v", err)
	}
}

func TestCapsEvictLeastRecentlyUsed(t *testing.T) {
	c := open(t, Options{MaxEntries: 2})
	_ = c.Set("a", []byte("1"), TTLDefault)
	_ = c.Set("b", []byte("2"), TTLDefault)
	_, _, _ = c.Get("a")
	_ = c.Set("c", []byte("3"), TTLDefault)
	if _, found, _ := c.Get("b"); found {
		t.Fatal("the least recently used key survived")
	}
	if _, found, _ := c.Get("a"); !found {
		t.Fatal("a recently used key was evicted")
	}
}

func TestGoroutinesShareOneCacheAndCloseWaitsForThem(t *testing.T) {
	c, err := Open("", Options{NoActiveExpire: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				key := fmt.Sprintf("%d:%d", g, i)
				if err := c.Set(key, []byte(key), TTLDefault); err != nil {
					if errors.Is(err, &Error{Code: Closed}) {
						return
					}
					t.Error(err)
					return
				}
				_, _ = c.VAdd("v", key, []float32{float32(g), float32(i), 1}, nil)
			}
		}(g)
	}
	wg.Wait()
	st, _ := c.Stats()
	if st.Keys != 8*300+1 {
		t.Fatalf("keys %d", st.Keys)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[A, B any](_ A, _ B, err error) error { return err }
func ptr(s string) *string                      { return &s }

func TestADurableCacheComesBackAfterReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{WALSync: SyncAlways, NoCheckpointOnClose: true, NoActiveExpire: true}
	c, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Set("a", []byte("before"), TTLNever)
	if _, err := c.VAdd("s", "e", []float32{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if lsn, err := c.Checkpoint(); err != nil || lsn == 0 {
		t.Fatalf("checkpoint %d %v", lsn, err)
	}
	_ = c.Set("b", []byte("after"), TTLNever) // only in the WAL
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, _, _ := c.Get("a")
	b, _, _ := c.Get("b")
	v, found, _ := c.VGet("s", "e")
	if string(a) != "before" || string(b) != "after" || !found || v[2] != 3 {
		t.Fatalf("after reopen: %q %q %v %v", a, b, v, found)
	}
}

func TestDefaultStorageAndVectorDimensionReachTheEngine(t *testing.T) {
	v := []float32{0.1, 0.2, 0.3, 0.7}
	q8 := open(t, Options{DefaultStorage: Q8})
	if _, err := q8.VAdd("s", "a", v, nil); err != nil {
		t.Fatal(err)
	}
	_, err := q8.VAdd("s", "b", v, &AddOptions{Set: VectorSetOptions{Storage: Exact}})
	if !errors.Is(err, &Error{Code: Conflict}) {
		t.Fatalf("a q8 set refuses an exact add: %v", err)
	}
	dim := open(t, Options{VectorDimension: 4})
	if _, err := dim.VAdd("s", "a", v, nil); err != nil {
		t.Fatal(err)
	}
	_, err = dim.VAdd("t", "a", v[:3], nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != DimensionMismatch || !strings.Contains(e.Message, "is 4") {
		t.Fatalf("another dimension is refused naming both: %v", err)
	}
	if _, err := Open("", Options{VectorDimension: -1}); !errors.Is(err, &Error{Code: InvalidArgument}) {
		t.Fatalf("negative dimension: %v", err)
	}
}

func TestSearchBatchGivesEveryQueryTheHitsSearchGivesIt(t *testing.T) {
	c := open(t, Options{})
	const n, dim = 300, 16
	names := make([]string, n)
	vecs := make([]float32, n*dim)
	for i := range names {
		names[i] = fmt.Sprintf("e%d", i)
		for j := 0; j < dim; j++ {
			vecs[i*dim+j] = float32(math.Sin(float64(i*dim+j) * 0.37))
		}
	}
	if _, err := c.VAddMany("m", names, vecs, dim, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.IndexWait(); err != nil {
		t.Fatal(err)
	}
	queries := make([][]float32, 40)
	for i := range queries {
		queries[i] = vecs[(i*7)*dim : (i*7+1)*dim]
	}
	p := &SearchParams{Count: 4, Ef: 32}
	for _, threads := range []int{1, 0, 3} {
		rows, err := c.SearchBatch("m", queries, p, threads)
		if err != nil || len(rows) != len(queries) {
			t.Fatalf("threads %d: %d rows, %v", threads, len(rows), err)
		}
		for i, q := range queries {
			want, err := c.Search("m", q, p)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rows[i]) != fmt.Sprint(want) {
				t.Fatalf("threads %d row %d: %v, Search gives %v", threads, i, rows[i], want)
			}
			if rows[i][0].Element != names[i*7] {
				t.Fatalf("row %d does not find its own element first: %v", i, rows[i])
			}
		}
	}
	// Long names: the first guess at the names buffer is too small, and the batch is rerun.
	long := strings.Repeat("x", 200)
	if _, err := c.VAdd("m", long+"a", vecs[:dim], nil); err != nil {
		t.Fatal(err)
	}
	rows, err := c.SearchBatch("m", [][]float32{vecs[:dim]}, &SearchParams{Count: 2}, 1)
	if err != nil || len(rows[0]) != 2 || (rows[0][0].Element != long+"a" && rows[0][1].Element != long+"a") {
		t.Fatalf("long names: %v %v", rows, err)
	}
	rows, err = c.SearchBatch("none", queries[:2], p, 1)
	if err != nil || len(rows) != 2 || len(rows[0]) != 0 {
		t.Fatalf("missing key: %v %v", rows, err)
	}
	_, err = c.SearchBatch("m", [][]float32{vecs[:dim], vecs[:3]}, p, 1)
	if e, ok := err.(*Error); !ok || e.Code != InvalidArgument || !strings.Contains(e.Message, "row 1") {
		t.Fatalf("ragged rows: %v", err)
	}
	_, err = c.SearchBatch("m", [][]float32{vecs[:3]}, p, 1)
	if e, ok := err.(*Error); !ok || e.Code != DimensionMismatch {
		t.Fatalf("wrong dimension: %v", err)
	}
	_, err = c.SearchBatch("m", queries, p, 1000)
	if e, ok := err.(*Error); !ok || e.Code != InvalidArgument || !strings.Contains(e.Message, "threads") {
		t.Fatalf("too many threads: %v", err)
	}
}
