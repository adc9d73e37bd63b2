package sutracache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPing(t testing.TB, port int, password string, cmd *exec.Cmd) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password,
		DisableIdentity: true, Protocol: 2})
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

func startServer(t testing.TB, cmd *exec.Cmd, port int, password string) {
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitPing(t, port, password, cmd)
}

// sutraServer starts `sutra-cache serve` (target/release) on a free loopback port with the
// given extra environment ("NAME=value") and returns its port.
func sutraServer(t testing.TB, env ...string) int {
	bin, _ := filepath.Abs("../../target/release/sutra-cache")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no %s: build it with `cargo build --release` (scripts/test-bindings.sh does)", bin)
	}
	p := freePort(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "STORAGE_PORT="+strconv.Itoa(p), "STORAGE_PATH="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	password := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "SUTRA_PASSWORD="); ok {
			password = v
		}
	}
	startServer(t, cmd, p, password)
	return p
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func newTestClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer is a slog logger whose output a test can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func TestClientMissesThenReturnsTheStoredFloatsBitForBitAndCountsLikeTheSeed(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	emb := []float32{0.25, -1, 3.5, float32(math.Pi), 1e-38}
	if _, found, err := c.Get(ctx, "hello", "m"); err != nil || found {
		t.Fatalf("miss: %v %v", found, err)
	}
	if err := c.Set(ctx, "hello", emb, "m", 0); err != nil {
		t.Fatal(err)
	}
	got, found, err := c.Get(ctx, "hello", "m")
	if err != nil || !found || !bytes.Equal(EncodeEmbedding(got), EncodeEmbedding(emb)) {
		t.Fatalf("hit: %v %v %v", got, found, err)
	}
	if _, found, _ := c.Get(ctx, "hello", "other-model"); found {
		t.Fatal("an entry of model m was found under another model")
	}
	s := c.Stats()
	want := ClientStats{Hits: 1, Misses: 2, TotalRequests: 3, HitRate: 1.0 / 3, Backend: "sutra_storage",
		Shard: addr(port)}
	if s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	js, _ := json.Marshal(s)
	for _, k := range []string{"hits", "misses", "total_requests", "hit_rate", "backend", "shard", "errors"} {
		if !strings.Contains(string(js), `"`+k+`":`) {
			t.Fatalf("stats JSON %s lacks the seed's key %q", js, k)
		}
	}
}

