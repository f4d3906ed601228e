#!/bin/sh
# make test-dist: the MPI tests under mpirun with 2 and 4 ranks over shared memory (vader)
# and TCP over loopback, both progress modes, a second run to compare bits, and the failure
# cases (a rank killed, aborting, exiting, hanging: the job must end within seconds with a
# message naming the rank). Ends with "N passed, N failed" (cases over all runs).
B=${1:-build}
T=$B/tests/dist
export OMP_NUM_THREADS=1
root=""; [ "$(id -u)" = 0 ] && root=--allow-run-as-root
MPIRUN="mpirun $root --oversubscribe --mca btl_tcp_if_include lo -x OMP_NUM_THREADS"
pass=0; fail=0; hashes=$(mktemp); out=$(mktemp)
trap 'rm -f $hashes $out' EXIT

ok()  { pass=$((pass + 1)); echo "  ok    $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL  $*"; }

# one program's run: its "N passed, N failed" line is added up
program() {   # prog np btl [env]
    env ${4:-AG_DIST_X=} timeout 300 $MPIRUN -x AG_DDP_PROGRESS -x AG_DIST_ALGO -np "$2" --mca btl "$3" \
        "$T/$1" >"$out" 2>&1
    rc=$?
    sed 's/^/  | /' "$out" | grep -v -e '^  | -*$' | tail -n 40
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        bad "$1 np=$2 $3: exit $rc without a summary"
    elif [ $rc -ne 0 ] && [ "${line#* passed, }" = "0 failed" ]; then
        bad "$1 np=$2 $3: exit $rc after all cases passed"
    fi
    if [ -n "$line" ]; then
        pass=$((pass + ${line%% passed*})); f=${line#* passed, }; fail=$((fail + ${f%% failed}))
    fi
}

# test_dist and test_dist_train; test_dist's "params-hash" line goes to $hashes per world size
suite() {   # np btl [env]
    echo "== $1 ranks, btl $2 ${3:-}"
    program test_dist_train "$@"
    program test_dist "$@"
    h=$(sed -n 's/^params-hash //p' "$out")
    [ -n "$h" ] && echo "$1 $h $2 ${3:-}" >>"$hashes"
}

export AG_DDP_PROGRESS=poll AG_DIST_ALGO=p2p
for np in 2 4; do
    for btl in self,vader self,tcp; do suite $np $btl; done
    suite $np self,vader                          # the second run: same bits?
    suite $np self,vader AG_DDP_PROGRESS=thread   # the communication thread
    suite $np self,tcp AG_DIST_ALGO=coll          # MPI_Ialltoallv + MPI_Iallgatherv
done

echo "== the same parameters, bit for bit, across runs, transports and progress modes"
for np in 2 4; do
    n=$(awk -v n=$np '$1 == n' "$hashes" | wc -l)
    d=$(awk -v n=$np '$1 == n {print $2}' "$hashes" | sort -u | wc -l)
    if [ "$n" -eq 5 ] && [ "$d" -eq 1 ]; then ok "np=$np: 5 runs, one hash"
    else bad "np=$np: $n runs, $d different hashes"; awk -v n=$np '$1 == n' "$hashes"; fi
done

# failure <mode> <regex the output must hold>: the job must end non-zero within 30 s
failure() {
    start=$(date +%s)
    AG_DIST_TIMEOUT=3 timeout 60 $MPIRUN -x AG_DIST_TIMEOUT -np 4 --mca btl self,vader \
        "$T/test_dist_fail" "$1" >"$out" 2>&1
    rc=$?; el=$(( $(date +%s) - start ))
    msg=$(grep -E "$2" "$out" | head -n 1)
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $el -le 30 ] && [ -n "$msg" ]; then
        ok "rank 1 $1: job ended in ${el} s (exit $rc): $msg"
    else
        bad "rank 1 $1: exit $rc after ${el} s, message ${msg:-missing}"; sed 's/^/  | /' "$out"
    fi
}
echo "== a failing rank ends the job with a message naming it (4 ranks)"
failure kill  'process rank 1 .*signal 9'
failure abort '^ag_dist: rank 1: ag_load_idx: '
failure exit  'Process name: \[\[[0-9]+,1\],1\]'
failure hang  '^ag_dist: rank [023]: ag_ddp_sync: .*: nothing from rank 1 in 3 s: rank 1 is hung or gone'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
