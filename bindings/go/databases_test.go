package sutracache

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func mustSelect(t *testing.T, c *Cache, db int) *Cache {
	t.Helper()
	s, err := c.Select(db)
	if err != nil {
		t.Fatalf("Select(%d): %v", db, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestAValueWrittenInDatabase3IsInvisibleInDatabase0(t *testing.T) {
	c := open(t, Options{})
	db3 := mustSelect(t, c, 3)
	if n, err := db3.DB(); err != nil || n != 3 {
		t.Fatalf("DB() = %d, %v", n, err)
	}
	if n, err := c.DB(); err != nil || n != 0 {
		t.Fatalf("DB() = %d, %v", n, err)
	}
	if n, err := db3.Databases(); err != nil || n != 16 {
		t.Fatalf("Databases() = %d, %v", n, err)
	}
	if err := db3.Set("k", []byte("three"), TTLNever); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Get("k"); err != nil || found {
		t.Fatalf("database 0 sees database 3's key: found=%v err=%v", found, err)
	}
	if v, found, err := db3.Get("k"); err != nil || !found || string(v) != "three" {
		t.Fatalf("database 3: %q %v %v", v, found, err)
	}
	if _, err := db3.VAdd("vs", "a", []float32{1, 0, 0}, nil); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := c.VInfo("vs"); n != 0 {
		t.Fatalf("database 0 sees database 3's vector set (%d elements)", n)
	}
	if hits, err := db3.Search("vs", []float32{1, 0, 0}, &SearchParams{Count: 1}); err != nil || len(hits) != 1 || hits[0].Element != "a" {
		t.Fatalf("search in database 3: %v %v", hits, err)
	}
	if n, _ := db3.DBSize(); n != 2 {
		t.Fatalf("DBSize of database 3 = %d, want 2", n)
	}
	if n, _ := c.DBSize(); n != 0 {
		t.Fatalf("DBSize of database 0 = %d, want 0", n)
	}
}

func TestFlushDBEmptiesOneDatabaseAndFlushEveryOne(t *testing.T) {
	c := open(t, Options{})
	db3, db4 := mustSelect(t, c, 3), mustSelect(t, c, 4)
	for _, x := range []*Cache{c, db3, db4} {
		if err := x.Set("k", []byte("v"), TTLNever); err != nil {
			t.Fatal(err)
		}
	}
	if err := db3.FlushDB(); err != nil {
		t.Fatal(err)
	}
	sizes := func() [3]uint64 {
		var out [3]uint64
		for i, x := range []*Cache{c, db3, db4} {
			out[i], _ = x.DBSize()
		}
		return out
	}
	if got := sizes(); got != [3]uint64{1, 0, 1} {
		t.Fatalf("after FlushDB of 3: %v", got)
	}
	if err := db4.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := sizes(); got != [3]uint64{0, 0, 0} {
		t.Fatalf("after Flush: %v", got)
	}
}

func TestADatabaseOutOfRangeIsRefusedNamingDBAndTheRange(t *testing.T) {
	c := open(t, Options{})
	_, err := c.Select(16)
	var e *Error
	if !errors.As(err, &e) || e.Code != InvalidArgument || !strings.Contains(e.Message, "'db'") ||
		!strings.Contains(e.Message, "0..=15") || !strings.Contains(e.Message, "got 16") {
		t.Fatalf("Select(16): %v", err)
	}
	if _, err := c.Select(-1); !errors.Is(err, &Error{Code: InvalidArgument}) {
		t.Fatalf("Select(-1): %v", err)
	}
	if _, err := Open("", Options{DB: 99}); !errors.As(err, &e) || e.Code != InvalidArgument || !strings.Contains(e.Message, "got 99") {
		t.Fatalf("Open with DB 99: %v", err)
	}
}

func TestClosingASelectedCacheFreesOnlyItAndClosingTheOpenerClosesEveryOne(t *testing.T) {
	c, err := Open("", Options{NoActiveExpire: true})
	if err != nil {
		t.Fatal(err)
	}
	db3, _ := c.Select(3)
	_ = db3.Set("k", []byte("v"), TTLNever)
	if err := db3.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db3.Close(); err != nil {
		t.Fatal(err)
	}
	again := mustSelect(t, c, 3)
	if v, found, err := again.Get("k"); err != nil || !found || string(v) != "v" {
		t.Fatalf("the engine closed with the selected cache: %q %v %v", v, found, err)
	}
	db7 := mustSelect(t, c, 7)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db7.Set("k", []byte("v"), TTLNever); !errors.Is(err, &Error{Code: Closed}) {
		t.Fatalf("a selected cache after the engine closed: %v", err)
	}
	if _, err := db7.Select(1); !errors.Is(err, &Error{Code: Closed}) {
		t.Fatalf("Select after the engine closed: %v", err)
	}
}

func TestASelectedCacheKeepsTheEngineAliveWhenTheOpenerIsUnreachable(t *testing.T) {
	opener, err := Open("", Options{NoActiveExpire: true})
	if err != nil {
		t.Fatal(err)
	}
	db3 := mustSelect(t, opener, 3)
	opener = nil
	for i := 0; i < 10; i++ { // a finalizer runs on its own goroutine after a GC
		runtime.GC()
		runtime.Gosched()
	}
	if err := db3.Set("k", []byte("v"), TTLNever); err != nil {
		t.Fatalf("the opener's finalizer closed the engine under a selected cache: %v", err)
	}
	_ = opener
}

func TestDatabase3ComesBackAfterCloseAndReopen(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, Options{NoActiveExpire: true, WALSync: SyncAlways, NoCheckpointOnClose: true, DB: 3})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.DB(); n != 3 {
		t.Fatalf("Open with DB 3 addresses %d", n)
	}
	_ = c.Set("snap", []byte("in the snapshot"), TTLNever)
	if _, err := c.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	_ = c.Set("tail", []byte("in the log"), TTLNever)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c0, err := Open(dir, Options{NoActiveExpire: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	if n, _ := c0.DBSize(); n != 0 {
		t.Fatalf("database 0 holds %d keys after reopening", n)
	}
	db3 := mustSelect(t, c0, 3)
	for k, want := range map[string]string{"snap": "in the snapshot", "tail": "in the log"} {
		if v, found, err := db3.Get(k); err != nil || !found || string(v) != want {
			t.Fatalf("%s in database 3 after reopening: %q %v %v", k, v, found, err)
		}
	}
}
