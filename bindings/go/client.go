package sutracache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// EmbeddingKey is the cache key of (model, text): model + ":" + hex(sha256(text)), as the
// Python client derives it.
func EmbeddingKey(text, model string) string {
	sum := sha256.Sum256([]byte(text))
	return model + ":" + hex.EncodeToString(sum[:])
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

// Client talks to one cache shard over RESP (sutra-cache's port, or any Redis).
type Client struct {
	rdb        *redis.Client
	shard      string
	defaultTTL time.Duration
	hits       atomic.Uint64
	misses     atomic.Uint64
	backend    atomic.Pointer[string]
}

// NewClient connects lazily to host:port; defaultTTL (0 = none) applies to Set without a TTL.
func NewClient(host string, port int, defaultTTL time.Duration) *Client {
	addr := fmt.Sprintf("%s:%d", host, port)
	return &Client{
		rdb:        redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, Protocol: 2}),
		shard:      addr,
		defaultTTL: defaultTTL,
	}
}

// Get is the cached embedding of text under model; found is false on a miss.
func (c *Client) Get(ctx context.Context, text, model string) ([]float32, bool, error) {
	raw, err := c.rdb.Get(ctx, EmbeddingKey(text, model)).Bytes()
	if errors.Is(err, redis.Nil) {
		c.misses.Add(1)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	c.hits.Add(1)
	v, err := DecodeEmbedding(raw)
	return v, err == nil, err
}

// Set caches an embedding; ttl 0 uses the client's default TTL (none if that is 0).
func (c *Client) Set(ctx context.Context, text string, embedding []float32, model string, ttl time.Duration) error {
	if ttl == 0 {
		ttl = c.defaultTTL
	}
	return c.rdb.Set(ctx, EmbeddingKey(text, model), EncodeEmbedding(embedding), ttl).Err()
}

// Clear empties the shard (FLUSHDB) and resets the counters.
func (c *Client) Clear(ctx context.Context) error {
	if err := c.rdb.FlushDB(ctx).Err(); err != nil {
		return err
	}
	c.hits.Store(0)
	c.misses.Store(0)
	return nil
}

// ClientStats are the seed's statistics of a client.
type ClientStats struct {
	Hits          uint64  `json:"hits"`
	Misses        uint64  `json:"misses"`
	TotalRequests uint64  `json:"total_requests"`
	HitRate       float64 `json:"hit_rate"`
	Backend       string  `json:"backend"`
	Shard         string  `json:"shard"`
}

// Stats counts this client's lookups and names the backend ("sutra-cache" or "redis").
func (c *Client) Stats(ctx context.Context) (ClientStats, error) {
	backend := c.backend.Load()
	if backend == nil {
		info, err := c.rdb.Info(ctx, "server").Result()
		if err != nil {
			return ClientStats{}, err
		}
		b := "redis"
		if strings.Contains(info, "\nsutra") || strings.HasPrefix(info, "sutra") {
			b = "sutra-cache"
		}
		backend = &b
		c.backend.Store(backend)
	}
	h, m := c.hits.Load(), c.misses.Load()
	s := ClientStats{Hits: h, Misses: m, TotalRequests: h + m, Backend: *backend, Shard: c.shard}
	if h+m > 0 {
		s.HitRate = float64(h) / float64(h+m)
	}
	return s, nil
}

// Close closes the connections.
func (c *Client) Close() error { return c.rdb.Close() }
