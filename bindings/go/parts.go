package sutracache

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// One model's entries split over P hash-tagged parts of a cluster (docs/cluster.md, "One
// model on many nodes"); the Python client (sutra_cache/parts.py) follows the same rules:
//
//   - With P = 1 the model's set is namespace + model, as on a single node.
//   - With P > 1 part i is the set namespace + model + ":{" + model + ":" + i + "." + j + "}",
//     j the smallest integer >= 0 for which the key's hash slot lies in the i-th P-th of the
//     slot space, [i*16384/P, (i+1)*16384/P): after `sutra-cache cluster create` of P nodes
//     each part is on its own node.
//   - An entry of text t lives in part crc32(ElementName(t)) % P (IEEE CRC-32, as zlib's).
//   - P is recorded per model in the hash "sutra-cache:parts:" + namespace by the first
//     client that uses the model; a client made with another P is refused (ErrBadInput).

const (
	clusterSlots = 16384
	// MaxParts is the largest ClientOptions.Parts.
	MaxParts = 1024
	// LayoutPrefix + namespace is the hash recording each model's number of parts.
	LayoutPrefix = "sutra-cache:parts:"
)

// crc16 is Redis Cluster's CRC16 (XMODEM: polynomial 0x1021, initial value 0).
func crc16(b []byte) uint16 {
	var crc uint16
	for _, x := range b {
		crc ^= uint16(x) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// KeySlot is a key's Redis Cluster hash slot: CRC16 of its {hash tag} when it has a
// non-empty one, else of the whole key, modulo 16384.
func KeySlot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16([]byte(key))) % clusterSlots
}

// PartKeys are the set keys of a model's parts (part 0 first) under namespace ns.
func PartKeys(ns, model string, parts int) ([]string, error) {
	if parts < 1 || parts > MaxParts {
		return nil, badInput("parts must be in [1, %d], got %d", MaxParts, parts)
	}
	if parts == 1 {
		return []string{ns + model}, nil
	}
	for _, s := range [][2]string{{"namespace", ns}, {"model", model}} {
		if strings.ContainsAny(s[1], "{}") {
			return nil, badInput("a %s split into parts cannot contain '{' or '}' (it would change the parts' hash tags), got %q", s[0], s[1])
		}
	}
	keys := make([]string, parts)
	for i := range keys {
		lo, hi := i*clusterSlots/parts, (i+1)*clusterSlots/parts
		for j := 0; ; j++ {
			k := ns + model + ":{" + model + ":" + strconv.Itoa(i) + "." + strconv.Itoa(j) + "}"
			if s := KeySlot(k); s >= lo && s < hi {
				keys[i] = k
				break
			}
		}
	}
	return keys, nil
}

// PartOf is the part holding the entry whose element name is element.
func PartOf(element string, parts int) int {
	if parts <= 1 {
		return 0
	}
	return int(crc32.ChecksumIEEE([]byte(element)) % uint32(parts))
}

// partKeyRE matches a part's key after the namespace: <model>:{<model>:<i>.<j>}.
var partKeyRE = regexp.MustCompile(`^([^{}]*):\{([^{}]*):[0-9]+\.[0-9]+\}$`)

// modelOf is the model of a set key of the namespace.
func (c *Client) modelOf(key string) string {
	rest := strings.TrimPrefix(key, c.ns)
	if m := partKeyRE.FindStringSubmatch(rest); m != nil && m[1] == m[2] {
		return m[1]
	}
	return rest
}

func checkNodes(nodes []string) error {
	for _, n := range nodes {
		if _, p, err := net.SplitHostPort(n); err != nil {
			return badInput("ClientOptions.StartupNodes: %q is not host:port: %v", n, err)
		} else if port, err := strconv.Atoi(p); err != nil || port <= 0 || port > 65535 {
			return badInput("ClientOptions.StartupNodes: %q has no port in [1, 65535]", n)
		}
	}
	return nil
}

// keys are the set keys of model (one, or one per part), computed once.
func (c *Client) keys(model string) ([]string, error) {
	model = modelOr(model)
	if v, ok := c.partKeys.Load(model); ok {
		return v.([]string), nil
	}
	keys, err := PartKeys(c.ns, model, c.parts)
	if err != nil {
		return nil, err
	}
	c.partKeys.Store(model, keys)
	return keys, nil
}

// entryKey is the set holding text's entry of model (its part's, for a split model).
func (c *Client) entryKey(model, element string) (string, error) {
	keys, err := c.keys(model)
	if err != nil {
		return "", err
	}
	return keys[PartOf(element, len(keys))], nil
}

// checkLayout records this client's number of parts for model on a cluster when none is,
// and refuses a model recorded with another number (clients that disagreed would look for
// entries in sets the others do not write). Once per model; a refusal is remembered.
func (c *Client) checkLayout(ctx context.Context, model string) error {
	if c.cluster == nil {
		return nil
	}
	model = modelOr(model)
	if v, ok := c.layouts.Load(model); ok {
		err, _ := v.(error)
		return err
	}
	lk := LayoutPrefix + c.ns
	if err := c.rdb.HSetNX(ctx, lk, model, c.parts).Err(); err != nil {
		return err
	}
	got, err := c.rdb.HGet(ctx, lk, model).Result()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("the hash %q lost its field %q just after it was written", lk, model)
	}
	if err != nil {
		return err
	}
	recorded, perr := strconv.Atoi(got)
	if perr != nil {
		return fmt.Errorf("sutracache: the hash %q records %q parts for model %q, not a number", lk, got, model)
	}
	var refusal error
	if recorded != c.parts {
		refusal = badInput("model %q is split into %d parts on this cluster (recorded in the hash %q) but this client was made with Parts %d: make it with Parts %d", model, recorded, lk, c.parts, recorded)
	}
	c.layouts.Store(model, refusal)
	if refusal != nil {
		return refusal
	}
	return nil
}

// isLayoutError says whether err is the client's own refusal (bad input, never degraded).
func isLayoutError(err error) bool { return errors.Is(err, ErrBadInput) }
