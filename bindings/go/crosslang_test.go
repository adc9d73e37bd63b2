package sutracache

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Python client of this repository (bindings/python, run from source in cffi's ABI
// mode on target/release's library and include/'s header) and this one read each other's entries, and write the same
// attribute bytes for the same entry (cached_at/expires_at aside).
const crossLangScript = `
import json, sys
from sutra_cache import SutraCacheClient

port, long_go, long_py = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = SutraCacheClient("127.0.0.1", port)
out = {
    "go_short": c.get_sync("go short", model="m"),
    "go_long": c.get_sync(long_go, model="m"),
    "go_similar": [[s.text, round(s.similarity, 4), s.attributes.get("topic")]
                   for s in c.find_similar_sync("go short", model="m", k=3)],
}
c.set_sync("py short", [0.5, -1.0, 2.0], model="m", ttl_seconds=3600,
           tags={"n": 3, "topic": "fin <&>"})
c.set_sync(long_py, [0.25, 0.125, -4.0], model="m", ttl_seconds=3600)
print(json.dumps(out))
`

func TestPythonAndGoClientsReadEachOthersEntries(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is not installed: run scripts/setup.sh")
	}
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	longGo, longPy := strings.Repeat("go é ", 60), strings.Repeat("py é ", 60)
	if err := c.Set(ctx, "go short", []float32{0.5, -1, 2}, "m", time.Hour,
		Tags(map[string]any{"topic": "fin <&>", "n": 3})); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, longGo, []float32{1, 0.5, 0.25}, "m", time.Hour); err != nil {
		t.Fatal(err)
	}

	pyPath, _ := filepath.Abs("../python")
	lib, _ := filepath.Abs("../../target/release/libsutra_cache.so")
	header, _ := filepath.Abs("../../include/sutra_cache.h")
	cmd := exec.Command(python, "-c", crossLangScript, strconv.Itoa(port), longGo, longPy)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pyPath, "SUTRA_CACHE_LIB="+lib,
		"SUTRA_CACHE_HEADER="+header)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the Python client: %v\n%s", err, stderr.String())
	}
	var got struct {
		GoShort   []float64 `json:"go_short"`
		GoLong    []float64 `json:"go_long"`
		GoSimilar [][]any   `json:"go_similar"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.GoShort) != 3 || got.GoShort[2] != 2 || len(got.GoLong) != 3 || got.GoLong[2] != 0.25 {
		t.Fatalf("Python read Go's entries as %s", out)
	}
	if len(got.GoSimilar) == 0 || got.GoSimilar[0][0] != "go short" || got.GoSimilar[0][2] != "fin <&>" {
		t.Fatalf("Python's find_similar over Go's entries: %s", out)
	}

	for text, want := range map[string][]float32{"py short": {0.5, -1, 2}, longPy: {0.25, 0.125, -4}} {
		v, found, err := c.Get(ctx, text, "m", MaxAge(time.Hour))
		if err != nil || !found || !bytes.Equal(EncodeEmbedding(v), EncodeEmbedding(want)) {
			t.Fatalf("Go read Python's %.20q as %v %v %v", text, v, found, err)
		}
	}
	sim, err := c.FindSimilar(ctx, Query{Text: longPy}, "m", 1, 0.99)
	if err != nil || len(sim) != 1 || sim[0].Text != longPy {
		t.Fatalf("Go's FindSimilar over Python's hashed entry: %+v %v", sim, err)
	}

	raw := redis.NewClient(&redis.Options{Addr: addr(port), DisableIdentity: true, Protocol: 2})
	defer raw.Close()
	times := regexp.MustCompile(`"(cached_at|expires_at)":[0-9.e+]+`)
	attrs := func(name string) string {
		js, err := raw.Do(ctx, "VGETATTR", "emb:m", name).Text()
		if err != nil {
			t.Fatal(err)
		}
		return times.ReplaceAllString(js, `"$1":T`)
	}
	if g, p := attrs("go short"), attrs("py short"); g != p {
		t.Fatalf("the clients write different attributes for the same entry:\nGo     %s\nPython %s", g, p)
	}
	if g, p := attrs(ElementName(longGo)), attrs(ElementName(longPy)); strings.Replace(g, "go é", "py é", -1) != p {
		t.Fatalf("hashed entries' attributes differ:\nGo     %s\nPython %s", g, p)
	}
}
