#!/bin/sh
# threads_busy.sh — bench/threads_busy.c at 2 threads: ag's own pool (runtime/parallel.c)
# under AG_SPIN_US settings, against the libgomp build it replaced under OpenMP wait
# settings, on the machine as it is ("quiet"), with one competing busy-loop process
# ("loaded") and with three ("3 busy").  Settings alternate within each round; each cell is
# the median over rounds of a run's mean step (what an epoch costs).  Usage (from the
# repository root):
#   make build/libag.a
#   git worktree add /tmp/ag_omp da91077 && make -C /tmp/ag_omp build/libag.a  # optional:
#   OLD=/tmp/ag_omp/build/libag.a sh bench/threads_busy.sh [rounds] > bench/results/threads_busy.md
# OLD is a libag.a built with -fopenmp (the last one: commit da91077); without it only the
# pool's rows are measured.  CPUS=0,1 pins every process (bench and busy loop) to those
# CPUs with taskset, to make a 2-CPU machine out of a bigger one.
set -e
rounds=${1:-5}
pin=""
[ -n "$CPUS" ] && pin="taskset -c $CPUS"
cc -std=c11 -O2 -pthread -Iinclude -I. -D_GNU_SOURCE bench/threads_busy.c build/libag.a \
   -lsleef -lz -lm -o build/threads_busy
labels="pool-default pool-spin0 pool-spin10 pool-spin200 pool-spin1000 pool-1thread"
if [ -n "$OLD" ]; then
    cc -std=c11 -O2 -fopenmp -Iinclude -I. -D_GNU_SOURCE bench/threads_busy.c "$OLD" \
       -lsleef -lz -lm -o build/threads_busy_omp
    labels="$labels omp-default omp-passive omp-spin1000 omp-spin10000"
fi
setting() { # a label's environment assignment and binary
    case $1 in
    pool-default) echo "X=1 build/threads_busy" ;;
    pool-spin*) echo "AG_SPIN_US=${1#pool-spin} build/threads_busy" ;;
    pool-1thread) echo "AG_NUM_THREADS=1 build/threads_busy" ;;
    omp-default) echo "X=1 build/threads_busy_omp" ;;
    omp-passive) echo "OMP_WAIT_POLICY=PASSIVE build/threads_busy_omp" ;;
    omp-spin*) echo "GOMP_SPINCOUNT=${1#omp-spin} build/threads_busy_omp" ;;
    esac
}
tmp=$(mktemp -d)
run_all() { # $1: quiet|loaded, $2: mode (mlp|gemm); appends each label's median
    for l in $labels; do
        s=$(setting "$l")
        env OMP_NUM_THREADS=2 "${s% *}" $pin "${s#* }" "$2" > "$tmp/run"
        cut -d' ' -f2 "$tmp/run" >> "$tmp/$l.$1.$2"
        cut -d' ' -f1 "$tmp/run" >> "$tmp/$l.$1.$2.med"
    done
}
r=0
while [ "$r" -lt "$rounds" ]; do
    run_all quiet mlp
    run_all quiet gemm
    $pin sh -c 'while :; do :; done' & busy=$!
    run_all loaded mlp
    $pin sh -c 'while :; do :; done' & busy2=$!
    $pin sh -c 'while :; do :; done' & busy3=$!
    run_all busy3 mlp
    kill "$busy" "$busy2" "$busy3"
    labels=$(echo "$labels" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}') # alternate
    r=$((r + 1))
done
median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
cols="quiet.mlp loaded.mlp busy3.mlp quiet.gemm"
best() { for l in $labels; do median "$tmp/$l.$1"; done | sort -n | head -1; }
cell() { # mean, median, and the mean's ratio to the column's best mean
    m=$(median "$tmp/$1.$2")
    printf '%s (%s) %sx' "$m" "$(median "$tmp/$1.$2.med")" \
        "$(awk -v a="$m" -v b="$(best "$2")" 'BEGIN {printf "%.2f", a / b}')"
}
echo "# Threads on a busy machine: ms per step at 2 threads, ag's pool against libgomp"
echo
echo "Command: \`${CPUS:+CPUS=$CPUS }OLD=... sh bench/threads_busy.sh $rounds\` ($(date -u +%F), $(nproc) CPUs of"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)."
echo "Each cell: the median over $rounds rounds of each"
echo "run's mean step (what an epoch costs), then in brackets the median over rounds of each"
echo "run's median step, then the mean's ratio to the best setting in that column. 'loaded'"
echo "adds one busy-loop process, '3 busy' three. mlp: MLP 784-256-128-10 step, batch 128,"
echo "fwd+bwd; gemm: one float32 GEMM n=256."
echo
echo "| setting | mlp quiet | mlp loaded | mlp 3 busy | gemm256 quiet |"
echo "|---|---|---|---|---|"
for l in $(echo "$labels" | tr ' ' '\n' | sort); do
    printf '| %s |' "$l"
    for c in $cols; do printf ' %s |' "$(cell "$l" "$c")"; done
    echo
done
rm -rf "$tmp"
