package sutracache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// The seed client's defaults (../shared/seed/embedding-service-scaling.md).
const (
	DefaultAddr       = "storage-cache-shard:50051"
	DefaultNamespace  = "emb:"
	DefaultTTL        = 24 * time.Hour
	DefaultTimeout    = time.Second
	DefaultSource     = "embedding_service"
	DefaultModel      = "default"
	maxPlainNameBytes = 256
	hashedPrefix      = "sha256:"
)

// NoTTL, given as a TTL to Set or as ClientOptions.DefaultTTL, stores an entry that never
// expires (it is still evicted under the server's caps).
const NoTTL time.Duration = -1

// ErrBadInput is wrapped by every error about the caller's input (a wrong dimension, a NaN,
// a threshold outside [-1, 1], …). Such errors are returned even when the client is not
// strict.
var ErrBadInput = errors.New("sutracache: bad input")

// ErrNoEmbedder is wrapped by the error of a text query whose text is not cached in the
// model's set when the client has no Embedder to compute its vector.
var ErrNoEmbedder = errors.New("sutracache: the query text is not cached and no embedder is configured")

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadInput, fmt.Sprintf(format, args...))
}

// ElementName is the element an entry of text is stored under in its model's vector set:
// the text itself when its UTF-8 form is at most 256 bytes and does not start with
// "sha256:", otherwise "sha256:" + hex(sha256(text)) (the text is then kept in the entry's
// "text" attribute). The Python client uses the same rule.
func ElementName(text string) string {
	if len(text) <= maxPlainNameBytes && !strings.HasPrefix(text, hashedPrefix) {
		return text
	}
	sum := sha256.Sum256([]byte(text))
	return hashedPrefix + hex.EncodeToString(sum[:])
}

