package sutracache_test

import (
	"fmt"

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
