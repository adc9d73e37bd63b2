package sutracache

/*
#include <stdlib.h>
#include <string.h>
#include "sutra_cache.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// Metric of a vector set.
type Metric int32

// Metrics; MetricUnspecified keeps the set's (or the default, cosine, for a new set).
const (
	MetricUnspecified Metric = C.SUTRA_UNSPECIFIED
	Cosine            Metric = C.SUTRA_METRIC_COSINE
	Dot               Metric = C.SUTRA_METRIC_DOT
	L2                Metric = C.SUTRA_METRIC_L2
)

// Storage mode of a vector set.
type Storage int32

// Storage modes; StorageUnspecified keeps the set's (or the default, exact).
const (
	StorageUnspecified Storage = C.SUTRA_UNSPECIFIED
	Exact              Storage = C.SUTRA_STORAGE_EXACT
	Q8                 Storage = C.SUTRA_STORAGE_Q8
	NoQuant            Storage = C.SUTRA_STORAGE_NOQUANT
	// Bin keeps one bit per dimension (Redis's BIN quantization); cosine sets only.
	Bin Storage = C.SUTRA_STORAGE_BIN
)

// VectorSetOptions create a set on its first add; on later adds, non-zero fields must match.
type VectorSetOptions struct {
	Metric         Metric
	Storage        Storage
	M              uint32
	EfConstruction uint32
}

// AddOptions of VAdd. The zero value keeps attributes and uses the default TTL.
type AddOptions struct {
	Set VectorSetOptions
	// Attributes: nil keeps the element's, "" clears them, else text stored as given (FILTER
	// reads it as a JSON object).
	Attributes *string
	TTL        time.Duration // TTLDefault, TTLNever or positive
}

func setOpts(o VectorSetOptions) C.sutra_vector_set_options {
	var c C.sutra_vector_set_options
	C.sutra_vector_set_options_init(&c)
	c.metric = C.int32_t(o.Metric)
	c.storage = C.int32_t(o.Storage)
	c.m = C.uint32_t(o.M)
	c.ef_construction = C.uint32_t(o.EfConstruction)
	return c
}

// VAdd adds or updates one element of the set at key; true when it is new.
func (c *Cache) VAdd(key, element string, vector []float32, opts *AddOptions) (bool, error) {
	if opts == nil {
		opts = &AddOptions{}
	}
	k, kl := bytesArg(key)
	el, ell := bytesArg(element)
	v, vl := floatsArg(vector)
	var a *C.uint8_t
	var al C.size_t
	var attrs string
	if opts.Attributes != nil {
		attrs = *opts.Attributes
		a, al = bytesArg(attrs)
		if a == nil { // "" clears: the ABI wants a non-NULL pointer with length 0
			a = (*C.uint8_t)(unsafe.Pointer(&zeroByte))
		}
	}
	so := setOpts(opts.Set)
	var added C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_add(h, k, kl, el, ell, v, vl, a, al, ttlArg(opts.TTL), &so, &added, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(element)
	runtime.KeepAlive(vector)
	runtime.KeepAlive(attrs)
	return bool(added), err
}

var zeroByte byte

// cNames copies names into C memory (an array of pointers cannot point into Go memory).
// The caller frees the returned block with C.free.
func cNames(names []string) (block unsafe.Pointer, ptrs **C.uint8_t, lens *C.size_t) {
	n := len(names)
	total := 0
	for _, s := range names {
		total += len(s)
	}
	ptrSize := int(unsafe.Sizeof((*C.uint8_t)(nil)))
	sizeSize := int(unsafe.Sizeof(C.size_t(0)))
	block = C.malloc(C.size_t(n*(ptrSize+sizeSize) + total + 1))
	ptrArr := unsafe.Slice((**C.uint8_t)(block), n)
	lenArr := unsafe.Slice((*C.size_t)(unsafe.Add(block, n*ptrSize)), n)
	data := unsafe.Add(block, n*(ptrSize+sizeSize))
	off := 0
	for i, s := range names {
		dst := unsafe.Add(data, off)
		if len(s) > 0 {
			copy(unsafe.Slice((*byte)(dst), len(s)), s)
		}
		ptrArr[i] = (*C.uint8_t)(dst)
		lenArr[i] = C.size_t(len(s))
		off += len(s)
	}
	if n == 0 {
		return block, nil, nil
	}
	return block, &ptrArr[0], &lenArr[0]
}

// VAddMany adds len(elements) elements; vectors holds them row-major, dim floats each.
// It returns how many were new.
func (c *Cache) VAddMany(key string, elements []string, vectors []float32, dim int, opts *AddOptions) (int, error) {
	if opts == nil {
		opts = &AddOptions{}
	}
	if dim <= 0 || len(vectors) != len(elements)*dim {
		return 0, &Error{Code: InvalidArgument, Message: "vectors must hold len(elements) * dim floats"}
	}
	k, kl := bytesArg(key)
	block, ptrs, lens := cNames(elements)
	defer C.free(block)
	v, _ := floatsArg(vectors)
	so := setOpts(opts.Set)
	var added C.size_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_add_many(h, k, kl, ptrs, lens, v, C.size_t(len(elements)), C.size_t(dim),
			ttlArg(opts.TTL), &so, &added, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(vectors)
	return int(added), err
}

// VInfo is the dimension (0 when missing) and element count of a set.
func (c *Cache) VInfo(key string) (dim int, count uint64, err error) {
	k, kl := bytesArg(key)
	var d C.size_t
	var n C.uint64_t
	err = c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_info(h, k, kl, &d, &n, e)
	})
	runtime.KeepAlive(key)
	return int(d), uint64(n), err
}

// VGetInto reads an element's vector into out (no allocation); dim is the set's dimension.
// When out is shorter, the error has code BufferTooSmall and dim is what is needed.
func (c *Cache) VGetInto(key, element string, out []float32) (dim int, found bool, err error) {
	k, kl := bytesArg(key)
	el, ell := bytesArg(element)
	o, ol := floatsArg(out)
	var d C.size_t
	var f C.bool
	err = c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_get(h, k, kl, el, ell, o, ol, &d, &f, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(element)
	runtime.KeepAlive(out)
	return int(d), bool(f), err
}

// VGet reads an element's vector; found is false on a miss.
func (c *Cache) VGet(key, element string) ([]float32, bool, error) {
	out := make([]float32, 0)
	for {
		d, found, err := c.VGetInto(key, element, out)
		if e, ok := err.(*Error); ok && e.Code == BufferTooSmall {
			out = make([]float32, d)
			continue
		}
		if err != nil || !found {
			return nil, found, err
		}
		return out[:d], true, nil
	}
}

// VGetMany reads many elements of one set; a miss is a nil row.
func (c *Cache) VGetMany(key string, elements []string) ([][]float32, error) {
	dim, _, err := c.VInfo(key)
	if err != nil || dim == 0 {
		return make([][]float32, len(elements)), err
	}
	k, kl := bytesArg(key)
	block, ptrs, lens := cNames(elements)
	defer C.free(block)
	for {
		out := make([]float32, len(elements)*dim)
		found := make([]byte, len(elements))
		o, ol := floatsArg(out)
		fp, _ := sliceArg(found)
		var d, hits C.size_t
		err = c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
			return C.sutra_vector_get_many(h, k, kl, ptrs, lens, C.size_t(len(elements)), o, ol, fp, &d, &hits, e)
		})
		runtime.KeepAlive(key)
		runtime.KeepAlive(out)
		runtime.KeepAlive(found)
		if e, ok := err.(*Error); ok && e.Code == BufferTooSmall && int(d) != dim {
			dim = int(d) // the set was re-created with another dimension meanwhile
			continue
		}
		if err != nil {
			return nil, err
		}
		rows := make([][]float32, len(elements))
		for i := range elements {
			if found[i] != 0 {
				rows[i] = out[i*int(d) : (i+1)*int(d) : (i+1)*int(d)]
			}
		}
		return rows, nil
	}
}

// VRemove removes an element; true when it existed.
func (c *Cache) VRemove(key, element string) (bool, error) {
	k, kl := bytesArg(key)
	el, ell := bytesArg(element)
	var existed C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_remove(h, k, kl, el, ell, &existed, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(element)
	return bool(existed), err
}

// SearchParams of Search; the zero value is the defaults (top 10).
type SearchParams struct {
	Count      int      // top-k; 0 = 10
	Ef         int      // HNSW ef_search; 0 = default
	MinScore   *float32 // only hits scoring at least this
	Exhaustive bool     // exact scan instead of the graph
	// Filter keeps only elements whose JSON attributes pass this Redis VSIM FILTER
	// expression (e.g. `.year > 1950 and .genre == "drama"`); "" = no filter. Search only.
	Filter string
	// FilterEF bounds the candidates a filtered search examines through the graph
	// (0 = Count × 100).
	FilterEF int
}

// Hit is one search result.
type Hit struct {
	Element string
	Score   float32
}

func (c *Cache) search(p *SearchParams, run func(h *C.sutra_cache, cp *C.sutra_search_params,
	hits *C.sutra_search_hit, hcap C.size_t, names *C.uint8_t, ncap C.size_t,
	hc, nl *C.size_t, e *C.sutra_error) C.int32_t) ([]Hit, error) {
	var cp C.sutra_search_params
	C.sutra_search_params_init(&cp)
	if p != nil {
		if p.Count > 0 {
			cp.count = C.size_t(p.Count)
		}
		cp.ef = C.size_t(p.Ef)
		if p.MinScore != nil {
			cp.use_min_score = true
			cp.min_score = C.float(*p.MinScore)
		}
		cp.exhaustive = C.bool(p.Exhaustive)
	}
	hcap := int(cp.count)
	ncap := 64 * hcap
	for {
		hits := make([]C.sutra_search_hit, hcap)
		names := make([]byte, ncap)
		var hc, nl C.size_t
		var hp *C.sutra_search_hit
		if hcap > 0 {
			hp = &hits[0]
		}
		np, _ := sliceArg(names)
		err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
			return run(h, &cp, hp, C.size_t(hcap), np, C.size_t(ncap), &hc, &nl, e)
		})
		runtime.KeepAlive(hits)
		runtime.KeepAlive(names)
		if e, ok := err.(*Error); ok && e.Code == BufferTooSmall {
			hcap, ncap = max(hcap, int(hc)), max(ncap, int(nl))
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]Hit, int(hc))
		for i := range out {
			off, n := int(hits[i].name_offset), int(hits[i].name_len)
			out[i] = Hit{Element: string(names[off : off+n]), Score: float32(hits[i].score)}
		}
		return out, nil
	}
}

// Search finds the elements most similar to query, best first (none for a missing key).
func (c *Cache) Search(key string, query []float32, p *SearchParams) ([]Hit, error) {
	k, kl := bytesArg(key)
	q, ql := floatsArg(query)
	var filter string
	var filterEF int
	if p != nil {
		filter, filterEF = p.Filter, p.FilterEF
	}
	if filterEF < 0 {
		return nil, &Error{Code: InvalidArgument, Message: "FilterEF must be >= 0"}
	}
	f, fl := bytesArg(filter)
	hits, err := c.search(p, func(h *C.sutra_cache, cp *C.sutra_search_params, hp *C.sutra_search_hit,
		hcap C.size_t, np *C.uint8_t, ncap C.size_t, hc, nl *C.size_t, e *C.sutra_error) C.int32_t {
		if filter == "" {
			return C.sutra_vector_search(h, k, kl, q, ql, cp, hp, hcap, np, ncap, hc, nl, e)
		}
		return C.sutra_vector_search_filtered(h, k, kl, q, ql, f, fl, C.size_t(filterEF), cp, hp,
			hcap, np, ncap, hc, nl, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(query)
	runtime.KeepAlive(filter)
	return hits, err
}

// SearchBatch runs one search per query (each of the set's dimension) against the set at
// key, on threads threads (1: the calling goroutine's thread; 0: one per core; at most 256),
// and returns one row of hits per query, best first: row i is what Search returns for
// queries[i]. A missing key gives empty rows. Filter is not supported here.
func (c *Cache) SearchBatch(key string, queries [][]float32, p *SearchParams, threads int) ([][]Hit, error) {
	if p != nil && p.Filter != "" {
		return nil, &Error{Code: InvalidArgument, Message: "invalid argument 'filter': not supported by SearchBatch"}
	}
	if threads < 0 {
		return nil, &Error{Code: InvalidArgument, Message: fmt.Sprintf("invalid argument 'threads': 0 (one per core) to 256, got %d", threads)}
	}
	n := len(queries)
	if n == 0 {
		return [][]Hit{}, nil
	}
	dim := len(queries[0])
	flat := make([]float32, 0, n*dim)
	for i, q := range queries {
		if len(q) != dim {
			return nil, &Error{Code: InvalidArgument, Message: fmt.Sprintf(
				"invalid argument 'queries': every row of %d floats, row %d has %d", dim, i, len(q))}
		}
		flat = append(flat, q...)
	}
	var cp C.sutra_search_params
	C.sutra_search_params_init(&cp)
	if p != nil {
		if p.Count > 0 {
			cp.count = C.size_t(p.Count)
		}
		cp.ef = C.size_t(p.Ef)
		if p.MinScore != nil {
			cp.use_min_score = true
			cp.min_score = C.float(*p.MinScore)
		}
		cp.exhaustive = C.bool(p.Exhaustive)
	}
	k, kl := bytesArg(key)
	q, _ := floatsArg(flat)
	width := int(cp.count)
	hits := make([]C.sutra_search_hit, max(n*width, 1))
	counts := make([]C.size_t, n)
	ncap := 16 * n * width
	for {
		names := make([]byte, max(ncap, 1))
		var nl C.size_t
		np, _ := sliceArg(names)
		err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
			return C.sutra_vector_search_batch(h, k, kl, q, C.size_t(n), C.size_t(dim), &cp,
				C.size_t(threads), &hits[0], C.size_t(len(hits)), np, C.size_t(len(names)),
				&counts[0], &nl, e)
		})
		runtime.KeepAlive(names)
		if e, ok := err.(*Error); ok && e.Code == BufferTooSmall && int(nl) > len(names) {
			ncap = int(nl)
			continue
		}
		runtime.KeepAlive(key)
		runtime.KeepAlive(flat)
		if err != nil {
			return nil, err
		}
		out := make([][]Hit, n)
		for i := range out {
			row := make([]Hit, int(counts[i]))
			for j := range row {
				hit := hits[i*width+j]
				off, l := int(hit.name_offset), int(hit.name_len)
				row[j] = Hit{Element: string(names[off : off+l]), Score: float32(hit.score)}
			}
			out[i] = row
		}
		return out, nil
	}
}

// SearchElement is Search near an element of the set.
func (c *Cache) SearchElement(key, element string, p *SearchParams) ([]Hit, error) {
	k, kl := bytesArg(key)
	el, ell := bytesArg(element)
	hits, err := c.search(p, func(h *C.sutra_cache, cp *C.sutra_search_params, hp *C.sutra_search_hit,
		hcap C.size_t, np *C.uint8_t, ncap C.size_t, hc, nl *C.size_t, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_search_element(h, k, kl, el, ell, cp, hp, hcap, np, ncap, hc, nl, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(element)
	return hits, err
}

// Invalidate atomically removes every element scoring >= threshold against query.
func (c *Cache) Invalidate(key string, query []float32, threshold float32) (int, error) {
	k, kl := bytesArg(key)
	q, ql := floatsArg(query)
	var removed C.size_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_invalidate(h, k, kl, q, ql, C.float(threshold), &removed, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(query)
	return int(removed), err
}

// VExpire sets an element to expire after ttl; false when it does not exist.
func (c *Cache) VExpire(key, element string, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, &Error{Code: InvalidArgument, Message: "ttl must be >= 0"}
	}
	k, kl := bytesArg(key)
	el, ell := bytesArg(element)
	var existed C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_expire(h, k, kl, el, ell, C.uint64_t(ttl.Milliseconds()), &existed, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(element)
	return bool(existed), err
}

// VTTL is an element's remaining time to live, TTLNoExpiry or TTLMissing.
func (c *Cache) VTTL(key, element string) (time.Duration, error) {
	k, kl := bytesArg(key)
	el, ell := bytesArg(element)
	var ms C.int64_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_ttl(h, k, kl, el, ell, &ms, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(element)
	return ttlResult(ms), err
}

// VStats are one set's statistics; found is false for a missing key.
func (c *Cache) VStats(key string) (Stats, bool, error) {
	k, kl := bytesArg(key)
	var s C.sutra_stats
	var f C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_stats(h, k, kl, &s, &f, e)
	})
	runtime.KeepAlive(key)
	return statsOf(&s), bool(f), err
}