// EncodeEmbedding is the little-endian float32 bytes of an embedding.
func EncodeEmbedding(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// DecodeEmbedding reads little-endian float32 bytes.
func DecodeEmbedding(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("sutracache: an embedding of %d bytes is not float32s", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// Embedder computes the embedding of a text for a model; a client uses it for text queries
// (FindSimilar, SemanticInvalidate) whose text is not cached.
type Embedder func(ctx context.Context, text, model string) ([]float32, error)

// ClientOptions configure a Client. The zero value is the seed's client: shard
// "storage-cache-shard:50051", 24 h TTL, namespace "emb:", 1 s socket timeout, failures
// logged and degraded to misses.
type ClientOptions struct {
	// Addr is the shard's host:port (DefaultAddr when empty and no URL).
	Addr string
	// URL, instead of Addr, names the shard as Redis clients do:
	// redis://[[user]:password@]host:port[/db], or rediss://… for TLS. Password and TLS,
	// when set, win over the URL's; its query options are not used (Timeout is).
	URL string
	// Password is sent with AUTH (the server's --requirepass / SUTRA_PASSWORD).
	Password string
	// TLS, when not nil, connects over TLS with this configuration.
	TLS *tls.Config
	// DefaultTTL applies to Set calls without a TTL: 0 means DefaultTTL (24 h), NoTTL none.
	DefaultTTL time.Duration
	// Namespace prefixes the vector-set keys (DefaultNamespace "emb:" when empty): the
	// entries of model m live in the set Namespace+m.
	Namespace string
	// Source is the entries' "source" attribute (DefaultSource when empty).
	Source string
	// Strict returns shard failures as errors instead of degrading them (a failed Get is
	// then an error, not a miss; a failed Set an error, not a warning).
	Strict bool
	// Logger receives the warnings of degraded failures (slog.Default() when nil).
	Logger *slog.Logger
	// Timeout bounds dialing, each read and each write (DefaultTimeout, 1 s, when 0).
	Timeout time.Duration
	// Embedder computes vectors for text queries whose text is not cached (optional).
	Embedder Embedder
	// Redis is an existing go-redis client to use instead of dialing Addr (Addr, Password,
	// TLS and Timeout are then ignored; Close leaves it open).
	Redis *redis.Client
	// StartupNodes, instead of Addr, URL and Redis, are host:port addresses of nodes of a
	// sutra-cache cluster (--cluster-mode yes or emulated): the client talks through
	// go-redis's ClusterClient, so each entry's commands go to the node of its key's slot.
	StartupNodes []string
	// Parts splits each model's entries over this many hash-tagged sets of the cluster (0
	// or 1: one set; at most MaxParts; needs StartupNodes). FindSimilar and
	// SemanticInvalidate then query every part at once and merge. PartKeys and PartOf give
	// the layout; the number is recorded on the cluster and a client with another is refused.
	Parts int
}

// Client is the seed's cache client of one shard: each model's embeddings are elements of
// one vector set on the shard (see docs/bindings.md for the entry format shared with the
// Python client). It is safe for concurrent use.
type Client struct {
	rdb       redis.UniversalClient
	single    *redis.Client        // nil on a cluster
	cluster   *redis.ClusterClient // nil on one shard
	parts     int
	partKeys  sync.Map // model -> []string
	layouts   sync.Map // model -> nil (checked) or the refusal
	ownsRDB   bool
	addr      string
	username  string
	db        int
	password  string
	tls       *tls.Config
	timeout   time.Duration
	ns        string
	source    string
	ttl       time.Duration
	strict    bool
	log       *slog.Logger
	embedder  Embedder
	flights   singleflight.Group
	hits      atomic.Uint64
	misses    atomic.Uint64
	errs      atomic.Uint64
	closeOnce atomic.Bool
}

// NewClient makes a client; connections are opened on first use, so a shard that is down
// gives misses (or errors when Strict), not a failed constructor.
func NewClient(opts ClientOptions) (*Client, error) {
	c := &Client{
		addr: opts.Addr, password: opts.Password, tls: opts.TLS, timeout: opts.Timeout,
		ns: opts.Namespace, source: opts.Source, ttl: opts.DefaultTTL, strict: opts.Strict,
		log: opts.Logger, embedder: opts.Embedder,
	}
	c.parts = max(opts.Parts, 1)
	if opts.Parts < 0 || opts.Parts > MaxParts {
		return nil, badInput("ClientOptions.Parts must be in [0, %d], got %d", MaxParts, opts.Parts)
	}
	if c.parts > 1 && len(opts.StartupNodes) == 0 {
		return nil, badInput("ClientOptions.Parts %d splits a model over a cluster's nodes: it needs StartupNodes", opts.Parts)
	}
	if c.parts > 1 {
		if _, err := PartKeys(c.nsOrDefault(opts.Namespace), "m", 2); err != nil {
			return nil, err
		}
	}
	if len(opts.StartupNodes) > 0 {
		if opts.Addr != "" || opts.URL != "" || opts.Redis != nil {
			return nil, badInput("ClientOptions: give one of StartupNodes, Addr, URL and Redis")
		}
		if err := checkNodes(opts.StartupNodes); err != nil {
			return nil, err
		}
		c.addr = strings.Join(opts.StartupNodes, ",")
	}
	if opts.URL != "" {
		if opts.Addr != "" || opts.Redis != nil {
			return nil, badInput("ClientOptions: give one of Addr, URL and Redis, got URL %q with another", opts.URL)
		}
		u, err := redis.ParseURL(opts.URL)
		if err != nil {
			return nil, badInput("ClientOptions.URL %q is not redis://[[user]:password@]host:port[/db] or rediss://…: %v", opts.URL, err)
		}
		c.addr, c.username, c.db = u.Addr, u.Username, u.DB
		if c.password == "" {
			c.password = u.Password
		}
		if c.tls == nil {
			c.tls = u.TLSConfig
		}
	}
	if c.addr == "" {
		c.addr = DefaultAddr
	}
	if c.ns == "" {
		c.ns = DefaultNamespace
	}
	if c.source == "" {
		c.source = DefaultSource
	}
	if c.ttl == 0 {
		c.ttl = DefaultTTL
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.timeout < 0 {
		return nil, badInput("ClientOptions.Timeout must be positive, got %v", opts.Timeout)
	}
	if c.ttl < 0 && c.ttl != NoTTL {
		return nil, badInput("ClientOptions.DefaultTTL must be positive, 0 (24 h) or NoTTL, got %v", opts.DefaultTTL)
	}
	if opts.Redis != nil {
		c.rdb, c.single = opts.Redis, opts.Redis
		c.addr = opts.Redis.Options().Addr
		return c, nil
	}
	if len(opts.StartupNodes) > 0 {
		c.cluster = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: opts.StartupNodes, Password: c.password, TLSConfig: c.tls,
			DialTimeout: c.timeout, ReadTimeout: c.timeout, WriteTimeout: c.timeout,
			Protocol: 2, DisableIdentity: true, MaxRetries: 1, DialerRetries: 1,
		})
		c.rdb, c.ownsRDB = c.cluster, true
		return c, nil
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return nil, badInput("ClientOptions.Addr %q is not host:port: %v", c.addr, err)
	}
	c.single = redis.NewClient(&redis.Options{
		Addr: c.addr, Username: c.username, Password: c.password, DB: c.db, TLSConfig: c.tls,
		DialTimeout: c.timeout, ReadTimeout: c.timeout, WriteTimeout: c.timeout,
		Protocol: 2, DisableIdentity: true, MaxRetries: 1, DialerRetries: 1,
	})
	c.rdb, c.ownsRDB = c.single, true
	return c, nil
}

func (c *Client) nsOrDefault(ns string) string {
	if ns == "" {
		return DefaultNamespace
	}
	return ns
}

// Close closes the client's connections (not those of a ClientOptions.Redis client).
func (c *Client) Close() error {
	if !c.ownsRDB || !c.closeOnce.CompareAndSwap(false, true) {
		return nil
	}
	return c.rdb.Close()
}

// Redis is the go-redis client the Client talks through (for commands of your own); nil
// for a client of a cluster (see Cluster).
func (c *Client) Redis() *redis.Client { return c.single }

// Cluster is the go-redis ClusterClient of a client made with StartupNodes (else nil).
func (c *Client) Cluster() *redis.ClusterClient { return c.cluster }

// Parts is the number of sets each model's entries are split over (1 unless
// ClientOptions.Parts says otherwise).
func (c *Client) Parts() int { return c.parts }

// SetKey is the vector-set key of a model's entries: namespace + model (model "" is
// DefaultModel, "default", as the seed's default argument). A model split into parts
// (ClientOptions.Parts) has one set per part instead: see PartKeys.
func (c *Client) SetKey(model string) string { return c.ns + modelOr(model) }

func modelOr(model string) string {
	if model == "" {
		return DefaultModel
	}
	return model
}

// Shard is the shard's host:port (a cluster's startup nodes, comma-separated).
func (c *Client) Shard() string { return c.addr }

// Namespace is the prefix of this client's set keys.
func (c *Client) Namespace() string { return c.ns }

// degrade logs and counts a failure of the shard; a strict client returns it instead.
func (c *Client) degrade(op string, err error) error {
	c.errs.Add(1)
	err = fmt.Errorf("sutracache: %s on shard %s: %w", op, c.addr, err)
	if c.strict {
		return err
	}
	c.log.Warn("sutra cache failure (non-critical)", "op", op, "shard", c.addr, "err", err)
	return nil
}

// GetOption modifies one read.
type GetOption func(*getOptions)

type getOptions struct {
	maxAge time.Duration
}

// MaxAge makes a read treat an entry cached more than d ago as a miss (the seed's
// freshness rule: an entry older than the caller tolerates is recomputed).
func MaxAge(d time.Duration) GetOption { return func(o *getOptions) { o.maxAge = d } }

func readOptions(opts []GetOption) (getOptions, error) {
	var o getOptions
	for _, f := range opts {
		f(&o)
	}
	if o.maxAge < 0 {
		return o, badInput("MaxAge must not be negative, got %v", o.maxAge)
	}
	return o, nil
}

// entry is one L2 read: the vector, when it was cached, and its remaining lifetime.
type entry struct {
	vec      []float32
	cachedAt float64       // unix seconds; 0 when unknown
	ttl      time.Duration // remaining; NoTTL without expiry
}

// fetch reads an entry; withMeta also reads its cached_at and remaining TTL in the same
// round trip.
func (c *Client) fetch(ctx context.Context, text, model string, withMeta bool) (entry, bool, error) {
	name := ElementName(text)
	set, err := c.entryKey(model, name)
	if err != nil {
		return entry{}, false, err
	}
	if err := c.checkLayout(ctx, model); err != nil {
		return entry{}, false, err
	}
	if !withMeta {
		raw, err := c.rdb.Do(ctx, "VGETF32", set, name).Text()
		if errors.Is(err, redis.Nil) {
			return entry{}, false, nil
		}
		if err != nil {
			return entry{}, false, err
		}
		v, err := DecodeEmbedding([]byte(raw))
		return entry{vec: v}, err == nil, err
	}
	pipe := c.rdb.Pipeline()
	vec := pipe.Do(ctx, "VGETF32", set, name)
	attr := pipe.Do(ctx, "VGETATTR", set, name)
	pttl := pipe.Do(ctx, "VPTTL", set, name)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return entry{}, false, err
	}
	raw, err := vec.Text()
	if errors.Is(err, redis.Nil) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, err
	}
	e := entry{ttl: NoTTL}
	if e.vec, err = DecodeEmbedding([]byte(raw)); err != nil {
		return entry{}, false, err
	}
	if js, err := attr.Text(); err == nil {
		var a struct {
			CachedAt float64 `json:"cached_at"`
		}
		if json.Unmarshal([]byte(js), &a) == nil {
			e.cachedAt = a.CachedAt
		}
	}
	if ms, err := pttl.Int64(); err == nil {
		switch {
		case ms >= 0:
			e.ttl = time.Duration(ms) * time.Millisecond
		case ms == -2: // expired between the reads
			return entry{}, false, nil
		}
	}
	return e, true, nil
}

