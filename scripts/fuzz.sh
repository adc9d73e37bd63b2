#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder that reads outside bytes, with AFL++ through
# cargo-afl (stable Rust; see fuzz/README.md for why this harness).
#
#   scripts/fuzz.sh install            cargo-afl (pinned) and AFL++ built from its bundled source;
#                                      nothing when the right versions are there already
#   scripts/fuzz.sh build              the targets, instrumented (release), in one cargo invocation:
#                                      target/afl/<host>/release/<target>
#   scripts/fuzz.sh smoke [SECONDS]    every target in turn, SECONDS in all (default 60; CI runs it)
#   scripts/fuzz.sh run TARGET SECS    one target for SECS seconds, corpus kept in $FUZZ_OUT/TARGET
#   scripts/fuzz.sh campaign SECS      every target SECS seconds each, then a stats table
#                                      (FUZZ_TARGETS="a b": only these, in this order;
#                                      FUZZ_EXECS=N: stop a target at N executions, and skip
#                                      one that has them; FUZZ_ROUNDS=R: go through the list
#                                      R times, so that every target gets a turn early;
#                                      resumes $FUZZ_OUT/TARGET; FUZZ_INPUT=DIR: what a new
#                                      TARGET starts from instead of corpus/TARGET, %t in DIR
#                                      standing for TARGET)
#   scripts/fuzz.sh replay             every committed seed and regression input through every
#                                      target, uninstrumented (plain cargo run: no AFL needed)
#   scripts/fuzz.sh stats              the table of executions/edges/crashes of $FUZZ_OUT/*
#   scripts/fuzz.sh cpu [SECS]         executions per CPU second of every afl-fuzz running,
#                                      measured over SECS seconds or a little more (default 60)
# FUZZ_OUT: where campaigns keep their queues and findings (default fuzz/out; a campaign meant
# to be resumed by a later checkout belongs outside the worktree). FUZZ_TARGET_DIR: where the
# targets are built (default target/afl; with FUZZ_NO_BUILD=1 a copy of built targets).
# Any crash AFL++ saves makes smoke/campaign exit non-zero and name the file. Hangs (an input
# over the 2 s timeout) are counted in the table but fail nothing: on a loaded machine a slow
# input is not a defect (they are looked at by hand; see perf-reports/fuzzing.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
export CARGO_INCREMENTAL=0
AFL_VERSION=0.18.2
TARGETS="resp_frame commands http_request wal_decode snapshot_load filter_expr ffi_args wal_open snapshot_open"
# Built for the host triple named explicitly: then cargo-afl's RUSTFLAGS (instrumentation,
# opt-level 3) reach only the code that runs under the fuzzer, not the build scripts and proc
# macros, which build as a release build-override does (opt-level 0), in a fraction of the
# time. Under target/, with the project's other build products.
host=$(rustc -vV | sed -n 's/^host: //p')
afl_dir=${FUZZ_TARGET_DIR:-$root/target/afl}
bin_dir=$afl_dir/$host/release
out_dir=${FUZZ_OUT:-$root/fuzz/out}

install() {
  local did=0
  if ! cargo afl --version 2>/dev/null | grep -q "$AFL_VERSION"; then
    echo "fuzz: cargo install --locked cargo-afl $AFL_VERSION"
    cargo install --locked cargo-afl --version "$AFL_VERSION"; did=1
  fi
  # AFL++ itself (afl-fuzz and its runtime), built once per rustc version from the source
  # the crate ships. No LLVM plugins: this machine's llvm-config is not rustc's LLVM, so the
  # targets are instrumented with rustc's own SanitizerCoverage (the cargo-afl default).
  local help; help=$(cargo afl fuzz -h 2>&1 || true)   # -h exits non-zero
  if ! grep -q "afl-fuzz" <<<"$help"; then
    echo "fuzz: building AFL++ (cargo afl config --build)"
    cargo afl config --build --force; did=1
  fi
  [ $did = 1 ] || echo "fuzz: cargo-afl $AFL_VERSION and its AFL++ already installed"
}

