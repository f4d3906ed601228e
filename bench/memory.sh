#!/bin/sh
# memory.sh — peak RSS (getrusage ru_maxrss, through GNU time's %M) of the Fashion-MNIST MLP
# and CNN examples beside their PyTorch peers (/work/shared/peers or $PEERS), one epoch,
# one thread each. Peak memory does not depend on the epoch count once an epoch has run.
# Usage (from the repository root, after `make examples`):
#   sh bench/memory.sh > bench/results/memory.md
set -e
PEERS=${PEERS:-/work/shared/peers}
out=$(mktemp -d) && trap 'rm -rf "$out"' EXIT
rss() { # prints the peak RSS in MiB of the command given
    /usr/bin/time -f '%M' -o "$out/rss" "$@" >/dev/null 2>&1
    awk '{printf "%.1f", $1 / 1024}' "$out/rss"
}
row() { # $1: model, $2: ag example, $3...: the peer's arguments
    name=$1 ex=$2; shift 2
    a=$(EPOCHS=1 VERBOSE=-1 OMP_NUM_THREADS=1 rss "build/examples/$ex" "$out")
    t=$(cd "$PEERS" && rss /usr/bin/python3 "$@")
    echo "| $name | $a | $t | $(echo "$a $t" | awk '{printf "%.2fx", $1 / $2}') |"
}
echo "# Peak RSS: ag examples vs their PyTorch peers"
echo
echo "\`sh bench/memory.sh\` on $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'),"
echo "$(nproc) CPUs shared with other jobs (memory does not depend on the load). One epoch,"
echo "one thread; ag reads Fashion-MNIST as bytes (AG_U8), the peers as float32 arrays."
echo
echo "| model | ag MiB | torch MiB | ag / torch |"
echo "|---|---|---|---|"
row "MLP 784-256-128-10, batch 128" mlp_fashion mlp_fmnist.py 1 1
row "CNN conv32-pool-conv64-pool-fc128, batch 128" cnn_fashion cnn_fmnist.py 1 epochs 1