func tooOld(cachedAt float64, maxAge time.Duration, now time.Time) bool {
	if maxAge == 0 {
		return false
	}
	if cachedAt == 0 {
		return true // age unknown: not provably fresh enough
	}
	return unixSeconds(now)-cachedAt > maxAge.Seconds()
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// Get is the cached embedding of text under model (found false on a miss). A shard that
// cannot be reached is a miss with a logged warning (an error when Strict). With MaxAge(d),
// an entry cached more than d ago is a miss.
func (c *Client) Get(ctx context.Context, text, model string, opts ...GetOption) ([]float32, bool, error) {
	o, err := readOptions(opts)
	if err != nil {
		return nil, false, err
	}
	e, found, err := c.get(ctx, text, model, o, false)
	return e.vec, found, err
}

func (c *Client) get(ctx context.Context, text, model string, o getOptions, withMeta bool) (entry, bool, error) {
	e, found, err := c.fetch(ctx, text, model, withMeta || o.maxAge > 0)
	if isLayoutError(err) {
		return entry{}, false, err
	}
	if err != nil {
		c.misses.Add(1)
		return entry{}, false, c.degrade("get", err)
	}
	if !found || tooOld(e.cachedAt, o.maxAge, time.Now()) {
		c.misses.Add(1)
		return entry{}, false, nil
	}
	c.hits.Add(1)
	return e, true, nil
}

// SetOption modifies one write.
type SetOption func(*setOptions)

type setOptions struct {
	tags   map[string]any
	source string
}

// Tags adds caller attributes to the entry (e.g. {"topic": "finance"}): flat JSON values
// (string, number, bool or nil), names other than the entry format's own.
func Tags(tags map[string]any) SetOption { return func(o *setOptions) { o.tags = tags } }

// Source sets the entry's "source" attribute for this write.
func Source(source string) SetOption { return func(o *setOptions) { o.source = source } }

var reservedAttrs = map[string]bool{
	"concept_type": true, "source": true, "model": true, "cached_at": true,
	"expires_at": true, "ttl_seconds": true, "text": true,
}

func checkVector(what string, v []float32) error {
	if len(v) == 0 {
		return badInput("%s is empty", what)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return badInput("%s[%d] is %v: embeddings must be finite", what, i, x)
		}
	}
	return nil
}