afl_env() {
  # A shared machine: no CPU pinning, no frequency or core_pattern demands, no curses UI.
  export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
  export AFL_QUIET=1
  # fuzzer_stats every 10 s (default 60): `cpu` and `stats` read it.
  export AFL_FUZZER_STATS_UPDATE_INTERVAL=10
  # A normal resume (the queue re-run): AFL++ 4.40c refused its own fast-resume file after a
  # run that ended at its -V limit ("invalid trailing data in fastresume.bin").
  export AFL_NO_FASTRESUME=1
  # Inputs are written under /dev/shm by the file-reading targets; keep AFL's own files there
  # too when it exists (a campaign writes its queue thousands of times a second). One
  # directory per output directory: a smoke run (CI) and campaigns may run at once.
  if [ -d /dev/shm ]; then
    export AFL_TMPDIR=/dev/shm/sutra-fuzz-$1-$(printf %s "$2" | cksum | cut -d' ' -f1)
    mkdir -p "$AFL_TMPDIR"
    # The input file of an afl-fuzz that was killed makes the next one refuse to start; no
    # other afl-fuzz uses this directory unless one runs on the same output directory.
    pgrep -f -- "-o $2 " >/dev/null || rm -f "$AFL_TMPDIR/.cur_input"
  fi
}

build() {
  install
  # FUZZ_NO_BUILD=1: use the targets as last built (a campaign started while the sources move).
  if [ "${FUZZ_NO_BUILD:-0}" = 1 ] && [ -x "$bin_dir/resp_frame" ]; then return; fi
  echo "fuzz: building the targets (cargo afl build --release, into $bin_dir)"
  # cargo-afl asks for one codegen unit per crate (a work-around for link errors of old
  # rustc versions); four let the large crates use both cores of a small CI machine.
  CARGO_TARGET_DIR=$afl_dir RUSTFLAGS="-C codegen-units=4" \
    cargo afl build --release --target "$host" $(printf -- '--bin %s ' $TARGETS)
}

# run_one TARGET SECONDS OUTDIR: AFL++ on TARGET for SECONDS; resumes OUTDIR when it exists.
run_one() {
  local t=$1 secs=$2 out=$3 input=corpus/$1
  afl_env "$t" "$out"
  # FUZZ_INPUT=DIR: the inputs a new output directory starts from instead of the committed
  # seeds (e.g. a queue of an earlier target with the same input format); %t: the target.
  if [ -f "$out/default/fuzzer_stats" ]; then input=-; elif [ -n "${FUZZ_INPUT:-}" ]; then input=${FUZZ_INPUT//%t/$t}; fi
  # FUZZ_EXECS=N: stop once N executions are done (AFL++'s -E; a resumed run counts the
  # executions before it), or after SECS seconds, whichever comes first.
  AFL_AUTORESUME=1 cargo afl fuzz -i "$input" -o "$out" -V "$secs" ${FUZZ_EXECS:+-E "$FUZZ_EXECS"} -t 2000 \
    -- "$bin_dir/$t" >>"$out.log" 2>&1 || {
      echo "fuzz: afl-fuzz $t failed; the end of $out.log:"; tail -20 "$out.log"; return 1; }
}

crashes_of() { ls "$1"/default/crashes/id:* 2>/dev/null || true; }

stat_of() { sed -n "s/^$2 *: *//p" "$1/default/fuzzer_stats" 2>/dev/null | head -1; }

table() {
  printf '%-14s %12s %9s %8s %13s %8s %9s %8s %7s\n' target execs secs exec/s edges corpus stability crashes hangs
  for t in $TARGETS; do
    local o=$1/$t
    [ -f "$o/default/fuzzer_stats" ] || continue
    printf '%-14s %12s %9s %8s %13s %8s %9s %8s %7s\n' "$t" "$(stat_of "$o" execs_done)" \
      "$(stat_of "$o" run_time)" "$(stat_of "$o" execs_per_sec)" \
      "$(stat_of "$o" edges_found)/$(stat_of "$o" total_edges)" "$(stat_of "$o" corpus_count)" \
      "$(stat_of "$o" stability)" "$(stat_of "$o" saved_crashes)" "$(stat_of "$o" saved_hangs)"
  done
}

# CPU seconds (user + system) of a process tree so far: every process of it, and the
# children each has reaped (a persistent-mode target's finished children, a forkserver
# restarted), from /proc/<pid>/stat (fields 14-17, in clock ticks).
tree_cpu() {
  local pids=$1 all="" next
  while [ -n "$pids" ]; do
    all="$all $pids"; next=""
    for p in $pids; do next="$next $(pgrep -P "$p" || true)"; done
    pids=$(echo $next)
  done
  for p in $all; do sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12+$13+$14+$15}'; done |
    awk -v hz="$(getconf CLK_TCK)" '{t+=$1} END {printf "%.2f", t/hz}'
}

