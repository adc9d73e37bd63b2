// Package sutracache is the Go binding of sutra-cache: the embedded engine over its C ABI
// (cgo; the C library is found with pkg-config as `sutra_cache`: install it with
// `scripts/install.sh /usr/local`, or point PKG_CONFIG_PATH at the build tree's .pc written by
// `scripts/pkgconfig.sh`), and a socket client of a cache shard over RESP (go-redis).
//
// A *Cache is safe for concurrent use; Close waits for calls in flight and later calls return
// an error with code Closed.
//
// The engine has 16 numbered databases, as Redis: a *Cache addresses one of them, database 0
// unless Options.DB names another (go-redis's Options.DB); Select returns another *Cache over
// the same engine addressing another database.
package sutracache

/*
#cgo pkg-config: sutra_cache
#include <stdlib.h>
#include <string.h>
#include "sutra_cache.h"
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Status is a status code of the C ABI (the engine's stable ErrorCode values; 1000+ exist
// only at the C boundary).
type Status int32

// Status codes, as include/sutra_cache.h defines them.
const (
	OK                Status = C.SUTRA_OK
	InvalidArgument   Status = C.SUTRA_INVALID_ARGUMENT
	WrongType         Status = C.SUTRA_WRONG_TYPE
	DimensionMismatch Status = C.SUTRA_DIMENSION_MISMATCH
	OutOfMemory       Status = C.SUTRA_OUT_OF_MEMORY
	NotFound          Status = C.SUTRA_NOT_FOUND
	TooLarge          Status = C.SUTRA_TOO_LARGE
	IO                Status = C.SUTRA_IO
	Corrupt           Status = C.SUTRA_CORRUPT
	WalPoisoned       Status = C.SUTRA_WAL_POISONED
	Conflict          Status = C.SUTRA_CONFLICT
	Unsupported       Status = C.SUTRA_UNSUPPORTED
	Closed            Status = C.SUTRA_CLOSED
	Internal          Status = C.SUTRA_INTERNAL
	NullArgument      Status = C.SUTRA_NULL_ARGUMENT
	BufferTooSmall    Status = C.SUTRA_BUFFER_TOO_SMALL
)

// String is the status constant's name, e.g. "SUTRA_NOT_FOUND".
func (s Status) String() string { return C.GoString(C.sutra_status_name(C.int32_t(s))) }

// Error is a failed call: its status and the engine's message.
type Error struct {
	Code    Status
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("sutracache: %s: %s", e.Code, e.Message) }

// Is matches any *Error with the same code, so errors.Is(err, &Error{Code: WrongType}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// statusToError is the one translation of a C status (and its error object) into a Go error.
func statusToError(status C.int32_t, cerr *C.sutra_error) error {
	if status == C.SUTRA_OK {
		return nil
	}
	msg := C.GoStringN(&cerr.message[0], C.int(cerr.message_len))
	return &Error{Code: Status(status), Message: msg}
}

// Version is the library's version.
func Version() string { return C.GoString(C.sutra_version()) }

// SimdISA is the SIMD instruction set the distance kernels use.
func SimdISA() string { return C.GoString(C.sutra_simd_isa()) }

// EvictionPolicy says what happens at a cap.
type EvictionPolicy int32

// Eviction policies.
const (
	EvictLRU        EvictionPolicy = C.SUTRA_EVICTION_LRU
	EvictLFU        EvictionPolicy = C.SUTRA_EVICTION_LFU
	EvictNoEviction EvictionPolicy = C.SUTRA_EVICTION_NOEVICTION
)

// Options of Open. The zero value is the engine's defaults.
type Options struct {
	MaxEntries     uint64         // cap on entries; 0 = none
	MaxBytes       uint64         // cap on accounted bytes; 0 = none
	EvictionPolicy EvictionPolicy // LRU by default
	DefaultTTL     time.Duration  // TTL of writes that give none; 0 = none
	// ActiveExpireInterval is the background expiry period (0 = the engine's default);
	// NoActiveExpire turns the background thread off.
	ActiveExpireInterval time.Duration
	NoActiveExpire       bool
	// WALSync (with a data directory): SyncDefault (fdatasync every 5 s), SyncAlways,
	// SyncNever or SyncEvery(d).
	WALSync WALSync
	// NoCheckpointOnClose skips the snapshot Close takes (the WAL still has every write).
	NoCheckpointOnClose bool
	// DefaultStorage is the storage of a set created by an add that names none
	// (StorageUnspecified = Exact; the server's VECTOR_STORAGE).
	DefaultStorage Storage
	// VectorDimension > 0: every vector added must have it, else a DimensionMismatch error
	// naming both (the server's VECTOR_DIMENSION); 0 = any.
	VectorDimension int
	// DB is the database (0..15) every call of the *Cache addresses, as go-redis's
	// Options.DB; Select gives others.
	DB int
}

// WALSync says when the write-ahead log is fdatasynced.
type WALSync int64

// WAL sync policies: the C ABI's SUTRA_WAL_SYNC_* values (a positive value is a period in ms).
const (
	SyncDefault WALSync = C.SUTRA_WAL_SYNC_DEFAULT // every 5000 ms, the seed's WAL_SYNC_INTERVAL_MS
	SyncAlways  WALSync = C.SUTRA_WAL_SYNC_ALWAYS  // before each acknowledgement (survives power loss)
	SyncNever   WALSync = C.SUTRA_WAL_SYNC_NEVER   // only on close
)

// SyncEvery fdatasyncs every d (a process crash loses nothing acknowledged).
func SyncEvery(d time.Duration) WALSync { return WALSync(max(d.Milliseconds(), 1)) }

// TTL arguments and results: the C ABI's SUTRA_TTL_* values.
const (
	TTLDefault  time.Duration = C.SUTRA_TTL_DEFAULT   // write: the configured default TTL
	TTLNever    time.Duration = C.SUTRA_TTL_NEVER     // write: never expires
	TTLMissing  time.Duration = C.SUTRA_TTL_MISSING   // TTL(): no such key or element
	TTLNoExpiry time.Duration = C.SUTRA_TTL_NO_EXPIRY // TTL(): exists without expiry
)

func ttlArg(ttl time.Duration) C.int64_t {
	switch {
	case ttl == TTLDefault:
		return C.SUTRA_TTL_DEFAULT
	case ttl < 0:
		return C.SUTRA_TTL_NEVER
	default:
		ms := ttl.Milliseconds()
		if ms == 0 {
			ms = 1
		}
		return C.int64_t(ms)
	}
}

func ttlResult(ms C.int64_t) time.Duration {
	if ms < 0 {
		return time.Duration(ms)
	}
	return time.Duration(ms) * time.Millisecond
}

// Cache is an open embedded cache, addressing one of its databases.
type Cache struct {
	mu sync.RWMutex
	h  *C.sutra_cache
	// engine is the handle sutra_cache_open returned when this *Cache opened the engine
	// (closing it closes the engine); nil for a *Cache from Select.
	engine *C.sutra_cache
	// parent is the *Cache Select was called on: kept reachable while this one is, so its
	// finalizer does not close the engine under it.
	parent *Cache
}

// Open opens a cache; path "" keeps it in memory only, otherwise it is the data directory
// (recovered at open, written through a WAL).
func Open(path string, opts Options) (*Cache, error) {
	var o C.sutra_options
	C.sutra_options_init(&o)
	o.max_entries = C.uint64_t(opts.MaxEntries)
	o.max_bytes = C.uint64_t(opts.MaxBytes)
	o.eviction_policy = C.int32_t(opts.EvictionPolicy)
	o.default_ttl_ms = C.uint64_t(opts.DefaultTTL.Milliseconds())
	if opts.ActiveExpireInterval > 0 {
		o.active_expire_interval_ms = C.uint64_t(opts.ActiveExpireInterval.Milliseconds())
	}
	if opts.NoActiveExpire {
		o.active_expire_interval_ms = 0
	}
	o.wal_sync_interval_ms = C.int64_t(opts.WALSync)
	if opts.NoCheckpointOnClose {
		o.checkpoint_on_close = false
	}
	if opts.DefaultStorage != StorageUnspecified {
		o.default_storage_mode = C.int32_t(opts.DefaultStorage)
	}
	if opts.VectorDimension < 0 {
		return nil, &Error{Code: InvalidArgument, Message: fmt.Sprintf("invalid argument 'VectorDimension': >= 0; got %d", opts.VectorDimension)}
	}
	o.vector_dimension = C.uint64_t(opts.VectorDimension)
	var cpath *C.char
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	if opts.DB < 0 || opts.DB > math.MaxUint32 {
		return nil, &Error{Code: InvalidArgument, Message: fmt.Sprintf("invalid argument 'DB': a database index (0..15); got %d", opts.DB)}
	}
	var h *C.sutra_cache
	var cerr C.sutra_error
	if err := statusToError(C.sutra_cache_open(cpath, &o, &h, &cerr), &cerr); err != nil {
		return nil, err
	}
	c := &Cache{h: h, engine: h}
	if opts.DB != 0 {
		var view *C.sutra_cache
		if err := statusToError(C.sutra_cache_select(h, C.uint32_t(opts.DB), &view, &cerr), &cerr); err != nil {
			C.sutra_cache_close(h, nil)
			return nil, err
		}
		c.h = view
	}
	runtime.SetFinalizer(c, func(c *Cache) { _ = c.Close() })
	return c, nil
}

// Select returns a *Cache over the same engine that addresses database db in every call
// (Redis's SELECT); c keeps its own database. A db out of range is an InvalidArgument error
// naming db and the range. Closing the returned *Cache frees only it; closing the *Cache Open
// returned closes the engine, and calls through a selected one then return Closed errors.
func (c *Cache) Select(db int) (*Cache, error) {
	if db < 0 || db > math.MaxUint32 {
		return nil, &Error{Code: InvalidArgument, Message: fmt.Sprintf("invalid argument 'db': a database index (0..15); got %d", db)}
	}
	var view *C.sutra_cache
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_select(h, C.uint32_t(db), &view, e)
	})
	if err != nil {
		return nil, err
	}
	s := &Cache{h: view, parent: c}
	runtime.SetFinalizer(s, func(s *Cache) { _ = s.Close() })
	return s, nil
}

// DB is the database c addresses.
func (c *Cache) DB() (int, error) {
	var db C.uint32_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t { return C.sutra_cache_db(h, &db, nil, e) })
	return int(db), err
}

// Databases is how many databases the engine has.
func (c *Cache) Databases() (int, error) {
	var n C.uint32_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t { return C.sutra_cache_db(h, nil, &n, e) })
	return int(n), err
}

// DBSize is the number of keys in c's database (Redis's DBSIZE).
func (c *Cache) DBSize() (uint64, error) {
	var n C.uint64_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t { return C.sutra_cache_dbsize(h, &n, e) })
	return uint64(n), err
}

// FlushDB removes every key of c's database (Redis's FLUSHDB); Flush empties every database.
func (c *Cache) FlushDB() error {
	return c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t { return C.sutra_cache_flushdb(h, e) })
}

// Close closes c; calling it again does nothing. For the *Cache Open returned it closes the
// engine (a *Cache from Select then returns Closed errors); a *Cache from Select frees only
// itself.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h == nil {
		return nil
	}
	var cerr C.sutra_error
	var err error
	if c.h != c.engine {
		err = statusToError(C.sutra_cache_close(c.h, &cerr), &cerr)
	}
	if c.engine != nil {
		if e := statusToError(C.sutra_cache_close(c.engine, &cerr), &cerr); err == nil {
			err = e
		}
	}
	c.h, c.engine, c.parent = nil, nil, nil
	runtime.SetFinalizer(c, nil)
	return err
}

// call runs f with the live handle under the read lock.
func (c *Cache) call(f func(h *C.sutra_cache, cerr *C.sutra_error) C.int32_t) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.h == nil {
		return &Error{Code: Closed, Message: "the cache is closed"}
	}
	var cerr C.sutra_error
	return statusToError(f(c.h, &cerr), &cerr)
}

// bytesArg is a borrowed pointer to a string's bytes (nil when empty).
func bytesArg(s string) (*C.uint8_t, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

func sliceArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

func floatsArg(v []float32) (*C.float, C.size_t) {
	if len(v) == 0 {
		return nil, 0
	}
	return (*C.float)(unsafe.Pointer(&v[0])), C.size_t(len(v))
}

// Condition of SetIf (Redis's NX / XX).
type Condition uint32

// Conditions.
const (
	Always    Condition = 0
	IfAbsent  Condition = C.SUTRA_SET_IF_ABSENT
	IfPresent Condition = C.SUTRA_SET_IF_PRESENT
)

// Set writes a blob; ttl is TTLDefault, TTLNever or a positive duration.
func (c *Cache) Set(key string, value []byte, ttl time.Duration) error {
	_, err := c.SetIf(key, value, ttl, Always)
	return err
}

// SetIf writes a blob when cond holds; it reports whether it wrote.
func (c *Cache) SetIf(key string, value []byte, ttl time.Duration, cond Condition) (bool, error) {
	k, kl := bytesArg(key)
	v, vl := sliceArg(value)
	var written C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_set(h, k, kl, v, vl, ttlArg(ttl), C.uint32_t(cond), &written, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return bool(written), err
}

// GetInto reads a blob into buf; n is its length. When the value is longer than buf the
// error has code BufferTooSmall and n is the length needed.
func (c *Cache) GetInto(key string, buf []byte) (n int, found bool, err error) {
	k, kl := bytesArg(key)
	b, bl := sliceArg(buf)
	var length C.size_t
	var f C.bool
	err = c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_get(h, k, kl, b, bl, &length, &f, e)
	})
	runtime.KeepAlive(key)
	runtime.KeepAlive(buf)
	return int(length), bool(f), err
}

// Get reads a blob; found is false on a miss.
func (c *Cache) Get(key string) (value []byte, found bool, err error) {
	buf := make([]byte, 256)
	for {
		n, found, err := c.GetInto(key, buf)
		if e, ok := err.(*Error); ok && e.Code == BufferTooSmall {
			buf = make([]byte, n)
			continue
		}
		if err != nil || !found {
			return nil, found, err
		}
		return buf[:n], true, nil
	}
}

// Delete removes a key (blob or vector set); it reports whether it existed.
func (c *Cache) Delete(key string) (bool, error) {
	k, kl := bytesArg(key)
	var existed C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_del(h, k, kl, &existed, e)
	})
	runtime.KeepAlive(key)
	return bool(existed), err
}

// Flush removes every key of every database (Redis's FLUSHALL; FlushDB empties one).
func (c *Cache) Flush() error {
	return c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t { return C.sutra_cache_flush(h, e) })
}

// Expire sets a key to expire after ttl (0 deletes it); false when it does not exist.
func (c *Cache) Expire(key string, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, &Error{Code: InvalidArgument, Message: "ttl must be >= 0"}
	}
	k, kl := bytesArg(key)
	var existed C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_expire(h, k, kl, C.uint64_t(ttl.Milliseconds()), &existed, e)
	})
	runtime.KeepAlive(key)
	return bool(existed), err
}

// Persist removes a key's expiry; true when it had one.
func (c *Cache) Persist(key string) (bool, error) {
	k, kl := bytesArg(key)
	var had C.bool
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_persist(h, k, kl, &had, e)
	})
	runtime.KeepAlive(key)
	return bool(had), err
}

// TTL is the remaining time to live of a key, TTLNoExpiry or TTLMissing.
func (c *Cache) TTL(key string) (time.Duration, error) {
	k, kl := bytesArg(key)
	var ms C.int64_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_ttl(h, k, kl, &ms, e)
	})
	runtime.KeepAlive(key)
	return ttlResult(ms), err
}

// Stats are engine-wide or per-set statistics.
type Stats struct {
	Hits, Misses, Sets, Evictions, Expirations, Entries, Bytes uint64
	Keys, VectorSets                                           uint64 // 0 for a set
}

// HitRate is Hits / (Hits + Misses), 0 without lookups.
func (s Stats) HitRate() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

func statsOf(s *C.sutra_stats) Stats {
	return Stats{
		Hits: uint64(s.hits), Misses: uint64(s.misses), Sets: uint64(s.sets),
		Evictions: uint64(s.evictions), Expirations: uint64(s.expirations),
		Entries: uint64(s.entries), Bytes: uint64(s.bytes), Keys: uint64(s.keys),
		VectorSets: uint64(s.vector_sets),
	}
}

// Stats are the engine-wide statistics.
func (c *Cache) Stats() (Stats, error) {
	var s C.sutra_stats
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t { return C.sutra_cache_stats(h, &s, e) })
	return statsOf(&s), err
}

// IndexWait blocks until every vector added or removed so far is in the HNSW graphs (helping
// on the calling thread). Searches are correct without it; call it to finish a bulk load.
func (c *Cache) IndexWait() error {
	return c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_vector_index_wait(h, e)
	})
}

// Checkpoint writes a snapshot now and returns the log position it covers; a cache in
// memory only answers an error with code Unsupported.
func (c *Cache) Checkpoint() (uint64, error) {
	var lsn C.uint64_t
	err := c.call(func(h *C.sutra_cache, e *C.sutra_error) C.int32_t {
		return C.sutra_cache_checkpoint(h, &lsn, e)
	})
	return uint64(lsn), err
}