// attributes is the entry's JSON (the format of docs/bindings.md: compact, keys in that
// order, caller tags last in name order, no HTML escaping; as the Python client writes it).
func attributes(text, model, source string, now time.Time, ttlSeconds int64, tags map[string]any) ([]byte, error) {
	var b bytes.Buffer
	var scratch bytes.Buffer
	enc := json.NewEncoder(&scratch)
	enc.SetEscapeHTML(false) // as Python's json.dumps: "<" stays "<"
	marshal := func(v any) ([]byte, error) {
		scratch.Reset()
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(scratch.Bytes(), []byte("\n")), nil
	}
	put := func(k string, v any) error {
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		kj, _ := marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		js, err := marshal(v)
		if err != nil {
			return badInput("attribute %q: %v", k, err)
		}
		b.Write(js)
		return nil
	}
	cachedAt := unixSeconds(now)
	var expiresAt, ttl any
	if ttlSeconds > 0 {
		expiresAt, ttl = cachedAt+float64(ttlSeconds), ttlSeconds
	}
	_ = put("concept_type", "embedding_cache")
	_ = put("source", source)
	_ = put("model", model)
	_ = put("cached_at", cachedAt)
	_ = put("expires_at", expiresAt)
	_ = put("ttl_seconds", ttl)
	if ElementName(text) != text {
		_ = put("text", text)
	}
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if reservedAttrs[k] {
			return nil, badInput("tag %q is one of the entry format's own attributes", k)
		}
		switch v := tags[k].(type) {
		case nil, string, bool, float64, float32, int, int8, int16, int32, int64,
			uint, uint8, uint16, uint32, uint64, json.Number:
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return nil, badInput("tag %q is %v: JSON has no such number", k, f)
			}
		default:
			return nil, badInput("tag %q is a %T: tags are flat JSON values (string, number, bool, nil)", k, v)
		}
		if err := put(k, tags[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ttlSeconds resolves a Set TTL (0: the client's default, NoTTL: none) to whole seconds,
// rounded up; 0 means no expiry.
func (c *Client) ttlSeconds(ttl time.Duration) (int64, error) {
	if ttl == 0 {
		ttl = c.ttl
	}
	if ttl == NoTTL {
		return 0, nil
	}
	if ttl < 0 {
		return 0, badInput("ttl must be positive, 0 (the client's default) or NoTTL, got %v", ttl)
	}
	return int64((ttl + time.Second - 1) / time.Second), nil
}

// isDimensionError says whether the shard refused a vector for its dimension (bad input,
// returned even when the client is not strict).
func isDimensionError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(strings.ToLower(re.Error()), "dimension")
}

// Set caches embedding as text's entry under model for ttl (0: the client's default TTL,
// NoTTL: no expiry; whole seconds, rounded up). A shard that cannot be reached is a logged
// warning (an error when Strict); an embedding that is empty, holds NaN or ±Inf, or whose
// length differs from the model set's dimension is always an error.
func (c *Client) Set(ctx context.Context, text string, embedding []float32, model string, ttl time.Duration, opts ...SetOption) error {
	return c.set(ctx, text, embedding, model, ttl, opts)
}

func (c *Client) set(ctx context.Context, text string, embedding []float32, model string, ttl time.Duration, opts []SetOption) error {
	args, err := c.setArgs(text, embedding, model, ttl, opts)
	if err != nil {
		return err
	}
	if err := c.checkLayout(ctx, model); err != nil {
		if isLayoutError(err) {
			return err
		}
		return c.degrade("set", err)
	}
	return c.setResult(c.rdb.Do(ctx, args...).Err(), embedding, model)
}

// setArgs checks a write and builds its VADD.
func (c *Client) setArgs(text string, embedding []float32, model string, ttl time.Duration, opts []SetOption) ([]any, error) {
	if err := checkVector("embedding", embedding); err != nil {
		return nil, err
	}
	secs, err := c.ttlSeconds(ttl)
	if err != nil {
		return nil, err
	}
	o := setOptions{source: c.source}
	for _, f := range opts {
		f(&o)
	}
	model = modelOr(model)
	attrs, err := attributes(text, model, o.source, time.Now(), secs, o.tags)
	if err != nil {
		return nil, err
	}
	key, err := c.entryKey(model, ElementName(text))
	if err != nil {
		return nil, err
	}
	args := []any{"VADD", key, "FP32", EncodeEmbedding(embedding), ElementName(text), "SETATTR", attrs}
	if secs > 0 {
		args = append(args, "EX", secs)
	}
	return args, nil
}

// ttlOf is the TTL a VADD built by setArgs gives (0: none).
func ttlOf(args []any) time.Duration {
	if n := len(args); n >= 2 && args[n-2] == "EX" {
		return time.Duration(args[n-1].(int64)) * time.Second
	}
	return 0
}

// setResult turns a VADD's failure into the caller's error: a dimension the shard refuses
// is bad input; anything else is degraded (or returned when Strict).
func (c *Client) setResult(err error, embedding []float32, model string) error {
	if err == nil {
		return nil
	}
	if isDimensionError(err) {
		return fmt.Errorf("%w: embedding of %d values for model %q: %v", ErrBadInput, len(embedding), modelOr(model), err)
	}
	return c.degrade("set", err)
}

// Models are the models with entries in this client's namespace (one vector set each).
func (c *Client) Models(ctx context.Context) ([]string, error) {
	models, err := c.models(ctx)
	if err != nil {
		return nil, fmt.Errorf("sutracache: listing the sets of %q on shard %s: %w", c.ns, c.addr, err)
	}
	return models, nil
}

func (c *Client) models(ctx context.Context) ([]string, error) {
	keys, err := c.setKeys(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var models []string
	for _, k := range keys {
		if m := c.modelOf(k); !seen[m] {
			seen[m] = true
			models = append(models, m)
		}
	}
	sort.Strings(models)
	return models, nil
}

// setKeys are the namespace's vector sets (SCAN … TYPE vectorset on every master of a
// cluster).
func (c *Client) setKeys(ctx context.Context) ([]string, error) {
	pattern := globEscape(c.ns) + "*"
	scan := func(ctx context.Context, rdb *redis.Client) ([]string, error) {
		var keys []string
		iter := rdb.ScanType(ctx, 0, pattern, 1000, "vectorset").Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return keys, iter.Err()
	}
	if c.cluster == nil {
		return scan(ctx, c.single)
	}
	var mu sync.Mutex
	var keys []string
	err := c.cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		got, err := scan(ctx, node)
		mu.Lock()
		keys = append(keys, got...)
		mu.Unlock()
		return err
	})
	return keys, err
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Clear removes this client's entries: every vector set of its namespace (other keys on the
// shard are left alone), and returns how many model sets it removed. A failure of the shard
// is logged and counted (0 removed), or returned when Strict.
func (c *Client) Clear(ctx context.Context) (int, error) {
	keys, err := c.setKeys(ctx)
	if err != nil {
		return 0, c.degrade("clear", err)
	}
	removed := map[string]bool{}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if c.cluster == nil {
			err = c.rdb.Unlink(ctx, keys[:n]...).Err()
		} else { // keys of several slots: one UNLINK each, routed by slot
			_, err = c.cluster.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys[:n] {
					p.Unlink(ctx, k)
				}
				return nil
			})
		}
		if err != nil {
			return len(removed), c.degrade("clear", err)
		}
		for _, k := range keys[:n] {
			removed[c.modelOf(k)] = true
		}
		keys = keys[n:]
	}
	return len(removed), nil
}

