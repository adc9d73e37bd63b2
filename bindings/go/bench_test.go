package sutracache

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Exact-hit latency of the seed's client (not run by the tests; `go test -run '^$' -bench
// Hit`): the vector-set path (VGETF32) against the old blob path (GET of the same f32 bytes
// through go-redis) on the same sutra-cache server, and the MultiTier's L1 hit. 384-d.

const benchDim = 384

// timeOps runs op b.N times and reports the p50 and p99 of one op besides the mean.
func timeOps(b *testing.B, op func(i int)) {
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		op(i)
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

func benchVector() []float32 {
	v := make([]float32, benchDim)
	for i := range v {
		v[i] = float32(i) / benchDim
	}
	return v
}

func BenchmarkHitVectorSetPath(b *testing.B) {
	ctx := context.Background()
	c := newTestClient(b, ClientOptions{Addr: addr(sutraServer(b))})
	for i := range 1000 {
		if err := c.Set(ctx, "text "+strconv.Itoa(i), benchVector(), "m", 0); err != nil {
			b.Fatal(err)
		}
	}
	timeOps(b, func(i int) {
		if _, found, _ := c.Get(ctx, "text "+strconv.Itoa(i%1000), "m"); !found {
			b.Fatal("miss")
		}
	})
}

func BenchmarkHitBlobPath(b *testing.B) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr(sutraServer(b)), DisableIdentity: true, Protocol: 2})
	defer rdb.Close()
	blob := EncodeEmbedding(benchVector())
	for i := range 1000 {
		rdb.Set(ctx, "m:text "+strconv.Itoa(i), blob, 24*time.Hour)
	}
	timeOps(b, func(i int) {
		raw, err := rdb.Get(ctx, "m:text "+strconv.Itoa(i%1000)).Bytes()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeEmbedding(raw); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkHitMultiTierL1(b *testing.B) {
	ctx := context.Background()
	m := newTestMultiTier(b, MultiTierOptions{L1MaxSize: 10_000, Client: ClientOptions{Addr: addr(sutraServer(b))}})
	for i := range 10_000 {
		if err := m.Set(ctx, "text "+strconv.Itoa(i), benchVector(), "m", 0); err != nil {
			b.Fatal(err)
		}
	}
	timeOps(b, func(i int) {
		if _, found, _ := m.Get(ctx, "text "+strconv.Itoa(i%10_000), "m"); !found {
			b.Fatal("miss")
		}
	})
	if s := m.Stats(); s.L1.Hits == 0 || s.L2.TotalRequests != 0 {
		b.Fatalf("not L1 hits: %v", s)
	}
}
