// go-redis's ClusterClient, unchanged, against sutra-cache nodes in cluster mode.
//
//	go run . PORT [PORT ...]
//
// Run by tests/server_cluster_tools.rs against three nodes made by `sutra-cache cluster
// create`. For RESP2 and RESP3: SET/GET of keys spread over every node, MSET/MGET/DEL with
// hash tags, a cross-slot MGET refused with CROSSSLOT, VADD/VSIM/VCARD/VINVALIDATE on
// vector sets split into hash-tagged parts, and every node holding only the keys of its
// slots. Prints "ok" and exits 0, or prints the first mismatch and exits 1.
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func fp32(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func run(ctx context.Context, addrs []string, proto int) {
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Protocol: proto})
	defer rc.Close()
	p := strconv.Itoa(proto)

	// Every node of CLUSTER SLOTS is one of ours, and every one of ours is in it.
	var mu sync.Mutex
	var seen []string
	check(rc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c.Options().Addr)
		return nil
	}), "ForEachMaster")
	sort.Strings(seen)
	want := append([]string(nil), addrs...)
	sort.Strings(want)
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		fail("masters %v, want %v", seen, want)
	}

	// Plain keys spread over the nodes by slot.
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("go%s:k:%d", p, i)
		check(rc.Set(ctx, keys[i], strconv.Itoa(i), 0).Err(), "SET "+keys[i])
	}
	for i, k := range keys {
		v, err := rc.Get(ctx, k).Result()
		check(err, "GET "+k)
		if v != strconv.Itoa(i) {
			fail("GET %s = %q, want %d", k, v, i)
		}
	}

	// Hash tags keep multi-key commands on one node.
	tag := "{user" + p + "}"
	check(rc.MSet(ctx, tag+":a", "1", tag+":b", "2").Err(), "MSET")
	got, err := rc.MGet(ctx, tag+":a", tag+":b", tag+":c").Result()
	check(err, "MGET")
	if len(got) != 3 || got[0] != "1" || got[1] != "2" || got[2] != nil {
		fail("MGET with a hash tag = %v", got)
	}
	n, err := rc.Del(ctx, tag+":a", tag+":b").Result()
	check(err, "DEL")
	if n != 2 {
		fail("DEL with a hash tag = %d, want 2", n)
	}
	// Keys of two slots in one command: the server refuses it (go-redis does not split).
	if err := rc.MGet(ctx, "a", "b").Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		fail("cross-slot MGET answered %v, want CROSSSLOT", err)
	}

	// A model's vectors in hash-tagged parts, each a vector set on its slot's node.
	for part := 0; part < 3; part++ {
		key := fmt.Sprintf("emb%s:minilm:{%d}", p, part)
		for j := 0; j < 5; j++ {
			ok, err := rc.VAdd(ctx, key, fmt.Sprintf("e%d", j), &redis.VectorFP32{Val: fp32(1, float32(j), float32(part))}).Result()
			check(err, "VADD "+key)
			if !ok {
				fail("VADD %s e%d answered false", key, j)
			}
		}
		sim, err := rc.VSimWithArgs(ctx, key, &redis.VectorRef{Name: "e0"}, &redis.VSimArgs{Count: 2}).Result()
		check(err, "VSIM "+key)
		if len(sim) != 2 || sim[0] != "e0" {
			fail("VSIM %s ELE e0 COUNT 2 = %v", key, sim)
		}
		card, err := rc.VCard(ctx, key).Result()
		check(err, "VCARD "+key)
		if card != 5 {
			fail("VCARD %s = %d, want 5", key, card)
		}
		// A command go-redis has no method for: routed by its first key (COMMAND's key spec).
		removed, err := rc.Do(ctx, "VINVALIDATE", key, "ELE", "e0", "THRESHOLD", "0.999999").Int64()
		check(err, "VINVALIDATE "+key)
		if removed != 1 {
			fail("VINVALIDATE %s removed %d, want 1", key, removed)
		}
		if card, _ := rc.VCard(ctx, key).Result(); card != 4 {
			fail("VCARD %s after VINVALIDATE = %d, want 4", key, card)
		}
	}

	// Every node holds only the keys of its slots, and the keys written are all there.
	total := 0
	check(rc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, "*").Result()
		if err != nil {
			return err
		}
		for _, k := range ks {
			owner, err := rc.MasterForKey(ctx, k)
			if err != nil {
				return err
			}
			if owner.Options().Addr != c.Options().Addr {
				return fmt.Errorf("%s holds %s, whose slot %s serves", c.Options().Addr, k, owner.Options().Addr)
			}
		}
		mu.Lock()
		total += len(ks)
		mu.Unlock()
		return nil
	}), "keys per node")
	if total != len(keys)+3 {
		fail("the nodes hold %d keys, want %d", total, len(keys)+3)
	}
	for _, k := range keys {
		check(rc.Del(ctx, k).Err(), "DEL "+k)
	}
	for part := 0; part < 3; part++ {
		check(rc.Del(ctx, fmt.Sprintf("emb%s:minilm:{%d}", p, part)).Err(), "DEL part")
	}
	info, err := rc.ClusterInfo(ctx).Result()
	check(err, "CLUSTER INFO")
	if !strings.Contains(info, "cluster_state:ok") {
		fail("CLUSTER INFO: %s", info)
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: go run . PORT [PORT ...]")
	}
	var addrs []string
	for _, p := range os.Args[1:] {
		addrs = append(addrs, "127.0.0.1:"+p)
	}
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		run(ctx, addrs, proto)
	}
	fmt.Println("ok")
}