func TestEntriesHaveTheSharedFormatOnTheWire(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	raw := redis.NewClient(&redis.Options{Addr: addr(port), DisableIdentity: true, Protocol: 2})
	defer raw.Close()

	long := "<&>" + strings.Repeat("x", 254) // 257 bytes; HTML characters unescaped, as Python writes them
	prefixed := "sha256:looks like a hash"
	emb := []float32{1, 0.5, -0.25}
	before := float64(time.Now().UnixMicro()) / 1e6
	if err := c.Set(ctx, "short text", emb, "minilm", 90*time.Minute, Tags(map[string]any{"topic": "finance", "n": 3})); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{long, prefixed, strings.Repeat("é", 128)} { // 256 bytes: plain
		if err := c.Set(ctx, text, emb, "minilm", NoTTL); err != nil {
			t.Fatal(err)
		}
	}
	after := float64(time.Now().UnixMicro()) / 1e6

	if typ := raw.Type(ctx, "emb:minilm").Val(); typ != "vectorset" {
		t.Fatalf("set key emb:minilm has type %q", typ)
	}
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return "sha256:" + hex.EncodeToString(h[:]) }
	names := map[string]string{"short text": "short text", long: hash(long), prefixed: hash(prefixed),
		strings.Repeat("é", 128): strings.Repeat("é", 128)}
	for text, name := range names {
		if ElementName(text) != name {
			t.Fatalf("ElementName(%.20q) = %q, want %q", text, ElementName(text), name)
		}
		blob, err := raw.Do(ctx, "VGETF32", "emb:minilm", name).Text()
		if err != nil || !bytes.Equal([]byte(blob), EncodeEmbedding(emb)) {
			t.Fatalf("VGETF32 %.30q: %x %v", name, blob, err)
		}
		js, err := raw.Do(ctx, "VGETATTR", "emb:minilm", name).Text()
		if err != nil {
			t.Fatal(err)
		}
		var a map[string]any
		if err := json.Unmarshal([]byte(js), &a); err != nil {
			t.Fatalf("attributes %q: %v", js, err)
		}
		if a["concept_type"] != "embedding_cache" || a["source"] != "embedding_service" || a["model"] != "minilm" {
			t.Fatalf("attributes %s", js)
		}
		at, ok := a["cached_at"].(float64)
		if !ok || at < before || at > after {
			t.Fatalf("cached_at %v not in [%v, %v]", a["cached_at"], before, after)
		}
		if _, has := a["text"]; has != (name != text) || (has && a["text"] != text) {
			t.Fatalf("text attribute of %.30q: %s", name, js)
		}
		if text == long && !strings.Contains(js, `,"text":"<&>xxx`) {
			t.Fatalf("the text attribute is not compact, unescaped JSON: %s", js)
		}
		if text == "short text" {
			if a["ttl_seconds"] != float64(5400) || a["expires_at"] != at+5400 || a["topic"] != "finance" || a["n"] != float64(3) {
				t.Fatalf("attributes %s", js)
			}
			if !strings.HasPrefix(js, `{"concept_type":"embedding_cache","source":"embedding_service","model":"minilm","cached_at":`) {
				t.Fatalf("attribute order: %s", js)
			}
			if ttl := raw.Do(ctx, "VTTL", "emb:minilm", name).Val().(int64); ttl <= 5300 || ttl > 5400 {
				t.Fatalf("VTTL %d", ttl)
			}
		} else {
			if v, has := a["ttl_seconds"]; !has || v != nil {
				t.Fatalf("ttl_seconds of an entry without TTL: %s", js)
			}
			if v, has := a["expires_at"]; !has || v != nil {
				t.Fatalf("expires_at of an entry without TTL: %s", js)
			}
			if ttl := raw.Do(ctx, "VTTL", "emb:minilm", name).Val().(int64); ttl != -1 {
				t.Fatalf("VTTL of an entry without TTL: %d", ttl)
			}
		}
	}
	// Model "" is the seed's default model.
	if err := c.Set(ctx, "d", emb, "", 0); err != nil {
		t.Fatal(err)
	}
	if js := raw.Do(ctx, "VGETATTR", "emb:default", "d").Val(); !strings.Contains(fmt.Sprint(js), `"model":"default"`) {
		t.Fatalf("model \"\" is not the default model: %v", js)
	}
	if _, found, _ := c.Get(ctx, "d", "default"); !found {
		t.Fatal("model \"\" is not the default model")
	}
	info, err := raw.Do(ctx, "VINFO", "emb:minilm").Slice()
	if err != nil || !strings.Contains(fmt.Sprint(info), "exact") {
		t.Fatalf("the set is not in the server's default storage mode (exact): %v %v", info, err)
	}
	// And the client reads entries others wrote in that format (as Python's client writes
	// them: its own JSON spacing, a long text hashed).
	attrs := fmt.Sprintf(`{"concept_type": "embedding_cache", "source": "embedding_service", "model": "minilm", "cached_at": %f, "expires_at": null, "ttl_seconds": null, "text": %q}`,
		before, long+"y")
	if err := raw.Do(ctx, "VADD", "emb:minilm", "FP32", EncodeEmbedding([]float32{0, 1, 0}), hash(long+"y"), "SETATTR", attrs).Err(); err != nil {
		t.Fatal(err)
	}
	got, found, err := c.Get(ctx, long+"y", "minilm", MaxAge(time.Hour))
	if err != nil || !found || got[1] != 1 {
		t.Fatalf("an entry written by another client: %v %v %v", got, found, err)
	}
}