// ClientStats are the seed's statistics of a client, plus the failures it degraded.
type ClientStats struct {
	Hits          uint64  `json:"hits"`
	Misses        uint64  `json:"misses"`
	TotalRequests uint64  `json:"total_requests"`
	HitRate       float64 `json:"hit_rate"`
	Backend       string  `json:"backend"`
	Shard         string  `json:"shard"`
	Errors        uint64  `json:"errors"`
}

// Stats counts this client's lookups (Get, and the lookups of GetOrCompute).
func (c *Client) Stats() ClientStats {
	h, m := c.hits.Load(), c.misses.Load()
	s := ClientStats{Hits: h, Misses: m, TotalRequests: h + m, Backend: "sutra_storage",
		Shard: c.addr, Errors: c.errs.Load()}
	if h+m > 0 {
		s.HitRate = float64(h) / float64(h+m)
	}
	return s
}

// GetOrCompute is the cached embedding of text under model, or compute's result, which is
// then cached with the client's default TTL. Concurrent calls for the same entry in this
// process share one lookup and one compute call (single flight; a caller whose ctx ends
// stops waiting while the others still get the result). compute's error is returned as is;
// cache failures follow Get and Set.
func (c *Client) GetOrCompute(ctx context.Context, text, model string, compute func(ctx context.Context) ([]float32, error), opts ...GetOption) ([]float32, error) {
	o, err := readOptions(opts)
	if err != nil {
		return nil, err
	}
	return singleFlight(ctx, &c.flights, c.SetKey(model)+"\x00"+ElementName(text), func(ctx context.Context) ([]float32, error) {
		e, found, err := c.get(ctx, text, model, o, false)
		if err != nil || found {
			return e.vec, err
		}
		v, err := compute(ctx)
		if err != nil {
			return nil, err
		}
		return v, c.Set(ctx, text, v, model, 0)
	})
}

