"""Fixed cost of a Python search, single vs batched (perf-reports/search-path.md): a 2,000 x 384
random set (graph) and a 100-element set (scan), 1,000 queries, median of 7 passes."""
import time, numpy as np, sys
from sutra_cache import Cache
rng=np.random.default_rng(0); base=rng.standard_normal((2000,384)).astype(np.float32)
qs=rng.standard_normal((1000,384)).astype(np.float32)
with Cache(active_expire_interval_ms=0) as c:
    c.vadd_many("m",[str(i) for i in range(2000)],base); c.index_wait()
    c.vadd_many("s",[str(i) for i in range(100)],base[:100])
    for key in ("m","s"):
        for k,ef in ((1,1),(10,64)):
            ts=[]
            for _ in range(7):
                t=time.perf_counter()
                for q in qs: c.search(key,q,k,ef=ef)
                ts.append((time.perf_counter()-t)/len(qs)*1e6)
            tb=[]
            for _ in range(7):
                t=time.perf_counter(); c.search_batch(key,qs,k,ef=ef); tb.append((time.perf_counter()-t)/len(qs)*1e6)
            print(sys.argv[1], key, k, ef, "single %.2f us  batch %.2f us" % (np.median(ts), np.median(tb)))
