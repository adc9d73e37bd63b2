#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder that reads outside bytes, with AFL++ through
# cargo-afl (stable Rust; see fuzz/README.md for why this harness).
#
#   scripts/fuzz.sh install            cargo-afl (pinned) and AFL++ built from its bundled source;
#                                      nothing when the right versions are there already
#   scripts/fuzz.sh build              the targets, instrumented (release), in one cargo invocation:
#                                      target/afl/<host>/release/<target>
#   scripts/fuzz.sh smoke [SECONDS]    every target in turn, SECONDS in all (default 60; CI runs it)
#   scripts/fuzz.sh run TARGET SECS    one target for SECS seconds, corpus kept in fuzz/out/
#   scripts/fuzz.sh campaign SECS      every target SECS seconds each, then a stats table
#                                      (FUZZ_TARGETS="a b": only these; FUZZ_EXECS=N: stop a
#                                      target at N executions; resumes fuzz/out/TARGET)
#   scripts/fuzz.sh replay             every committed seed and regression input through every
#                                      target, uninstrumented (plain cargo run: no AFL needed)
#   scripts/fuzz.sh stats              the table of executions/edges/crashes of fuzz/out/*
# Any crash AFL++ saves makes smoke/campaign exit non-zero and name the file. Hangs (an input
# over the 2 s timeout) are counted in the table but fail nothing: on a loaded machine a slow
# input is not a defect (they are looked at by hand; see perf-reports/fuzzing.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
export CARGO_INCREMENTAL=0
AFL_VERSION=0.18.2
TARGETS="resp_frame commands http_request wal_decode snapshot_load filter_expr ffi_args"
# Built for the host triple named explicitly: then cargo-afl's RUSTFLAGS (instrumentation,
# opt-level 3) reach only the code that runs under the fuzzer, not the build scripts and proc
# macros, which build as a release build-override does (opt-level 0), in a fraction of the
# time. Under target/, with the project's other build products.
host=$(rustc -vV | sed -n 's/^host: //p')
afl_dir=${FUZZ_TARGET_DIR:-$root/target/afl}
bin_dir=$afl_dir/$host/release

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
  # A normal resume (the queue re-run): AFL++ 4.40c refused its own fast-resume file after a
  # run that ended at its -V limit ("invalid trailing data in fastresume.bin").
  export AFL_NO_FASTRESUME=1
  # Inputs are written under /dev/shm by the file-reading targets; keep AFL's own files there
  # too when it exists (a campaign writes its queue thousands of times a second).
  # (one directory per target: two campaigns may run at once).
  if [ -d /dev/shm ]; then export AFL_TMPDIR=/dev/shm/sutra-fuzz-$1; mkdir -p "$AFL_TMPDIR"; fi
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
  afl_env "$t"
  if [ -f "$out/default/fuzzer_stats" ]; then input=-; fi
  # FUZZ_EXECS=N: stop once N executions are done (AFL++'s -E; a resumed run counts the
  # executions before it), or after SECS seconds, whichever comes first.
  AFL_AUTORESUME=1 cargo afl fuzz -i "$input" -o "$out" -V "$secs" ${FUZZ_EXECS:+-E "$FUZZ_EXECS"} -t 2000 \
    -- "$bin_dir/$t" >"$out.log" 2>&1 || {
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
      mkdir -p out
      run_one "$2" "${3:-600}" "out/$2"
      table out; check_crashes out ;;
    campaign)
      build
      mkdir -p out
      # FUZZ_TARGETS="a b": only these.
      for t in ${FUZZ_TARGETS:-$TARGETS}; do echo "fuzz: $t for ${2:-600} s"; run_one "$t" "${2:-600}" "out/$t"; done
      table out; check_crashes out ;;
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
        for c in $(crashes_of "$dir/$t"); do mkdir -p "out/smoke-crashes/$t"; cp "$c" "out/smoke-crashes/$t/"; done
      done
      rm -rf "$dir"
      exit $status ;;
    replay) cargo run --release --bin replay -- "${@:2}" ;;
    stats) table out ;;
    *) echo "usage: scripts/fuzz.sh install|build|smoke [SECS]|run TARGET SECS|campaign SECS|replay|stats" >&2; exit 2 ;;
  esac
}
main "$@"; exit
