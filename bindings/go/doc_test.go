package sutracache

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Each ```go block of docs/bindings.md is a complete program: the test builds them all in a
// module that uses this package, and runs each against a real server (the address
// 127.0.0.1:50051 replaced by the server's, CACHE_SHARD_HOST/PORT set for FromEnv), so the
// docs show exactly what runs.
func TestTheDocsGoProgramsBuildAndRun(t *testing.T) {
	doc, err := os.ReadFile("../../docs/bindings.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	// What each program must print (in order of the blocks).
	want := [][]string{
		{"[1 0 0] true", "apple 1.00", "pear 0.99", "expected dimension 3, got 2"},
		{"[0.1 0.2 0.3] true <nil>", "1 <nil>", "Hits:1 Misses:0 TotalRequests:1 HitRate:1 Backend:sutra_storage"},
		{"[1 0 0] true", "2 <nil>", "[0.9 0.4 0] <nil>", "total hit rate"},
	}
	if len(blocks) != len(want) {
		t.Fatalf("expected %d Go blocks in docs/bindings.md, found %d", len(want), len(blocks))
	}
	port := sutraServer(t)
	dir := t.TempDir()
	here, _ := filepath.Abs(".")
	gomod := "module docexamples\n\ngo 1.26.0\n\nrequire github.com/sutra-cache/sutra-cache/bindings/go v0.0.0\n\n" +
		"replace github.com/sutra-cache/sutra-cache/bindings/go => " + here + "\n"
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range blocks {
		if !strings.HasPrefix(b[1], "package main\n") {
			t.Fatalf("Go block %d of docs/bindings.md is not a complete program:\n%s", i, b[1])
		}
		src := strings.ReplaceAll(b[1], "127.0.0.1:50051", addr(port))
		sub := filepath.Join(dir, "p"+strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin")+"/", "./...")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the docs' Go programs: %v\n%s", err, out)
	}
	for i := range blocks {
		run := exec.Command(filepath.Join(dir, "bin", "p"+strconv.Itoa(i)))
		run.Env = append(os.Environ(), "CACHE_SHARD_HOST=127.0.0.1", "CACHE_SHARD_PORT="+strconv.Itoa(port))
		out, err := run.CombinedOutput()
		if err != nil {
			t.Fatalf("Go block %d of docs/bindings.md failed: %v\n%s", i, err, out)
		}
		for _, w := range want[i] {
			if !strings.Contains(string(out), w) {
				t.Errorf("Go block %d of docs/bindings.md printed\n%s\nwithout %q", i, out, w)
			}
		}
		fmt.Printf("docs Go block %d:\n%s", i, out)
	}
}
