#!/usr/bin/env bash
# Runs moonpool's `bench` binary and the turmoil and madsim versions of the
# same workloads, interleaved, and prints the median wall time of each and
# the ratios to moonpool measured round by round.
#
# Usage (from anywhere):
#   peer-bench/run.sh                  # W1 W2 W3 W4, 5 rounds
#   peer-bench/run.sh W3 W4            # some workloads only
#   RUNS=9 peer-bench/run.sh W3        # more rounds
#
# Environment:
#   RUNS                 rounds (default 5); each round runs every workload
#                        in every framework, in a rotating order
#   REPEAT               runs of each framework per round, back to back
#                        (default 1); the round keeps the fastest, so a
#                        short workload preempted by another process on a
#                        shared machine does not decide the round
#   FRAMEWORKS           default "moonpool madsim turmoil turmoil-1ms"
#   MOONPOOL_TARGET_DIR  cargo target dir of the moonpool workspace (default: target/)
#   PEER_TARGET_DIR      of peer-bench (turmoil; default: peer-bench/target/)
#   MADSIM_TARGET_DIR    of peer-bench/madsim-bench (default: its target/)
#   NO_BUILD=1           use the binaries already built in those dirs
#
# Raw lines go to peer-bench/runs/raw.txt (git-ignored), one per run, with
# `round=N rep=M` appended; the summary is printed on stdout.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RUNS=${RUNS:-5}
REPEAT=${REPEAT:-1}
FRAMEWORKS=${FRAMEWORKS:-"moonpool madsim turmoil turmoil-1ms"}
MOONPOOL_TARGET_DIR=${MOONPOOL_TARGET_DIR:-$ROOT/target}
PEER_TARGET_DIR=${PEER_TARGET_DIR:-$HERE/target}
MADSIM_TARGET_DIR=${MADSIM_TARGET_DIR:-$HERE/madsim-bench/target}
if [ "$#" -gt 0 ]; then WORKLOADS=("$@"); else WORKLOADS=(W1 W2 W3 W4); fi

if [ "${NO_BUILD:-0}" != 1 ]; then
    echo "== building (release)" >&2
    (cd "$ROOT" && CARGO_TARGET_DIR=$MOONPOOL_TARGET_DIR \
        cargo build --release --quiet -p moonpool-examples --bin bench)
    (cd "$HERE" && CARGO_TARGET_DIR=$PEER_TARGET_DIR cargo build --release --quiet)
    # madsim needs `--cfg madsim` for its whole dependency graph: its own
    # workspace, whose .cargo/config.toml sets the flag, so cargo runs there.
    (cd "$HERE/madsim-bench" && CARGO_TARGET_DIR=$MADSIM_TARGET_DIR cargo build --release --quiet)
fi

binary() { # framework -> "ENV=... /path/to/binary" (env part may be empty)
    case $1 in
        moonpool) echo "$MOONPOOL_TARGET_DIR/release/bench" ;;
        madsim) echo "$MADSIM_TARGET_DIR/release/madsim-bench" ;;
        turmoil) echo "$PEER_TARGET_DIR/release/turmoil-bench" ;;
        turmoil-1ms) echo "TURMOIL_LATENCY=1ms $PEER_TARGET_DIR/release/turmoil-bench" ;;
        *) echo "unknown framework $1" >&2; exit 2 ;;
    esac
}

applies() { # framework workload -> true if the framework has that workload
    case "$1:$2" in
        moonpool:*) return 0 ;;
        *:W4-jobs) return 1 ;;           # moonpool only: W4 on every core
        turmoil-1ms:W3) return 1 ;;      # no network: the same as turmoil
        *) return 0 ;;
    esac
}

OUT_DIR="$HERE/runs"
RAW="$OUT_DIR/raw.txt"
mkdir -p "$OUT_DIR"
: > "$RAW"
read -r -a FWS <<< "$FRAMEWORKS"

for round in $(seq 1 "$RUNS"); do
    echo "== round $round of $RUNS" >&2
    for w in "${WORKLOADS[@]}"; do
        n=${#FWS[@]}
        for k in $(seq 0 $((n - 1))); do
            # rotate the order each round so no framework always runs first
            fw=${FWS[$(((k + round) % n))]}
            applies "$fw" "$w" || continue
            for rep in $(seq 1 "$REPEAT"); do
                # shellcheck disable=SC2046
                if line=$(env $(binary "$fw") "$w" 2>"$OUT_DIR/err.txt" | tail -n1) && [ -n "$line" ]; then
                    # the turmoil binary prints framework=turmoil; label the variant
                    line=${line/framework=turmoil /framework=$fw }
                    echo "$line round=$round rep=$rep" >> "$RAW"
                    echo "   $line" >&2
                else
                    echo "framework=$fw workload=$w status=failed round=$round rep=$rep" >> "$RAW"
                    echo "   $fw $w FAILED: $(tail -n3 "$OUT_DIR/err.txt")" >&2
                fi
            done
        done
    done
done

python3 - "$RAW" "$FRAMEWORKS" "$REPEAT" <<'PY'
import sys, statistics
raw, fws, repeat = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
rows = [dict(t.split("=", 1) for t in l.split() if "=" in t) for l in open(raw)]
failed = [r for r in rows if r.get("status") == "failed"]
# each round keeps the fastest of its REPEAT runs of a framework
best = {}
for r in rows:
    if r.get("status") == "failed":
        continue
    key = (r["framework"], r["workload"], r["round"])
    if key not in best or float(r["wall_ms"]) < float(best[key]["wall_ms"]):
        best[key] = r
workloads = list(dict.fromkeys(r["workload"] for r in rows))
unit = {"W1": "round trips/s", "W2": "round trips/s", "W3": "timer events/s", "W4": "seeds/s", "W4-jobs": "seeds/s"}

print(f"rounds per cell: the rounds that ran; each round: fastest of {repeat} run(s)")
print()
print("| workload | framework | rounds | wall ms (median) | throughput (median) | sim time (median) | wall / moonpool's (median of rounds) |")
print("|---|---|---:|---:|---:|---:|---:|")
for w in workloads:
    for fw in fws:
        rs = [r for (f, wl, _), r in best.items() if f == fw and wl == w]
        if not rs:
            continue
        walls = [float(r["wall_ms"]) for r in rs]
        tput = statistics.median(float(r["ops_per_sec"]) for r in rs)
        sim = statistics.median(float(r["sim_ms"]) for r in rs)
        ratios = []
        for r in rs:
            base = best.get(("moonpool", w, r["round"]))
            if base and fw != "moonpool":
                ratios.append(float(r["wall_ms"]) / float(base["wall_ms"]))
        ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
        sim_s = f"{sim / 1000:.2f} s" if sim >= 1000 else f"{sim:.1f} ms"
        extra = ""
        if w == "W4-jobs":
            sp = statistics.median(float(r["speedup"]) for r in rs)
            extra = f" (jobs={rs[0].get('jobs')}, speedup over W4 {sp:.2f}x)"
        print(f"| {w} | {fw} | {len(walls)} | {statistics.median(walls):,.1f} | "
              f"{tput:,.0f} {unit.get(w, 'ops/s')}{extra} | {sim_s} | {ratio} |")
for r in failed:
    print(f"FAILED: {r['framework']} {r['workload']} round {r['round']} run {r['rep']}")
PY
echo "raw lines: $RAW" >&2
