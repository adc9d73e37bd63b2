"""A peer process holding its own MultiTierSutraCache (used by test_coherence.py and
bench/bench_seed_client.py). It answers JSON lines on stdin/stdout:

  {"op": "prime", "text", "model", "expect"}  -> read until `expect` is an L1 hit
  {"op": "watch", "text", "model", "old", "deadline", "after"}
      -> prints {"watching": true}, then reads until the value is no longer `old`; prints
         {"changed_at": monotonic seconds or null, "value", "violations", "reads",
         "failed_reads", "l2_errors", "l2_last_error", "l1", "time"}, where violations counts
         reads of `old` among the `after` reads that follow the change; a read the shard did
         not answer (the client's non-critical failure, None) is not taken for the change but
         listed in failed_reads
  {"op": "stats"} -> the cache's stats();  {"op": "quit"}

Usage: python3 l1_peer.py <port> [namespace]
"""

import json
import sys
import time

from sutra_cache import MultiTierSutraCache


def main() -> None:
    port = int(sys.argv[1])
    namespace = sys.argv[2] if len(sys.argv) > 2 else "emb:"
    cache = MultiTierSutraCache(100_000, "127.0.0.1", port, namespace=namespace)
    coherent = cache.wait_coherent(30)
    print(json.dumps({"coherent": coherent, "tracking": cache.stats()["l1"]["tracking"]}),
          flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            break
        if op == "stats":
            print(json.dumps(cache.stats()), flush=True)
        elif op == "prime":
            end = time.monotonic() + cmd.get("deadline", 30)
            ok = False
            while time.monotonic() < end:
                hits = cache.stats()["l1"]["hits"]
                v = cache.get_sync(cmd["text"], cmd["model"])
                if v == cmd["expect"] and cache.stats()["l1"]["hits"] == hits + 1:
                    ok = True
                    break
                time.sleep(0.001)
            print(json.dumps({"ok": ok}), flush=True)
        elif op == "watch":
            text, model, old = cmd["text"], cmd["model"], cmd["old"]
            end = time.monotonic() + cmd.get("deadline", 30)
            print(json.dumps({"watching": True}), flush=True)
            changed_at = None
            value = old
            failed_reads = []
            while time.monotonic() < end:
                errors = cache.l2_cache.errors
                value = cache.get_sync(text, model)
                if cache.l2_cache.errors != errors:
                    # A read the shard did not answer (the client's non-critical failure gives
                    # None): not the change watched for; noted and read again.
                    failed_reads.append(cache.l2_cache.last_error)
                    value = old
                    continue
                if value != old:
                    changed_at = time.monotonic()
                    break
                time.sleep(0.0001)
            violations = reads = 0
            if changed_at is not None:
                for _ in range(cmd.get("after", 200)):
                    reads += 1
                    if cache.get_sync(text, model) == old:
                        violations += 1
            st = cache.stats()
            print(json.dumps({"changed_at": changed_at, "value": value,
                              "violations": violations, "reads": reads,
                              "failed_reads": failed_reads,
                              "l2_errors": cache.l2_cache.errors,
                              "l2_last_error": cache.l2_cache.last_error,
                              "l1": st["l1"], "time": time.time()}), flush=True)
    cache.close()


if __name__ == "__main__":
    main()
