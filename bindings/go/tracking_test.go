package sutracache

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer starts a real redis-server (the reference for CLIENT TRACKING's blob-key
// semantics) with extra arguments and returns its port.
func redisServer(t testing.TB, args ...string) int {
	exe, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run scripts/setup.sh")
	}
	p := freePort(t)
	password := ""
	for i, a := range args {
		if a == "--requirepass" {
			password = args[i+1]
		}
	}
	all := append([]string{"--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir()}, args...)
	startServer(t, exec.Command(exe, all...), p, password)
	return p
}

type invalidation struct {
	names []string
	all   bool
}

func startTestTracker(t *testing.T, opts ClientOptions) (*tracker, chan invalidation) {
	c := newTestClient(t, opts)
	ch := make(chan invalidation, 100)
	tr := startTracker(c, func(names []string, all bool) { ch <- invalidation{names, all} })
	t.Cleanup(tr.stop)
	eventually(t, "the tracking subscription", tr.healthy.Load)
	return tr, ch
}

func next(t *testing.T, ch chan invalidation) invalidation {
	t.Helper()
	select {
	case inv := <-ch:
		return inv
	case <-time.After(20 * time.Second):
		t.Fatal("no invalidation within 20 s")
		return invalidation{}
	}
}

// Redis 6+ sends BCAST invalidations for blob keys; the names the tracker hands on are
// exactly the keys (a NUL inside a name, as sutra-cache's element names have, included).
func TestTheTrackerHandsOnEachInvalidationOfItsPrefixAndFlushes(t *testing.T) {
	port := redisServer(t, "--requirepass", "pw")
	ctx := testCtx(t)
	_, ch := startTestTracker(t, ClientOptions{Addr: addr(port), Password: "pw"})
	raw := redis.NewClient(&redis.Options{Addr: addr(port), Password: "pw", DisableIdentity: true, Protocol: 2})
	defer raw.Close()

	raw.Set(ctx, "other:x", "1", 0) // not under the prefix: no invalidation
	raw.Set(ctx, "emb:m\x00hello", "1", 0)
	if inv := next(t, ch); inv.all || strings.Join(inv.names, ",") != "emb:m\x00hello" {
		t.Fatalf("invalidation %+q", inv.names)
	}
	raw.FlushAll(ctx)
	if inv := next(t, ch); !inv.all {
		t.Fatalf("FLUSHALL gave %+v, want a null (everything) invalidation", inv)
	}
}

// A killed invalidation connection empties L1 (invalidations may have been lost), and the
// tracker subscribes again.
func TestTheTrackerReconnectsAndDropsEverythingWhenItsConnectionDies(t *testing.T) {
	port := redisServer(t)
	ctx := testCtx(t)
	tr, ch := startTestTracker(t, ClientOptions{Addr: addr(port), Logger: (&logBuffer{}).logger()})
	raw := redis.NewClient(&redis.Options{Addr: addr(port), DisableIdentity: true, Protocol: 2})
	defer raw.Close()
	list := raw.ClientList(ctx).Val()
	m := regexp.MustCompile(`id=(\d+) [^\n]*name=` + TrackingClientName).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("no %s connection in CLIENT LIST:\n%s", TrackingClientName, list)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if err := raw.ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	if inv := next(t, ch); !inv.all {
		t.Fatalf("a dead connection gave %+v, want everything dropped", inv)
	}
	eventually(t, "the new subscription", func() bool {
		return tr.healthy.Load() && strings.Count(raw.ClientList(ctx).Val(), "name="+TrackingClientName) == 1
	})
	raw.Set(ctx, "emb:again", "1", 0)
	if inv := next(t, ch); strings.Join(inv.names, ",") != "emb:again" {
		t.Fatalf("after the reconnection: %+q", inv.names)
	}
}

// The guard against re-inserting a stale vector: an entry invalidated while its L2 read or
// write was in flight is not kept in L1; an element invalidation drops only that element,
// a key (whole set) invalidation all of L1.
func TestAnL1WriteRacingAnInvalidationIsNotKept(t *testing.T) {
	m := newTestMultiTier(t, MultiTierOptions{Client: ClientOptions{Addr: "127.0.0.1:1"}, NoTracking: true})
	k1, k2 := m.l1Key("a", "m"), m.l1Key("b", "m")
	in := func(k string) bool { _, found, _ := m.l1.Get(k); return found }

	e := m.begin(k1)
	m.invalidate([]string{k1}, false)
	m.finish(k1, e, l1Value(0, []float32{1}), time.Hour)
	if in(k1) {
		t.Fatal("an entry invalidated during its L2 call was kept in L1")
	}
	e1, e2 := m.begin(k1), m.begin(k2)
	m.finish(k1, e1, l1Value(0, []float32{1}), time.Hour)
	m.invalidate(nil, true) // a flush (or a dead tracking connection) while k2 is in flight
	m.finish(k2, e2, l1Value(0, []float32{2}), time.Hour)
	if in(k1) || in(k2) {
		t.Fatal("L1 kept entries across a flush")
	}
	for _, k := range []string{k1, k2} {
		m.finish(k, m.begin(k), l1Value(0, []float32{1}), time.Hour)
	}
	m.invalidate([]string{k1}, false)
	if in(k1) || !in(k2) {
		t.Fatalf("an element invalidation: k1 %v k2 %v", in(k1), in(k2))
	}
	m.invalidate([]string{"emb:m"}, false)
	if in(k2) {
		t.Fatal("a whole-set invalidation left an L1 entry")
	}
	// A write keeps its value only when it was the only access in flight, and makes the
	// others stale: two writes of one entry, or a read racing a write, keep nothing.
	w1, w2 := m.begin(k1), m.begin(k1)
	m.finishSet(k1, w2, l1Value(0, []float32{2}), time.Hour)
	m.finishSet(k1, w1, l1Value(0, []float32{1}), time.Hour)
	if in(k1) {
		t.Fatal("one of two concurrent writes was kept in L1")
	}
	r, w := m.begin(k1), m.begin(k1)
	m.finishSet(k1, w, l1Value(0, []float32{2}), time.Hour)
	m.finish(k1, r, l1Value(0, []float32{1}), time.Hour)
	if in(k1) {
		t.Fatal("a read that raced a write was kept in L1")
	}
	m.finishSet(k1, m.begin(k1), l1Value(0, []float32{3}), time.Hour)
	if !in(k1) {
		t.Fatal("a lone write was not kept in L1")
	}
	if len(m.pending) != 0 {
		t.Fatalf("pending accesses left behind: %v", m.pending)
	}
}
