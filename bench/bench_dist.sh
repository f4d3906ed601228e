#!/bin/sh
# make bench-dist: bench/bench_dist.c under mpirun (shared memory). The all-reduce against
# a raw MPI_Allreduce of the same bytes; per model the step split into compute and
# communication, the overlap DDP achieves, a bucket-size sweep, both progress modes, and
# 2 ranks x 1 thread against 1 process x 2 threads at the same global batch; ZeRO-1's
# optimizer memory per rank against plain Adam.
# Output goes to stdout and $B/bench-dist.txt.
B=${1:-build}
root=""; [ "$(id -u)" = 0 ] && root=--allow-run-as-root
M="mpirun $root --oversubscribe --mca btl self,vader -x OMP_NUM_THREADS -x AG_THREADS -x AG_DDP_PROGRESS"
export AG_DDP_PROGRESS=poll
{
echo "bench-dist on $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== deterministic all-reduce-mean vs MPI_Allreduce(MPI_SUM), float32, 2 ranks (ratio = MPI time / ours)"
OMP_NUM_THREADS=1 AG_THREADS=1 $M -np 2 "$B/bench_dist" allreduce
for mb in mlp:128 cnn:64; do
    model=${mb%%:*}; gb=${mb#*:}
    echo "== $model: 1 process x 2 threads"
    OMP_NUM_THREADS=2 AG_THREADS=2 $M -np 1 "$B/bench_dist" step "$model" "$gb" 25
    echo "== $model: 2 ranks x 1 thread, poll progress, bucket caps"
    OMP_NUM_THREADS=1 AG_THREADS=1 $M -np 2 "$B/bench_dist" step "$model" "$gb" 0.1 0.5 2 25
    echo "== $model: 2 ranks x 1 thread, thread progress"
    AG_DDP_PROGRESS=thread OMP_NUM_THREADS=1 AG_THREADS=1 $M -np 2 "$B/bench_dist" step "$model" "$gb" 0.1 0.5 2 25
done
echo "== ZeRO-1 against plain data-parallel Adam"
for np in 2 4; do for model in mlp cnn; do
    OMP_NUM_THREADS=1 AG_THREADS=1 $M -np $np "$B/bench_dist" zero $model
done; done
} 2>&1 | tee "$B/bench-dist.txt"