func TestAnUnreachableShardIsALoggedMissUnlessStrict(t *testing.T) {
	ctx := testCtx(t)
	dead := addr(freePort(t)) // nothing listens there
	var logs logBuffer
	c := newTestClient(t, ClientOptions{Addr: dead, Logger: logs.logger(), Timeout: 200 * time.Millisecond})
	v, found, err := c.Get(ctx, "hello", "m")
	if err != nil || found || v != nil {
		t.Fatalf("get from a dead shard: %v %v %v", v, found, err)
	}
	if err := c.Set(ctx, "hello", []float32{1, 2}, "m", 0); err != nil {
		t.Fatalf("set to a dead shard: %v", err)
	}
	if s := c.Stats(); s.Misses != 1 || s.Errors != 2 || s.Hits != 0 {
		t.Fatalf("stats %+v", s)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 2 || !strings.Contains(out, "op=get") || !strings.Contains(out, "op=set") ||
		!strings.Contains(out, dead) {
		t.Fatalf("warnings:\n%s", out)
	}

	strict := newTestClient(t, ClientOptions{Addr: dead, Strict: true, Timeout: 200 * time.Millisecond})
	if _, _, err := strict.Get(ctx, "hello", "m"); err == nil || !strings.Contains(err.Error(), dead) {
		t.Fatalf("strict get: %v", err)
	}
	if err := strict.Set(ctx, "hello", []float32{1, 2}, "m", 0); err == nil {
		t.Fatal("strict set to a dead shard succeeded")
	}
	if _, err := strict.FindSimilar(ctx, Query{Vector: []float32{1, 2}}, "m", 3, 0.5); err == nil {
		t.Fatal("strict find_similar on a dead shard succeeded")
	}
	if n, err := c.Clear(ctx); err != nil || n != 0 {
		t.Fatalf("clear on a dead shard: %d %v", n, err)
	}
	if r, err := c.SemanticInvalidate(ctx, Query{Vector: []float32{1, 2}}, 0.9, "m"); err != nil || r != nil {
		t.Fatalf("semantic invalidation on a dead shard: %v %v", r, err)
	}
	if _, err := c.FindSimilar(ctx, Query{Vector: []float32{1, 2}}, "m", 3, 0.5); err != nil {
		t.Fatalf("find_similar on a dead shard: %v", err)
	}
	if s := c.Stats(); s.Errors != 5 {
		t.Fatalf("failures counted: %+v", s)
	}
	if _, err := strict.Clear(ctx); err == nil {
		t.Fatal("strict clear on a dead shard reported success")
	}
	if _, err := strict.SemanticInvalidate(ctx, Query{Vector: []float32{1, 2}}, 0.9, ""); err == nil {
		t.Fatal("strict semantic invalidation on a dead shard reported success")
	}
}

func TestBadInputIsAnErrorEvenWhenNotStrict(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	if err := c.Set(ctx, "a", []float32{1, 0, 0}, "m", 0); err != nil {
		t.Fatal(err)
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	cases := map[string]error{
		"wrong dimension": c.Set(ctx, "b", []float32{1, 0}, "m", 0),
		"NaN":             c.Set(ctx, "b", []float32{1, nan, 0}, "m", 0),
		"-Inf":            c.Set(ctx, "b", []float32{1, 0, inf}, "m", 0),
		"empty":           c.Set(ctx, "b", nil, "m", 0),
		"negative TTL":    c.Set(ctx, "b", []float32{1, 0, 0}, "m", -5*time.Second),
		"nested tag":      c.Set(ctx, "b", []float32{1, 0, 0}, "m", 0, Tags(map[string]any{"x": []int{1}})),
		"reserved tag":    c.Set(ctx, "b", []float32{1, 0, 0}, "m", 0, Tags(map[string]any{"model": "y"})),
	}
	_, cases["threshold above 1"] = c.SemanticInvalidate(ctx, Query{Text: "a"}, 1.5, "m")
	_, cases["threshold below -1"] = c.SemanticInvalidate(ctx, Query{Text: "a"}, -1.01, "m")
	_, cases["threshold NaN"] = c.SemanticInvalidate(ctx, Query{Text: "a"}, math.NaN(), "m")
	_, cases["min similarity above 1"] = c.FindSimilar(ctx, Query{Text: "a"}, "m", 3, 2)
	_, cases["k = 0"] = c.FindSimilar(ctx, Query{Text: "a"}, "m", 0, 0.5)
	_, cases["query with text and vector"] = c.FindSimilar(ctx, Query{Text: "a", Vector: []float32{1}}, "m", 3, 0.5)
	_, cases["empty query"] = c.FindSimilar(ctx, Query{}, "m", 3, 0.5)
	_, cases["NaN query"] = c.FindSimilar(ctx, Query{Vector: []float32{nan, 0, 0}}, "m", 3, 0.5)
	_, cases["query of the wrong dimension"] = c.FindSimilar(ctx, Query{Vector: []float32{1, 0}}, "m", 3, 0.5)
	_, cases["invalidation of the wrong dimension"] = c.SemanticInvalidate(ctx, Query{Vector: []float32{1, 0}}, 0.9, "m")
	_, _, cases["negative max age"] = c.Get(ctx, "a", "m", MaxAge(-time.Second))
	for name, err := range cases {
		if !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v does not wrap ErrBadInput", name, err)
		}
	}
	if err := cases["wrong dimension"]; err == nil || !strings.Contains(err.Error(), "got 2") || !strings.Contains(err.Error(), "has 3") {
		t.Errorf("the dimension error does not name both dimensions: %v", err)
	}
	if s := c.Stats(); s.Errors != 0 {
		t.Fatalf("bad input counted as shard failures: %+v", s)
	}
	for _, o := range []ClientOptions{{Addr: "no-port"}, {Timeout: -time.Second}, {DefaultTTL: -time.Hour}} {
		if _, err := NewClient(o); !errors.Is(err, ErrBadInput) {
			t.Errorf("NewClient(%+v): %v", o, err)
		}
	}
}

func TestClearRemovesOnlyThisNamespacesSets(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	other := newTestClient(t, ClientOptions{Addr: addr(port), Namespace: "other:"})
	raw := redis.NewClient(&redis.Options{Addr: addr(port), DisableIdentity: true, Protocol: 2})
	defer raw.Close()
	for _, m := range []string{"a", "b*", "c"} {
		if err := c.Set(ctx, "t", []float32{1, 2}, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Set(ctx, "t", []float32{1, 2}, "a", 0); err != nil {
		t.Fatal(err)
	}
	if err := raw.Set(ctx, "emb:blob", "not a set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if models, err := c.Models(ctx); err != nil || strings.Join(models, ",") != "a,b*,c" {
		t.Fatalf("models %v %v", models, err)
	}
	if n, err := c.Clear(ctx); err != nil || n != 3 {
		t.Fatalf("clear: %d %v", n, err)
	}
	keys, _ := raw.Keys(ctx, "*").Result()
	if strings.Join(sortedStrings(keys), ",") != "emb:blob,other:a" {
		t.Fatalf("keys after clear: %v", keys)
	}
	if _, found, _ := c.Get(ctx, "t", "a"); found {
		t.Fatal("an entry survived Clear")
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// unit is a unit vector at angle deg from the x axis, so two of them have cosine
// cos(deg1 - deg2).
func unit(deg float64) []float32 {
	r := deg * math.Pi / 180
	return []float32{float32(math.Cos(r)), float32(math.Sin(r)), 0}
}

func TestFindSimilarAnswersCosineSimilaritiesAboveTheMinimum(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	embedded := atomic.Int32{}
	c := newTestClient(t, ClientOptions{Addr: addr(port), Embedder: func(_ context.Context, text, model string) ([]float32, error) {
		embedded.Add(1)
		return unit(5), nil
	}})
	plain := newTestClient(t, ClientOptions{Addr: addr(port)})
	long := strings.Repeat("long ", 60)
	for text, deg := range map[string]float64{"apple": 0, "pear": 20, long: 40, "car": 90} {
		if err := c.Set(ctx, text, unit(deg), "m", 0, Tags(map[string]any{"topic": "t"})); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.FindSimilar(ctx, Query{Text: "apple"}, "m", 10, math.Cos(30*math.Pi/180))
	if err != nil || len(got) != 2 || got[0].Text != "apple" || got[1].Text != "pear" {
		t.Fatalf("text query: %+v %v", got, err)
	}
	if math.Abs(got[1].Similarity-math.Cos(20*math.Pi/180)) > 1e-4 || got[1].Attributes["topic"] != "t" || got[1].Model != "m" {
		t.Fatalf("match %+v", got[1])
	}
	got, err = c.FindSimilar(ctx, Query{Vector: unit(40)}, "m", 1, 0.9)
	if err != nil || len(got) != 1 || got[0].Text != long || got[0].Element != ElementName(long) {
		t.Fatalf("vector query finding a hashed entry: %+v %v", got, err)
	}
	got, err = c.FindSimilar(ctx, Query{Vector: unit(180)}, "m", 4, -1)
	if err != nil || len(got) != 4 || got[0].Text != "car" {
		t.Fatalf("min similarity -1 keeps everything: %+v %v", got, err)
	}
	if err := c.Set(ctx, "untagged", unit(-10), "m", 0); err != nil {
		t.Fatal(err)
	}
	got, err = c.FindSimilar(ctx, Query{Vector: unit(0)}, "m", 10, 0.9, Filter(`.topic == "t"`))
	if err != nil || len(got) != 2 || got[0].Text != "apple" || got[1].Text != "pear" {
		t.Fatalf("filtered: %+v %v", got, err)
	}
	if _, err := c.FindSimilar(ctx, Query{Vector: unit(0)}, "m", 10, 0.9, Filter(`.topic ==`)); !errors.Is(err, ErrBadInput) {
		t.Fatalf("a bad filter: %v", err)
	}
	if _, err := plain.FindSimilar(ctx, Query{Text: "banana"}, "m", 3, 0.5); !errors.Is(err, ErrNoEmbedder) {
		t.Fatalf("uncached text without an embedder: %v", err)
	}
	got, err = c.FindSimilar(ctx, Query{Text: "banana"}, "m", 1, 0.9)
	if err != nil || embedded.Load() != 1 || len(got) != 1 || got[0].Text != "apple" {
		t.Fatalf("uncached text with the embedder: %+v %v (embedder calls %d)", got, err, embedded.Load())
	}
	if got, err := c.FindSimilar(ctx, Query{Vector: unit(0)}, "no-such-model", 3, 0.5); err != nil || len(got) != 0 {
		t.Fatalf("a model without entries: %v %v", got, err)
	}
}

func TestSemanticInvalidateRemovesWhatTheSeedsCallMeans(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	raw := redis.NewClient(&redis.Options{Addr: addr(port), DisableIdentity: true, Protocol: 2})
	defer raw.Close()
	// cos(30°) = 0.866 ≥ 0.85 > cos(33°) = 0.839.
	entries := map[string]float64{"Apple Inc stock data": 0, "AAPL quote": 30, "fruit prices": 33, "weather": 90}
	for _, model := range []string{"m1", "m2"} {
		for text, deg := range entries {
			if err := c.Set(ctx, text, unit(deg), model, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Set(ctx, "only in m3", []float32{1, 0}, "m3", 0); err != nil {
		t.Fatal(err)
	}
	removed, err := c.SemanticInvalidate(ctx, Query{Text: "Apple Inc stock data"}, 0.85, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range removed {
		got = append(got, r.Model+"/"+r.Text)
		if r.Similarity < 0.85 {
			t.Fatalf("removed %+v below the threshold", r)
		}
	}
	if strings.Join(sortedStrings(got), ",") != "m1/AAPL quote,m1/Apple Inc stock data,m2/AAPL quote,m2/Apple Inc stock data" {
		t.Fatalf("removed %v", got)
	}
	for _, model := range []string{"m1", "m2"} {
		for text, deg := range entries {
			_, found, _ := c.Get(ctx, text, model)
			if found != (deg > 30) {
				t.Fatalf("%s/%s found=%v after invalidation", model, text, found)
			}
		}
	}
	if n := raw.Do(ctx, "VCARD", "emb:m3").Val(); n != int64(1) {
		t.Fatalf("a set not holding the text lost entries: %v", n)
	}
	for _, model := range []string{"", "m1"} {
		if _, err := c.SemanticInvalidate(ctx, Query{Text: "never cached"}, 0.85, model); !errors.Is(err, ErrNoEmbedder) {
			t.Fatalf("a text not cached in %q without an embedder: %v", model, err)
		}
	}
	boom := errors.New("model down")
	failing := newTestClient(t, ClientOptions{Addr: addr(port), Embedder: func(context.Context, string, string) ([]float32, error) {
		return nil, boom
	}})
	if _, err := failing.SemanticInvalidate(ctx, Query{Text: "never cached"}, 0.85, "m1"); !errors.Is(err, boom) {
		t.Fatalf("the embedder's failure: %v", err)
	}
	if err := c.Set(ctx, "tagged", unit(60), "m1", 0, Tags(map[string]any{"topic": "x"})); err != nil {
		t.Fatal(err)
	}
	removed, err = c.SemanticInvalidate(ctx, Query{Vector: unit(60)}, -1, "m1", Filter(`.topic == "x"`))
	if err != nil || len(removed) != 1 || removed[0].Text != "tagged" {
		t.Fatalf("a filtered invalidation: %+v %v", removed, err)
	}
	removed, err = c.SemanticInvalidate(ctx, Query{Vector: unit(33)}, 0.99, "m1")
	if err != nil || len(removed) != 1 || removed[0].Text != "fruit prices" {
		t.Fatalf("vector query in one model: %+v %v", removed, err)
	}
	removed, err = c.SemanticInvalidate(ctx, Query{Vector: []float32{1, 0}}, 0.99, "")
	if err != nil || len(removed) != 1 || removed[0].Model != "m3" {
		t.Fatalf("a vector query applies to the sets of its dimension: %+v %v", removed, err)
	}
}

func TestMaxAgeTreatsOlderEntriesAsMisses(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	raw := redis.NewClient(&redis.Options{Addr: addr(port), DisableIdentity: true, Protocol: 2})
	defer raw.Close()
	old := float64(time.Now().Add(-100*time.Second).UnixMicro()) / 1e6
	attrs := fmt.Sprintf(`{"concept_type":"embedding_cache","source":"embedding_service","model":"m","cached_at":%f,"expires_at":null,"ttl_seconds":null}`, old)
	if err := raw.Do(ctx, "VADD", "emb:m", "FP32", EncodeEmbedding([]float32{1, 2}), "old", "SETATTR", attrs).Err(); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Get(ctx, "old", "m", MaxAge(50*time.Second)); err != nil || found {
		t.Fatalf("an entry of 100 s with max age 50 s: %v %v", found, err)
	}
	if _, found, err := c.Get(ctx, "old", "m", MaxAge(time.Hour)); err != nil || !found {
		t.Fatalf("an entry of 100 s with max age 1 h: %v %v", found, err)
	}
	if _, found, err := c.Get(ctx, "old", "m"); err != nil || !found {
		t.Fatalf("without max age: %v %v", found, err)
	}
	if s := c.Stats(); s.Hits != 2 || s.Misses != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestGetOrComputeComputesOncePerMissingEntryAcrossGoroutines(t *testing.T) {
	port := sutraServer(t)
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	var calls atomic.Int32
	release := make(chan struct{})
	compute := func(context.Context) ([]float32, error) {
		calls.Add(1)
		<-release
		return []float32{7, 8}, nil
	}
	var started, done sync.WaitGroup
	results := make([][]float32, 32)
	errs := make([]error, 32)
	for i := range results {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			results[i], errs[i] = c.GetOrCompute(ctx, "shared text", "m", compute)
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // lets the goroutines join the flight (the assertion holds either way)
	close(release)
	done.Wait()
	for i := range results {
		if errs[i] != nil || len(results[i]) != 2 || results[i][0] != 7 {
			t.Fatalf("caller %d: %v %v", i, results[i], errs[i])
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("compute ran %d times", calls.Load())
	}
	if v, found, _ := c.Get(ctx, "shared text", "m"); !found || v[1] != 8 {
		t.Fatal("the computed embedding was not cached")
	}
	boom := errors.New("boom")
	if _, err := c.GetOrCompute(ctx, "other", "m", func(context.Context) ([]float32, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("compute's error: %v", err)
	}

	// The first caller gives up: it gets its context's error, the flight goes on for others.
	var slowCalls atomic.Int32
	started2, release2 := make(chan struct{}), make(chan struct{})
	slow := func(ctx context.Context) ([]float32, error) {
		if slowCalls.Add(1) == 1 {
			close(started2)
		}
		<-release2
		return []float32{9, 9}, ctx.Err()
	}
	leaderCtx, cancel := context.WithCancel(ctx)
	leaderErr := make(chan error)
	go func() { _, err := c.GetOrCompute(leaderCtx, "slow", "m", slow); leaderErr <- err }()
	<-started2
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled caller: %v", err)
	}
	follower := make(chan []float32)
	go func() {
		v, err := c.GetOrCompute(ctx, "slow", "m", slow)
		if err != nil {
			t.Error(err)
		}
		follower <- v
	}()
	close(release2)
	if v := <-follower; len(v) != 2 || v[0] != 9 || slowCalls.Load() != 1 {
		t.Fatalf("the other caller: %v (compute ran %d times)", v, slowCalls.Load())
	}
}

func TestPasswordIsSentAndAMissingOneIsAFailure(t *testing.T) {
	port := sutraServer(t, "SUTRA_PASSWORD=s3cret")
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port), Password: "s3cret", Strict: true})
	if err := c.Set(ctx, "a", []float32{1}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Get(ctx, "a", "m"); err != nil || !found {
		t.Fatalf("%v %v", found, err)
	}
	anon := newTestClient(t, ClientOptions{Addr: addr(port), Strict: true})
	if _, _, err := anon.Get(ctx, "a", "m"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("without the password: %v", err)
	}
}

func TestAVectorOfAnotherDimensionThanTheServersIsBadInput(t *testing.T) {
	port := sutraServer(t, "VECTOR_DIMENSION=3")
	ctx := testCtx(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port)})
	err := c.Set(ctx, "a", []float32{1, 0}, "fresh-model", 0)
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "VECTOR_DIMENSION") || !strings.Contains(err.Error(), "got 2") {
		t.Fatalf("a 2-d vector on a VECTOR_DIMENSION=3 server: %v", err)
	}
	if err := c.Set(ctx, "a", []float32{1, 0, 0}, "fresh-model", 0); err != nil {
		t.Fatal(err)
	}
}
