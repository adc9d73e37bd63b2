// Command prefetch measures the Go MultiTier's semantic prefetch (issue #15 point 6) as
// bindings/python/bench/bench_prefetch.py does the Python one: L1 hit rate and L2 round trips
// with and without MultiTierOptions.Prefetch, same L1 size, on two traces over real MiniLM
// embeddings of WordNet glosses (../shared/data/minilm-wordnet):
//
//   - topical: sessions that walk through related glosses — a session picks one of the
//     dataset's 1,000 queries and looks up glosses among its 30 nearest (the ground truth's
//     ids), a random walk of -session steps (each step a random one of the 30);
//   - uniform: the same number of lookups, each a gloss drawn uniformly from the same cached
//     pool (no locality).
//
// The shard holds the pool: every gloss among some query's 30 nearest, plus random others up
// to -pool. Each trace runs against a fresh server, first with prefetch (the shard's co-access
// table starts empty and learns only from that run's lookups), then without. The prefetcher
// is drained after every lookup (WaitPrefetched): the figures do not depend on timing.
//
//	cargo build --release --bin sutra-cache --lib
//	export PKG_CONFIG_PATH=$(dirname "$(./scripts/pkgconfig.sh)")
//	cd bindings/go && go run ./bench/prefetch [-l1 500] [-k 4] [-sessions 400]
//
// The traces are drawn with Go's math/rand from the same seed, so they are the Python
// script's construction, not its exact lookups.
package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	sutracache "github.com/sutra-cache/sutra-cache/bindings/go"
)

// npy is a 2-d array of a .npy file: its shape and raw little-endian data.
type npy struct {
	rows, cols int
	descr      string
	data       []byte
}

var npyShape = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+)\)`)
var npyDescr = regexp.MustCompile(`'descr':\s*'([^']+)'`)

func readNpy(path string) (*npy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%s: not a .npy file", path)
	}
	var hlen, start int
	if b[6] == 1 {
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	} else {
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	}
	header := string(b[start : start+hlen])
	s, d := npyShape.FindStringSubmatch(header), npyDescr.FindStringSubmatch(header)
	if s == nil || d == nil || strings.Contains(header, "'fortran_order': True") {
		return nil, fmt.Errorf("%s: unexpected header %q", path, header)
	}
	rows, _ := strconv.Atoi(s[1])
	cols, _ := strconv.Atoi(s[2])
	return &npy{rows: rows, cols: cols, descr: d[1], data: b[start+hlen:]}, nil
}

// f16 is an IEEE half as a float32.
func f16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
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

func (a *npy) f16Row(i int) []float32 {
	out := make([]float32, a.cols)
	for j := range out {
		out[j] = f16(binary.LittleEndian.Uint16(a.data[2*(i*a.cols+j):]))
	}
	return out
}

func (a *npy) i32(i, j int) int {
	return int(int32(binary.LittleEndian.Uint32(a.data[4*(i*a.cols+j):])))
}

func readTexts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(z)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startServer(bin, dir string, port int) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "STORAGE_PORT="+strconv.Itoa(port), "STORAGE_PATH="+dir, "RUST_LOG=warn")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if rdb.Ping(context.Background()).Err() == nil {
			return cmd, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, errors.New("sutra-cache did not start")
}

type result struct {
	lookups                                  int
	l1HitRate                                float64
	fg, bg, prefetched, prefetchHits, l1Hits uint64
}

func run(addr string, trace []int, texts []string, l1, k int) (result, error) {
	ctx := context.Background()
	m, err := sutracache.NewMultiTier(sutracache.MultiTierOptions{L1MaxSize: l1, Prefetch: k,
		Client: sutracache.ClientOptions{Addr: addr, Namespace: "bench:", Timeout: 10 * time.Second}})
	if err != nil {
		return result{}, err
	}
	defer m.Close()
	deadline := time.Now().Add(30 * time.Second)
	for !m.Stats().L1.Coherent && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, i := range trace {
		if _, found, err := m.Get(ctx, texts[i], "minilm"); err != nil || !found {
			return result{}, fmt.Errorf("get %q: found %v, %v", texts[i], found, err)
		}
		if !m.WaitPrefetched(10 * time.Second) {
			return result{}, errors.New("a prefetch did not finish within 10 s")
		}
	}
	s := m.Stats()
	return result{lookups: len(trace), l1HitRate: float64(s.L1.Hits) / float64(len(trace)),
		l1Hits: s.L1.Hits, fg: s.L2.TotalRequests, bg: s.Prefetch.RoundTrips,
		prefetched: s.Prefetch.Entries, prefetchHits: s.Prefetch.Hits}, nil
}