// singleFlight runs f once per key at a time; a caller whose ctx ends stops waiting (the
// flight goes on for the others: f gets a context without the first caller's cancellation).
func singleFlight(ctx context.Context, g *singleflight.Group, key string, f func(ctx context.Context) ([]float32, error)) ([]float32, error) {
	flightCtx := context.WithoutCancel(ctx)
	ch := g.DoChan(key, func() (any, error) { return f(flightCtx) })
	select {
	case r := <-ch:
		v, _ := r.Val.([]float32)
		return v, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Query is the query of FindSimilar and SemanticInvalidate: a Text (that text's cached
// embedding in the model's set, else the client's Embedder) or a Vector. Exactly one is
// set.
type Query struct {
	Text   string
	Vector []float32
}

func (q Query) check() error {
	if (q.Text == "") == (q.Vector == nil) {
		return badInput("a Query has exactly one of Text and Vector")
	}
	if q.Vector != nil {
		return checkVector("query vector", q.Vector)
	}
	return nil
}

// Match is one entry found or removed by a similarity query.
type Match struct {
	Model   string
	Element string // the element name in the model's set
	// Text is the entry's text (the element name, or the "text" attribute of a hashed name;
	// empty for a removed hashed entry, whose attributes are gone).
	Text       string
	Similarity float64        // cosine similarity to the query, in [-1, 1]
	Attributes map[string]any // FindSimilar only
}

// scoreOf maps a cosine similarity threshold to VSIM's score (1 + cos) / 2.
func scoreOf(cos float64) float64 { return (1 + cos) / 2 }

func checkThreshold(what string, t float64) error {
	if math.IsNaN(t) || t < -1 || t > 1 {
		return badInput("%s is a cosine similarity in [-1, 1], got %v", what, t)
	}
	return nil
}

// queryArgs is the query part of VSIM/VINVALIDATE for one set: ELE when q is a text cached
// there (as decided by the caller), FP32 otherwise.
func vectorArgs(v []float32) []any { return []any{"FP32", EncodeEmbedding(v)} }

func isElementMissing(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), "element not found")
}

// embed computes a text query's vector with the Embedder, or says which is missing.
func (c *Client) embed(ctx context.Context, text, model string) ([]float32, error) {
	if c.embedder == nil {
		return nil, fmt.Errorf("%w (text %q, model %q): set ClientOptions.Embedder or query with a vector", ErrNoEmbedder, text, model)
	}
	v, err := c.embedder(ctx, text, model)
	if err != nil {
		return nil, fmt.Errorf("sutracache: the embedder failed for %q (model %q): %w", text, model, err)
	}
	if err := checkVector("the embedder's vector", v); err != nil {
		return nil, err
	}
	return v, nil
}

// QueryOption modifies a FindSimilar or SemanticInvalidate call.
type QueryOption func(*queryOpts)

type queryOpts struct {
	filter string
	ef     int
}

// Filter keeps only entries whose attributes pass a VSIM FILTER expression, e.g.
// `.topic == "finance"` (docs/commands.md describes the language).
func Filter(expr string) QueryOption { return func(o *queryOpts) { o.filter = expr } }

// EF sets FindSimilar's search breadth (VSIM's EF: the candidate list of the graph walk;
// the server's default when unset). A split model's parts are each searched with it.
func EF(n int) QueryOption { return func(o *queryOpts) { o.ef = n } }

func queryOptions(opts []QueryOption) queryOpts {
	var o queryOpts
	for _, f := range opts {
		f(&o)
	}
	return o
}

// isFilterError says whether the shard refused a FILTER expression (bad input).
func isFilterError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), "FILTER")
}

