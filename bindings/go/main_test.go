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

// TestMain starts one `sutra-cache serve` for the examples (CACHE_SHARD_HOST/PORT point at
// it); tests start their own servers.
func TestMain(m *testing.M) {
	os.Exit(runWithServer(m))
}

func runWithServer(m *testing.M) int {
	bin, _ := filepath.Abs("../../target/release/sutra-cache")
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "no %s: build it with `cargo build --release` (scripts/test-bindings.sh does)\n", bin)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "sutracache-go-examples")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "STORAGE_PORT="+strconv.Itoa(port), "STORAGE_PATH="+dir)
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), DisableIdentity: true, Protocol: 2})
	defer rdb.Close()
	for deadline := time.Now().Add(20 * time.Second); rdb.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "the examples' server did not answer PING")
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.Setenv("CACHE_SHARD_HOST", "127.0.0.1")
	os.Setenv("CACHE_SHARD_PORT", strconv.Itoa(port))
	return m.Run()
}