func load1() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

func main() {
	root, _ := filepath.Abs("../..")
	l1 := flag.Int("l1", 500, "L1 entries")
	k := flag.Int("k", 4, "entries prefetched after an L2 hit")
	sessions := flag.Int("sessions", 400, "topical sessions")
	session := flag.Int("session", 25, "lookups per session")
	near := flag.Int("near", 30, "a session walks among its query's this many nearest glosses")
	pool := flag.Int("pool", 30_000, "glosses cached")
	seed := flag.Int64("seed", 7, "random seed")
	data := flag.String("data", filepath.Join(root, "..", "..", "shared", "data", "minilm-wordnet"), "the minilm-wordnet directory")
	bin := flag.String("bin", filepath.Join(root, "target", "release", "sutra-cache"), "the sutra-cache binary")
	flag.Parse()
	if _, err := os.Stat(*data); err != nil {
		*data = "/work/shared/data/minilm-wordnet"
	}
	if err := bench(*data, *bin, *l1, *k, *sessions, *session, *near, *pool, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "prefetch bench:", err)
		os.Exit(1)
	}
}

func bench(data, bin string, l1, k, sessions, session, near, pool int, seed int64) error {
	base, err := readNpy(filepath.Join(data, "base.f16.npy"))
	if err != nil {
		return err
	}
	gt, err := readNpy(filepath.Join(data, "gt.i32.npy"))
	if err != nil {
		return err
	}
	if base.descr != "<f2" || gt.descr != "<i4" || near > gt.cols {
		return fmt.Errorf("unexpected data: base %s, gt %s with %d columns", base.descr, gt.descr, gt.cols)
	}
	texts, err := readTexts(filepath.Join(data, "base_texts.txt.gz"))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(seed))
	idSet := map[int]bool{}
	for q := 0; q < gt.rows; q++ {
		for j := 0; j < near; j++ {
			idSet[gt.i32(q, j)] = true
		}
	}
	for len(idSet) < pool {
		idSet[rng.Intn(base.rows)] = true
	}
	ids := make([]int, 0, len(idSet))
	for i := range idSet {
		ids = append(ids, i)
	}
	sort.Ints(ids)
	var topical, uniform []int
	for range sessions {
		q := rng.Intn(gt.rows)
		for range session {
			topical = append(topical, gt.i32(q, rng.Intn(near)))
		}
	}
	for range topical {
		uniform = append(uniform, ids[rng.Intn(len(ids))])
	}
	fmt.Printf("pool %d glosses (dim %d), L1 %d, k %d, %d lookups per trace, load %.2f\n",
		len(ids), base.cols, l1, k, len(topical), load1())
	for _, tr := range []struct {
		name  string
		trace []int
	}{{"topical", topical}, {"uniform", uniform}} {
		dir, err := os.MkdirTemp("", "sutra-prefetch-bench")
		if err != nil {
			return err
		}
		port := freePort()
		srv, err := startServer(bin, dir, port)
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		err = func() error {
			c, err := sutracache.NewClient(sutracache.ClientOptions{Addr: addr, Namespace: "bench:", Timeout: 10 * time.Second, Strict: true})
			if err != nil {
				return err
			}
			defer c.Close()
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for at := w; at < len(ids); at += 8 {
						i := ids[at]
						if err := c.Set(context.Background(), texts[i], base.f16Row(i), "minilm", 0); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				return err
			}
			// Prefetch first: the co-access table starts empty and learns only from this
			// run's own lookups (the run without prefetch does not use it).
			for _, kk := range []int{k, 0} {
				r, err := run(addr, tr.trace, texts, l1, kk)
				if err != nil {
					return err
				}
				fmt.Printf("%-8s prefetch=%d: L1 hit rate %6.2f%% L2 round trips %6d (+%d in the background), prefetched %d, of which used %d\n",
					tr.name, kk, 100*r.l1HitRate, r.fg, r.bg, r.prefetched, r.prefetchHits)
			}
			return nil
		}()
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
		_ = os.RemoveAll(dir)
		if err != nil {
			return err
		}
	}
	fmt.Printf("load at the end %.2f\n", load1())
	return nil
}