// fanOut runs one command per part at once (a goroutine each), replies in part order; the
// first error, if any.
func (c *Client) fanOut(ctx context.Context, keys []string, args func(key string) []any) ([][]any, error) {
	replies := make([][]any, len(keys))
	errs := make([]error, len(keys))
	if len(keys) == 1 {
		replies[0], errs[0] = c.rdb.Do(ctx, args(keys[0])...).Slice()
		return replies, errs[0]
	}
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = c.rdb.Do(ctx, args(key)...).Slice()
		}()
	}
	wg.Wait()
	return replies, errors.Join(errs...)
}

// queryVector is a split model's query as FP32 bytes: the Vector, or the Text's cached
// vector (read from the part holding it), else the Embedder's.
func (c *Client) queryVector(ctx context.Context, q Query, model string, keys []string) ([]any, error) {
	if q.Vector != nil {
		return vectorArgs(q.Vector), nil
	}
	name := ElementName(q.Text)
	raw, err := c.rdb.Do(ctx, "VGETF32", keys[PartOf(name, len(keys))], name).Text()
	if err == nil {
		return []any{"FP32", []byte(raw)}, nil
	}
	if !errors.Is(err, redis.Nil) {
		return nil, err
	}
	v, err := c.embed(ctx, q.Text, model)
	if err != nil {
		return nil, err
	}
	return vectorArgs(v), nil
}

// FindSimilar is up to k entries of model most similar to q with cosine similarity at least
// minSimilarity, best first. A Text query uses that text's cached embedding (else the
// Embedder). Filter(expr) keeps entries whose attributes pass it; EF(n) sets the search
// breadth. A model split into parts is searched in every part at once and the k best of all
// kept. Shard failures degrade to no matches (an error when Strict).
func (c *Client) FindSimilar(ctx context.Context, q Query, model string, k int, minSimilarity float64, opts ...QueryOption) ([]Match, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, badInput("k must be positive, got %d", k)
	}
	if err := checkThreshold("minSimilarity", minSimilarity); err != nil {
		return nil, err
	}
	qo := queryOptions(opts)
	if qo.ef < 0 {
		return nil, badInput("EF must be positive, got %d", qo.ef)
	}
	model = modelOr(model)
	keys, err := c.keys(model)
	if err != nil {
		return nil, err
	}
	if err := c.checkLayout(ctx, model); err != nil {
		if isLayoutError(err) {
			return nil, err
		}
		return nil, c.degrade("find_similar", err)
	}
	eps := strconv.FormatFloat(max(1-scoreOf(minSimilarity), 0), 'g', -1, 64)
	cmd := func(query []any) func(key string) []any {
		return func(key string) []any {
			args := append([]any{"VSIM", key}, query...)
			args = append(args, "COUNT", k, "WITHSCORES", "WITHATTRIBS", "EPSILON", eps)
			if qo.ef > 0 {
				args = append(args, "EF", qo.ef)
			}
			if qo.filter != "" {
				args = append(args, "FILTER", qo.filter)
			}
			return args
		}
	}
	var replies [][]any
	switch {
	case len(keys) > 1:
		var query []any
		if query, err = c.queryVector(ctx, q, model, keys); err == nil {
			replies, err = c.fanOut(ctx, keys, cmd(query))
		}
	case q.Vector != nil:
		replies, err = c.fanOut(ctx, keys, cmd(vectorArgs(q.Vector)))
	default:
		replies, err = c.fanOut(ctx, keys, cmd([]any{"ELE", ElementName(q.Text)}))
		if isElementMissing(err) {
			var v []float32
			if v, err = c.embed(ctx, q.Text, model); err != nil {
				return nil, err
			}
			replies, err = c.fanOut(ctx, keys, cmd(vectorArgs(v)))
		}
	}
	if err != nil {
		if errors.Is(err, ErrNoEmbedder) || errors.Is(err, ErrBadInput) {
			return nil, err
		}
		if isDimensionError(err) || isFilterError(err) {
			return nil, fmt.Errorf("%w: query for model %q: %v", ErrBadInput, model, err)
		}
		return nil, c.degrade("find_similar", err)
	}
	var out []Match
	for _, reply := range replies {
		for i := 0; i+2 < len(reply); i += 3 {
			name, _ := reply[i].(string)
			score, err := strconv.ParseFloat(fmt.Sprint(reply[i+1]), 64)
			if err != nil {
				return nil, fmt.Errorf("sutracache: VSIM answered a score %v", reply[i+1])
			}
			m := Match{Model: model, Element: name, Text: name, Similarity: 2*score - 1}
			if js, ok := reply[i+2].(string); ok && js != "" {
				_ = json.Unmarshal([]byte(js), &m.Attributes)
			}
			if strings.HasPrefix(name, hashedPrefix) {
				m.Text, _ = m.Attributes["text"].(string)
			}
			if m.Similarity >= minSimilarity {
				out = append(out, m)
			}
		}
	}
	if len(replies) > 1 { // the k best of every part's k best
		sort.SliceStable(out, func(i, j int) bool {
			if out[i].Similarity != out[j].Similarity {
				return out[i].Similarity > out[j].Similarity
			}
			return out[i].Element < out[j].Element
		})
		out = out[:min(len(out), k)]
	}
	return out, nil
}

