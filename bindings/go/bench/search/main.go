// Command search measures the Go embedded search path (#20 point 2) on the data and with the
// figures of examples/search_path.rs and perf-reports/search-path.py: Cache.Search (one call
// per query) and Cache.SearchBatch (threads 1) at each ef, recall@10 and µs per query (median
// of -repeat passes of the thread's CPU time), then the fixed cost of a k=1, ef=1 search on the full set and on a set
// of 100. One JSON line per figure on stdout.
//
//	cargo build --release --lib
//	export PKG_CONFIG_PATH=$(dirname "$(./scripts/pkgconfig.sh)")
//	cd bindings/go && go run ./bench/search -data ../../../shared/data/minilm-wordnet -n 20000
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	sutracache "github.com/sutra-cache/sutra-cache/bindings/go"
)

var npyShape = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+)\)`)

// readF16 reads the first limit rows (0: all) of a 2-d float16 .npy file as float32, and the
// file's row count.
func readF16(path string, limit int) ([]float32, int, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(b) < 12 || string(b[:6]) != "\x93NUMPY" {
		return nil, 0, 0, fmt.Errorf("%s: not a .npy file", path)
	}
	hlen, start := int(binary.LittleEndian.Uint16(b[8:10])), 10
	if b[6] != 1 {
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	}
	header := string(b[start : start+hlen])
	s := npyShape.FindStringSubmatch(header)
	if s == nil || !strings.Contains(header, "'<f2'") {
		return nil, 0, 0, fmt.Errorf("%s: expected a 2-d '<f2' array, header %q", path, header)
	}
	rows, _ := strconv.Atoi(s[1])
	cols, _ := strconv.Atoi(s[2])
	n := rows
	if limit > 0 && limit < rows {
		n = limit
	}
	data := b[start+hlen:]
	out := make([]float32, n*cols)
	for i := range out {
		out[i] = f16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return out, cols, rows, nil
}

// f16 is an IEEE half as a float32.
func f16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		v := float32(frac) * float32(math.Pow(2, -24))
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 31:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

func emit(m map[string]any) {
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
}

// threadCPU is the calling OS thread's CPU time in ns (the first field of
// /proc/thread-self/schedstat; main locks its goroutine to its thread): on a shared machine a
// pass of single searches is preempted several times and its wall time measures the load
// more than the search. The kernel brings a running thread's figure up to date only on a tick
// or a pass through the scheduler: the sched_yield is that pass.
func threadCPU() int64 {
	syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// medianSecs is the median over repeat passes of the thread's CPU seconds (wall seconds when
// the schedstat file is missing).
func medianSecs(repeat int, pass func()) float64 {
	pass()
	t := make([]float64, 0, repeat)
	for range repeat {
		s, c := time.Now(), threadCPU()
		pass()
		if c >= 0 {
			t = append(t, float64(threadCPU()-c)*1e-9)
		} else {
			t = append(t, time.Since(s).Seconds())
		}
	}
	sort.Float64s(t)
	return t[len(t)/2]
}

// truth: the exact top 10 of each query by cosine (brute force; the files' ground truth
// when the whole base is loaded).
func truth(dir string, base, queries []float32, dim, n, total int) ([][]int, error) {
	nq := len(queries) / dim
	gt := make([][]int, nq)
	if n == total {
		b, err := os.ReadFile(filepath.Join(dir, "gt.i32.npy"))
		if err != nil {
			return nil, err
		}
		data, cols := b[128:], 100
		for q := range gt {
			for j := range 10 {
				gt[q] = append(gt[q], int(int32(binary.LittleEndian.Uint32(data[4*(q*cols+j):]))))
			}
		}
		return gt, nil
	}
	norms := make([]float64, n)
	for i := range n {
		var s float64
		for _, x := range base[i*dim : (i+1)*dim] {
			s += float64(x) * float64(x)
		}
		norms[i] = math.Sqrt(s)
	}
	type sc struct {
		s float64
		i int
	}
	for q := range gt {
		qv := queries[q*dim : (q+1)*dim]
		all := make([]sc, n)
		for i := range n {
			var d float64
			for j, x := range base[i*dim : (i+1)*dim] {
				d += float64(x) * float64(qv[j])
			}
			all[i] = sc{d / norms[i], i}
		}
		sort.Slice(all, func(a, b int) bool { return all[a].s > all[b].s })
		for j := range 10 {
			gt[q] = append(gt[q], all[j].i)
		}
	}
	return gt, nil
}

func recall(found, gt [][]int) float64 {
	var r float64
	for q := range gt {
		in := map[int]bool{}
		for _, g := range gt[q] {
			in[g] = true
		}
		for _, f := range found[q] {
			if in[f] {
				r += 0.1
			}
		}
	}
	return r / float64(len(gt))
}

func ids(hits []sutracache.Hit) []int {
	out := make([]int, len(hits))
	for i, h := range hits {
		out[i], _ = strconv.Atoi(h.Element)
	}
	return out
}

func load(c *sutracache.Cache, key string, base []float32, dim int) error {
	n := len(base) / dim
	for i := 0; i < n; i += 1000 {
		end := min(i+1000, n)
		names := make([]string, 0, end-i)
		for j := i; j < end; j++ {
			names = append(names, strconv.Itoa(j))
		}
		if _, err := c.VAddMany(key, names, base[i*dim:end*dim], dim, nil); err != nil {
			return err
		}
	}
	return c.IndexWait()
}

func run() error {
	data := flag.String("data", "../../../shared/data/minilm-wordnet", "the minilm-wordnet directory")
	n := flag.Int("n", 0, "base rows to load (0: all)")
	efsFlag := flag.String("efs", "16,32,64,128", "ef values, comma-separated")
	repeat := flag.Int("repeat", 5, "timed passes per figure (median)")
	flag.Parse()
	base, dim, total, err := readF16(filepath.Join(*data, "base.f16.npy"), *n)
	if err != nil {
		return err
	}
	queries, _, _, err := readF16(filepath.Join(*data, "queries.f16.npy"), 0)
	if err != nil {
		return err
	}
	nb, nq := len(base)/dim, len(queries)/dim
	gt, err := truth(*data, base, queries, dim, nb, total)
	if err != nil {
		return err
	}
	rows := make([][]float32, nq)
	for i := range rows {
		rows[i] = queries[i*dim : (i+1)*dim]
	}
	c, err := sutracache.Open("", sutracache.Options{NoActiveExpire: true})
	if err != nil {
		return err
	}
	defer c.Close()
	t := time.Now()
	if err := load(c, "m", base, dim); err != nil {
		return err
	}
	emit(map[string]any{"event": "build", "path": "go", "n": nb, "s": time.Since(t).Seconds()})
	for _, f := range strings.Split(*efsFlag, ",") {
		ef, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("-efs: %q is not a number", f)
		}
		p := &sutracache.SearchParams{Count: 10, Ef: ef}
		found := make([][]int, nq)
		for i, q := range rows {
			h, err := c.Search("m", q, p)
			if err != nil {
				return err
			}
			found[i] = ids(h)
		}
		secs := medianSecs(*repeat, func() {
			for _, q := range rows {
				_, _ = c.Search("m", q, p)
			}
		})
		emit(map[string]any{"event": "search", "path": "go", "n": nb, "ef": ef, "recall": recall(found, gt),
			"qps": float64(nq) / secs, "us_per_query": secs * 1e6 / float64(nq)})
		batch, err := c.SearchBatch("m", rows, p, 1)
		if err != nil {
			return err
		}
		for i, h := range batch {
			found[i] = ids(h)
		}
		secs = medianSecs(*repeat, func() { _, _ = c.SearchBatch("m", rows, p, 1) })
		emit(map[string]any{"event": "search", "path": "go_batch", "n": nb, "ef": ef, "recall": recall(found, gt),
			"qps": float64(nq) / secs, "us_per_query": secs * 1e6 / float64(nq)})
	}
	if err := load(c, "s", base[:100*dim], dim); err != nil {
		return err
	}
	p1 := &sutracache.SearchParams{Count: 1, Ef: 1}
	for _, set := range [][2]string{{"full", "m"}, {"100", "s"}} {
		secs := medianSecs(*repeat, func() {
			for _, q := range rows {
				_, _ = c.Search(set[1], q, p1)
			}
		})
		emit(map[string]any{"event": "fixed", "path": "go", "set": set[0], "k": 1, "ef": 1, "us_per_query": secs * 1e6 / float64(nq)})
		secs = medianSecs(*repeat, func() { _, _ = c.SearchBatch(set[1], rows, p1, 1) })
		emit(map[string]any{"event": "fixed", "path": "go_batch", "set": set[0], "k": 1, "ef": 1, "us_per_query": secs * 1e6 / float64(nq)})
	}
	return nil
}

func main() {
	runtime.LockOSThread()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "search:", err)
		os.Exit(1)
	}
}
