package sutracache_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	sutracache "github.com/sutra-cache/sutra-cache/bindings/go"
)

// The example of docs/bindings.md.
func Example() {
	cache, err := sutracache.Open("", sutracache.Options{MaxEntries: 100_000})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	_, _ = cache.VAdd("minilm", "apple", []float32{1, 0, 0}, nil)
	_, _ = cache.VAdd("minilm", "pear", []float32{0.9, 0.1, 0}, nil)
	vec, found, _ := cache.VGet("minilm", "apple")
	fmt.Println(vec, found)

	hits, _ := cache.Search("minilm", []float32{1, 0, 0}, &sutracache.SearchParams{Count: 2})
	for _, h := range hits {
		fmt.Printf("%s %.2f\n", h.Element, h.Score)
	}
	_, err = cache.VAdd("minilm", "bad", []float32{1, 0}, nil)
	fmt.Println(err)
	// Output:
	// [1 0 0] true
	// apple 1.00
	// pear 0.99
	// sutracache: SUTRA_DIMENSION_MISMATCH: invalid argument 'vector': expected dimension 3, got 2
}

// The seed's client of one shard (TestMain started one and set CACHE_SHARD_HOST/PORT).
func ExampleNewClient() {
	ctx := context.Background()
	addr := net.JoinHostPort(os.Getenv("CACHE_SHARD_HOST"), os.Getenv("CACHE_SHARD_PORT"))
	client, err := sutracache.NewClient(sutracache.ClientOptions{Addr: addr, Namespace: "example-client:"})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	_ = client.Set(ctx, "hello world", []float32{0.1, 0.2, 0.3}, "minilm", 0) // 24 h TTL
	emb, found, err := client.Get(ctx, "hello world", "minilm")
	fmt.Println(emb, found, err)
	_, found, _ = client.Get(ctx, "never cached", "minilm")
	fmt.Println(found)

	_ = client.Set(ctx, "hello there", []float32{0.1, 0.25, 0.3}, "minilm", time.Hour,
		sutracache.Tags(map[string]any{"topic": "greetings"}))
	similar, _ := client.FindSimilar(ctx, sutracache.Query{Text: "hello world"}, "minilm", 5, 0.9)
	for _, m := range similar {
		fmt.Printf("%s %.3f %v\n", m.Text, m.Similarity, m.Attributes["topic"])
	}
	_, err = client.FindSimilar(ctx, sutracache.Query{Text: "unknown"}, "minilm", 5, 0.9)
	fmt.Println(errors.Is(err, sutracache.ErrNoEmbedder))
	err = client.Set(ctx, "bad", []float32{1, 2}, "minilm", 0)
	fmt.Println(errors.Is(err, sutracache.ErrBadInput))

	s := client.Stats()
	fmt.Println(s.Hits, s.Misses, s.TotalRequests, s.HitRate, s.Backend)
	// Output:
	// [0.1 0.2 0.3] true <nil>
	// false
	// hello world 1.000 <nil>
	// hello there 0.994 greetings
	// true
	// true
	// 1 1 2 0.5 sutra_storage
}

// The seed's two-tier cache from the seed's environment variables; the seed's semantic
// invalidation; a lookup that computes a missing embedding once.
func ExampleFromEnv() {
	ctx := context.Background()
	cache, err := sutracache.FromEnv(sutracache.MultiTierOptions{
		Client: sutracache.ClientOptions{Namespace: "example-multitier:"},
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	_ = cache.Set(ctx, "Apple Inc stock data", []float32{1, 0, 0}, "default", 0)
	_ = cache.Set(ctx, "AAPL share price", []float32{0.95, 0.3, 0}, "default", 0)
	_ = cache.Set(ctx, "banana bread", []float32{0, 1, 0}, "default", 0)
	emb, found, _ := cache.Get(ctx, "Apple Inc stock data", "default") // from L1
	fmt.Println(emb, found)

	removed, _ := cache.SemanticInvalidate(ctx, sutracache.Query{Text: "Apple Inc stock data"}, 0.85, "")
	fmt.Println(len(removed))

	emb, err = cache.GetOrCompute(ctx, "AAPL share price", "default", func(ctx context.Context) ([]float32, error) {
		return []float32{0.9, 0.4, 0}, nil // the embedding model
	})
	fmt.Println(emb, err)
	_, found, _ = cache.Get(ctx, "AAPL share price", "default")
	fmt.Println(found, cache.Stats().L1.MaxSize)
	// Output:
	// [1 0 0] true
	// 2
	// [0.9 0.4 0] <nil>
	// true 10000
}