// SemanticInvalidate removes the entries whose cosine similarity to q is at least threshold
// (in [-1, 1]; the seed uses 0.85), in model's set or, with model "", in every set of the
// namespace, and returns them. A Text query uses that text's cached embedding in each set
// that holds it, else the Embedder; with neither, the error wraps ErrNoEmbedder. A Vector
// query applies to the sets of its dimension. A model split into parts is invalidated in
// every part at once. Filter(expr) narrows what is removed. A failure of the shard is logged
// and counted (returning what was removed before it), or returned when Strict.
func (c *Client) SemanticInvalidate(ctx context.Context, q Query, threshold float64, model string, opts ...QueryOption) ([]Match, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if err := checkThreshold("threshold", threshold); err != nil {
		return nil, err
	}
	models := []string{modelOr(model)}
	if model == "" {
		var err error
		if models, err = c.models(ctx); err != nil {
			return nil, c.degrade("semantic_invalidate", err)
		}
	}
	thr := strconv.FormatFloat(scoreOf(threshold), 'g', -1, 64)
	qo := queryOptions(opts)
	var out []Match
	applied := 0
	var missing error
	for _, m := range models {
		keys, err := c.keys(m)
		if err != nil {
			return out, err
		}
		if err := c.checkLayout(ctx, m); err != nil {
			if isLayoutError(err) {
				return out, err
			}
			return out, c.degrade("semantic_invalidate", err)
		}
		run := func(query []any) error {
			replies, err := c.fanOut(ctx, keys, func(key string) []any {
				args := append([]any{"VINVALIDATE", key}, query...)
				args = append(args, "THRESHOLD", thr, "WITHELEMENTS")
				if qo.filter != "" {
					args = append(args, "FILTER", qo.filter)
				}
				return args
			})
			for _, reply := range replies {
				for i := 0; i+1 < len(reply); i += 2 {
					name, _ := reply[i].(string)
					score, _ := strconv.ParseFloat(fmt.Sprint(reply[i+1]), 64)
					r := Match{Model: m, Element: name, Similarity: 2*score - 1}
					if !strings.HasPrefix(name, hashedPrefix) {
						r.Text = name
					}
					out = append(out, r)
				}
			}
			if err != nil {
				return err
			}
			applied++
			return nil
		}
		switch {
		case q.Vector != nil:
			err = run(vectorArgs(q.Vector))
			if isDimensionError(err) && model == "" {
				continue // a vector of another dimension is not meant for this model
			}
		case len(keys) > 1:
			var query []any
			query, err = c.queryVector(ctx, q, m, keys)
			if errors.Is(err, ErrNoEmbedder) && model == "" {
				missing = err
				continue // the text is not cached in this model's set
			}
			if errors.Is(err, ErrNoEmbedder) {
				return out, err
			}
			if err == nil {
				err = run(query)
			}
		default:
			err = run([]any{"ELE", ElementName(q.Text)})
			if isElementMissing(err) {
				v, embedErr := c.embed(ctx, q.Text, m)
				if errors.Is(embedErr, ErrNoEmbedder) && model == "" {
					missing = embedErr
					continue // the text is not cached in this model's set
				}
				if embedErr != nil {
					return out, embedErr
				}
				err = run(vectorArgs(v))
			}
		}
		if err != nil {
			if isDimensionError(err) || isFilterError(err) {
				return out, fmt.Errorf("%w: query for model %q: %v", ErrBadInput, m, err)
			}
			return out, c.degrade("semantic_invalidate", fmt.Errorf("in %q: %w", keys[0], err))
		}
	}
	if applied == 0 && len(models) > 0 {
		if missing != nil {
			return nil, missing
		}
		if q.Vector != nil {
			return nil, badInput("no set of namespace %q has dimension %d", c.ns, len(q.Vector))
		}
	}
	return out, nil
}
