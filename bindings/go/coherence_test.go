package sutracache

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The reader process of the coherence test: a MultiTier on the shard at SUTRA_HELPER_ADDR,
// driven by lines on stdin ("get <text>", "stats"), one answer line each.
func TestHelperProcessMultiTierReader(t *testing.T) {
	shard := os.Getenv("SUTRA_HELPER_ADDR")
	if shard == "" {
		t.Skip("the reader process of TestTwoProcessesMultiTiersStayCoherent")
	}
	m, err := NewMultiTier(MultiTierOptions{Client: ClientOptions{Addr: shard}})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	defer m.Close()
	ctx := context.Background()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "get":
			v, found, err := m.Get(ctx, arg, "m")
			fmt.Println(found, v, err, m.Stats().L1.Hits)
		case "stats":
			s := m.Stats()
			fmt.Println(s.L1.Tracking, s.L1.Size)
		}
	}
}

type reader struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

func (r *reader) ask(line string) string {
	r.t.Helper()
	if _, err := fmt.Fprintln(r.in, line); err != nil {
		r.t.Fatal(err)
	}
	if !r.out.Scan() {
		r.t.Fatalf("the reader process died (%v)", r.out.Err())
	}
	return r.out.Text()
}

func startReader(t *testing.T, shard string) *reader {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessMultiTierReader$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SUTRA_HELPER_ADDR="+shard)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(); _ = cmd.Wait() })
	return &reader{t: t, in: in, out: bufio.NewScanner(out)}
}

// Two MultiTiers in two processes on one shard: after one process sets, semantically
// invalidates, or the shard removes or evicts an entry, the other stops serving the old
// vector from its L1 (polled with a generous deadline: no timing is asserted).
func TestTwoProcessesMultiTiersStayCoherent(t *testing.T) {
	port := sutraServer(t, "MAX_CONCEPTS=50")
	ctx := testCtx(t)
	writer := newTestMultiTier(t, MultiTierOptions{Client: ClientOptions{Addr: addr(port)}})
	r := startReader(t, addr(port))
	eventually(t, "the reader's subscription", func() bool { return strings.HasPrefix(r.ask("stats"), TrackingConnected) })
	if s := writer.Stats(); s.L1.Tracking != TrackingConnected || !s.L1.Coherent {
		t.Fatalf("writer tracking: %+v", s.L1)
	}
	raw := redis.NewClient(&redis.Options{Addr: addr(port), DisableIdentity: true, Protocol: 2})
	defer raw.Close()

	// promote x into the reader's L1, see it served from there
	if err := writer.Set(ctx, "x", []float32{1, 0}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := writer.l1.Get(writer.l1Key("x", "m")); !found {
		t.Fatal("with tracking, a Set did not put its entry in its own L1 (its write must not invalidate it: NOLOOP)")
	}
	// (a promotion that raced the writer's invalidation is not kept: the next read promotes)
	eventually(t, "an L1 hit in the reader", func() bool {
		got := r.ask("get x")
		if !strings.HasPrefix(got, "true [1 0] <nil> ") {
			t.Fatalf("read: %s", got)
		}
		return !strings.HasSuffix(got, " 0")
	})
	servedUntil := func(what, want string) {
		t.Helper()
		eventually(t, what, func() bool { return strings.HasPrefix(r.ask("get x"), want) })
	}
	// another process overwrites x
	if err := writer.Set(ctx, "x", []float32{2, 0}, "m", 0); err != nil {
		t.Fatal(err)
	}
	servedUntil("the overwrite reaching the reader", "true [2 0]")
	for range 20 {
		if got := r.ask("get x"); !strings.HasPrefix(got, "true [2 0]") {
			t.Fatalf("the old vector came back: %s", got)
		}
	}
	// another process invalidates it semantically
	if _, err := writer.SemanticInvalidate(ctx, Query{Vector: []float32{1, 0.01}}, 0.99, "m"); err != nil {
		t.Fatal(err)
	}
	servedUntil("the semantic invalidation reaching the reader", "false")
	// the shard removes it (VREM from any client)
	_ = writer.Set(ctx, "x", []float32{3, 0}, "m", 0)
	servedUntil("the new x", "true [3 0]")
	raw.Do(ctx, "VREM", "emb:m", "x")
	servedUntil("VREM reaching the reader", "false")
	// the shard evicts it (MAX_CONCEPTS=50, LRU)
	_ = writer.Set(ctx, "x", []float32{4, 0}, "m", 0)
	servedUntil("the new x", "true [4 0]")
	for i := range 60 {
		_ = raw.Do(ctx, "VADD", "emb:other", "FP32", EncodeEmbedding([]float32{1, float32(i)}), "e"+strconv.Itoa(i)).Err()
	}
	if n, _ := raw.Do(ctx, "VISMEMBER", "emb:m", "x").Int(); n != 0 {
		t.Fatal("the shard did not evict x")
	}
	servedUntil("the eviction reaching the reader", "false")
	// the set is deleted (Clear from another process)
	_ = writer.Set(ctx, "x", []float32{5, 0}, "m", 0)
	servedUntil("the new x", "true [5 0]")
	if _, err := writer.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	servedUntil("Clear reaching the reader", "false")
}

// Measures (does not assert) the invalidation propagation delay: from a Set returning in
// one MultiTier to the other's L1 no longer holding the old vector.
func TestInvalidationPropagationDelayIsMeasured(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	a := newTestMultiTier(t, MultiTierOptions{Client: ClientOptions{Addr: addr(port)}})
	b := newTestMultiTier(t, MultiTierOptions{Client: ClientOptions{Addr: addr(port)}})
	eventually(t, "both subscriptions", func() bool { return a.Stats().L1.Coherent && b.Stats().L1.Coherent })
	var delays []time.Duration
	for i := range 200 {
		text := "k" + strconv.Itoa(i%10)
		if err := a.Set(ctx, text, []float32{float32(i), 1}, "m", 0); err != nil {
			t.Fatal(err)
		}
		key := b.l1Key(text, "m")
		// (a promotion racing the invalidation of a's own write is not kept: read again)
		eventually(t, "the promotion", func() bool {
			if _, found, _ := b.Get(ctx, text, "m"); !found {
				t.Fatal("miss")
			}
			_, found, _ := b.l1.Get(key)
			return found
		})
		if err := a.Set(ctx, text, []float32{float32(i), 2}, "m", 0); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for {
			if _, found, _ := b.l1.Get(key); !found {
				break
			}
			if time.Since(t0) > 20*time.Second {
				t.Fatal("the invalidation did not reach the other L1 within 20 s")
			}
			time.Sleep(20 * time.Microsecond)
		}
		delays = append(delays, time.Since(t0))
	}
	slices.Sort(delays)
	t.Logf("invalidation propagation delay over %d changes: p50 %v, p99 %v, max %v",
		len(delays), delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1])
}
