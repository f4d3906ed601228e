#!/bin/sh
# threads_busy.sh — bench/threads_busy.c at 2 threads under OpenMP wait policies, on the
# machine as it is ("quiet") and with one competing busy-loop process ("loaded").
# Usage (from the repository root, after `make build/libag.a`):
#   sh bench/threads_busy.sh > bench/results/threads_busy.md
set -e
cc -std=c11 -O2 -fopenmp -Iinclude -I. -D_GNU_SOURCE bench/threads_busy.c build/libag.a \
   -lsleef -lz -lm -o build/threads_busy
run() {   # $1: label, rest: env assignments
    label=$1; shift
    q=$(env OMP_NUM_THREADS=2 "$@" build/threads_busy)
    sh -c 'while :; do :; done' & busy=$!
    l=$(env OMP_NUM_THREADS=2 "$@" build/threads_busy)
    kill "$busy"
    echo "| $label | $(echo "$q" | cut -d' ' -f1) | $(echo "$q" | cut -d' ' -f2) | $(echo "$l" | cut -d' ' -f1) | $(echo "$l" | cut -d' ' -f2) |"
}
echo "# MLP step (784-256-128-10, batch 128, fwd+bwd) at 2 threads: ms per step"
echo
echo "Command: \`sh bench/threads_busy.sh\` ($(date -u +%F), $(nproc) CPUs, machine shared"
echo "with other jobs: 'quiet' is the machine as it was, 'loaded' adds one busy-loop process)."
echo
echo "| setting | quiet median | quiet mean | loaded median | loaded mean |"
echo "|---|---|---|---|---|"
run "default (libgomp)" X=1
run "OMP_WAIT_POLICY=ACTIVE" OMP_WAIT_POLICY=ACTIVE
run "OMP_WAIT_POLICY=PASSIVE" OMP_WAIT_POLICY=PASSIVE
for n in 0 1000 10000 100000 1000000; do run "GOMP_SPINCOUNT=$n" GOMP_SPINCOUNT=$n; done
run "1 thread (no team)" OMP_NUM_THREADS=1
