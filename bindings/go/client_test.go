package sutracache

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPing(t *testing.T, port int, cmd *exec.Cmd) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), DisableIdentity: true, Protocol: 2})
	defer rdb.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if rdb.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer PING on port %d", cmd.Path, port)
}

func startServer(t *testing.T, cmd *exec.Cmd, port int) {
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitPing(t, port, cmd)
}

// shards starts a real Redis (reference) and, once the server is built, `sutra-cache serve`.
func shards(t *testing.T) map[string]int {
	out := map[string]int{}
	exe, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run scripts/setup.sh")
	}
	p := freePort(t)
	startServer(t, exec.Command(exe, "--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir()), p)
	out["redis"] = p
	bin, _ := filepath.Abs("../../target/release/sutra-cache")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no %s: build it with `cargo build --release` (scripts/test-bindings.sh does)", bin)
	}
	p = freePort(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "STORAGE_PORT="+strconv.Itoa(p), "STORAGE_PATH="+t.TempDir())
	startServer(t, cmd, p)
	out["sutra"] = p
	return out
}

func TestClientRoundTripsEmbeddingsAndCountsHits(t *testing.T) {
	for name, port := range shards(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := NewClient("127.0.0.1", port, time.Hour)
			defer c.Close()
			if err := c.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			emb := []float32{0.25, -1, 3.5}
			if _, found, err := c.Get(ctx, "hello", "m"); err != nil || found {
				t.Fatalf("miss: %v %v", found, err)
			}
			if err := c.Set(ctx, "hello", emb, "m", 0); err != nil {
				t.Fatal(err)
			}
			got, found, err := c.Get(ctx, "hello", "m")
			if err != nil || !found || len(got) != 3 || got[2] != 3.5 {
				t.Fatalf("hit: %v %v %v", got, found, err)
			}
			ttl := c.rdb.TTL(ctx, EmbeddingKey("hello", "m")).Val()
			if ttl <= 59*time.Minute || ttl > time.Hour {
				t.Fatalf("default TTL not applied: %v", ttl)
			}
			s, err := c.Stats(ctx)
			if err != nil || s.Hits != 1 || s.Misses != 1 || s.TotalRequests != 2 || s.HitRate != 0.5 ||
				s.Shard != "127.0.0.1:"+strconv.Itoa(port) || s.Backend != map[string]string{"redis": "redis", "sutra": "sutra-cache"}[name] {
				t.Fatalf("stats %+v %v", s, err)
			}
		})
	}
}

func TestTheDocsSocketExampleRuns(t *testing.T) {
	port := shards(t)["redis"]
	ctx := context.Background()
	// From here to the end: the second Go block of docs/bindings.md, less its `port :=` line.
	client := NewClient("127.0.0.1", port, time.Hour)
	defer client.Close()
	_ = client.Set(ctx, "hello world", []float32{0.1, 0.2}, "minilm", 0)
	emb, found, err := client.Get(ctx, "hello world", "minilm")
	fmt.Println(emb, found, err)
	stats, err := client.Stats(ctx) // Hits, Misses, TotalRequests, HitRate, Backend, Shard
	fmt.Println(stats, err)
	if !found || stats.Hits != 1 {
		t.Fatalf("doc example: found=%v stats=%+v", found, stats)
	}
}