# cpu [SECS]: for every afl-fuzz running (any campaign on this machine), its output directory
# and the executions per CPU second of afl-fuzz and the target together over at least SECS
# seconds (default 60): the rate one free core would give, whatever share of a core it got.
# Executions are read from fuzzer_stats, which afl-fuzz rewrites every 10 s: the CPU is
# read as soon as it changes, at both ends.
cpu() {
  local secs=${1:-60} p
  local pids; pids=$(pgrep -x afl-fuzz || true)
  [ -n "$pids" ] || { echo "fuzz: no afl-fuzz running"; return; }
  printf '%-44s %10s %9s %12s\n' out-dir executions cpu-s "execs/cpu-s"
  for p in $pids; do cpu_of "$p" "$secs" & done
  wait
}

# cpu_of PID SECS: one line of `cpu`.
cpu_of() {
  local p=$1 secs=$2 out e0 c0 e1 c1
  out=$(tr '\0' '\n' </proc/"$p"/cmdline | sed -n '/^-o$/{n;p}')
  case $out in /*) ;; *) out=$(readlink -f /proc/"$p"/cwd)/$out ;; esac
  next_update() {   # waits until fuzzer_stats changes, then prints "executions cpu"
    local t0; t0=$(stat_of "$out" last_update)
    while [ "$(stat_of "$out" last_update)" = "$t0" ]; do
      kill -0 "$p" 2>/dev/null || return 1; sleep 0.5
    done
    echo "$(stat_of "$out" execs_done) $(tree_cpu "$p")"
  }
  read -r e0 c0 < <(next_update) || return 0
  sleep "$secs"
  read -r e1 c1 < <(next_update) || return 0
  awk -v o="$out" -v e0="$e0" -v e1="$e1" -v c0="$c0" -v c1="$c1" 'BEGIN {
    d = c1 - c0; printf "%-44s %10d %9.2f %12s\n", o, e1 - e0, d, (d > 0 ? sprintf("%.0f", (e1 - e0) / d) : "-") }'
}

check_crashes() {
  local found=0
  for t in $TARGETS; do
    for c in $(crashes_of "$1/$t"); do
      echo "fuzz: CRASH in $t: $c (replay: $bin_dir/$t < '$c')"; found=1
    done
  done
  return $found
}

# The whole file is read before anything runs (bash reads a script as it goes: an edit made
# while a campaign runs would otherwise be read by it).
main() {
  case ${1:-smoke} in
    install) install ;;
    build) build ;;
    run)
      build
      mkdir -p "$out_dir"
      run_one "$2" "${3:-600}" "$out_dir/$2"
      table "$out_dir"; check_crashes "$out_dir" ;;
    campaign)
      build
      mkdir -p "$out_dir"
      for round in $(seq "${FUZZ_ROUNDS:-1}"); do
        for t in ${FUZZ_TARGETS:-$TARGETS}; do
          done_=$(stat_of "$out_dir/$t" execs_done || true)
          if [ -n "${FUZZ_EXECS:-}" ] && [ "${done_:-0}" -ge "$FUZZ_EXECS" ]; then continue; fi
          echo "fuzz: $(date -u +%H:%M:%S) round $round: $t for ${2:-600} s (${done_:-0} executions so far)"
          run_one "$t" "${2:-600}" "$out_dir/$t"
        done
      done
      table "$out_dir"; check_crashes "$out_dir" ;;
    smoke)
      total=${2:-60}
      build
      n=$(echo $TARGETS | wc -w)
      each=$(( total / n )); [ "$each" -ge 1 ] || each=1
      dir=$(mktemp -d)
      for t in $TARGETS; do run_one "$t" "$each" "$dir/$t"; done
      table "$dir"
      status=0; check_crashes "$dir" || status=1
      # Keep what crashed (fuzz/out/smoke-crashes/TARGET/) before the run's directory goes.
      for t in $TARGETS; do
        for c in $(crashes_of "$dir/$t"); do mkdir -p "$out_dir/smoke-crashes/$t"; cp "$c" "$out_dir/smoke-crashes/$t/"; done
      done
      rm -rf "$dir"
      exit $status ;;
    replay) cargo run --release --bin replay -- "${@:2}" ;;
    stats) table "$out_dir" ;;
    cpu) cpu "${2:-60}" ;;
    *) echo "usage: scripts/fuzz.sh install|build|smoke [SECS]|run TARGET SECS|campaign SECS|replay|stats|cpu [SECS]" >&2; exit 2 ;;
  esac
}
main "$@"; exit
