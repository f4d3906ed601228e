#!/bin/sh
# Zoo benchmark (/work/ZOO_BENCH.md): each zoo example build/examples/NAME and its PyTorch
# twin examples/torch/NAME.py run `--bench STEPS` at 1 and 2 threads, ag and torch
# alternating, REPS repetitions each; bench/results/zoo_NAME.md gets a markdown table of the
# medians (step ms, ag/torch ratio, epoch seconds, peak RSS and its ratio), the CPU model,
# the date, the load and the command. A "## Notes" section already in that file (a profile,
# remarks) is kept below the new table.
# Usage: bench/zoo_bench.sh [NAME...]   (default: the ZOO list of mk/zoo.mk)
#   STEPS (default 20), REPS (default 3), THREADS (default "1 2"), PYTHON (/usr/bin/python3),
#   NOTE: a line written under the table (for example "the machine was shared with ...").
set -eu
cd "$(dirname "$0")/.."
STEPS=${STEPS:-20} REPS=${REPS:-3} THREADS=${THREADS:-"1 2"} PYTHON=${PYTHON:-/usr/bin/python3}
names=$*
[ -n "$names" ] || names=$(sed -n 's/^ZOO := //p' mk/zoo.mk)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# field KEY < line: the value of KEY=value in a "bench NAME: ..." line
field() { sed -n "s/.*[ :]$1=\([0-9.]*\).*/\1/p"; }
# median of the numbers on stdin, one a line
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# run SIDE NAME THREADS: one bench line appended to $tmp/SIDE.NAME.THREADS
run() {
  if [ "$1" = ag ]; then
    line=$(OMP_NUM_THREADS=$3 "build/examples/$2" --bench "$STEPS" | grep "^bench ")
  else
    line=$(OMP_NUM_THREADS=$3 "$PYTHON" "examples/torch/$2.py" --bench "$STEPS" | grep "^bench ")
  fi
  [ -n "$line" ] || { echo "zoo_bench: $1 $2 printed no bench line" >&2; exit 1; }
  echo "  $1 t=$3: $line" >&2
  echo "$line" >>"$tmp/$1.$2.$3"
  echo "- $1, $3 thread(s): \`$line\`" >>"$tmp/runs.$2"
}

# stat SIDE NAME THREADS KEY: the median of KEY over the repetitions
stat() { field "$4" <"$tmp/$1.$2.$3" | median; }

report() {
  name=$1 out=bench/results/zoo_$1.md
  notes=""
  [ -f "$out" ] && notes=$(sed -n '/^## Notes/,$p' "$out")
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  {
    echo "# Zoo benchmark: $name"
    echo
    echo "\`STEPS=$STEPS REPS=$REPS THREADS=\"$THREADS\" bench/zoo_bench.sh $name\` on $(date -u '+%Y-%m-%d %H:%M UTC'),"
    echo "$cpu ($(nproc) cores), load average at the start $load. Each cell: the median of $REPS runs"
    echo "of 3 warm-up + $STEPS timed steps (the median step of each run), ag and torch alternating."
    echo
    echo "| threads | ag step ms | torch step ms | ag/torch | ag epoch s | torch epoch s | ag peak RSS MiB | torch peak RSS MiB | RSS ag/torch |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for t in $THREADS; do
      a=$(stat ag "$name" "$t" step_ms) b=$(stat torch "$name" "$t" step_ms)
      ae=$(stat ag "$name" "$t" epoch_s) be=$(stat torch "$name" "$t" epoch_s)
      ar=$(stat ag "$name" "$t" peak_rss_mib) br=$(stat torch "$name" "$t" peak_rss_mib)
      awk -v t="$t" -v a="$a" -v b="$b" -v ae="$ae" -v be="$be" -v ar="$ar" -v br="$br" 'BEGIN {
        printf "| %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.0f | %.0f | %.2f |\n", t, a, b, a / b, ae, be, ar, br, ar / br }'
    done
    echo
    echo "steps per epoch: $(head -1 "$tmp/ag.$name.$(echo $THREADS | cut -d' ' -f1)" | field steps_per_epoch)"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    [ -z "${NOTE:-}" ] || { echo; echo "$NOTE"; }
    echo
    echo "Every run, in the order run:"
    echo
    cat "$tmp/runs.$name"
    [ -z "$notes" ] || { echo; echo "$notes"; }
  } >"$out"
  echo "zoo_bench: wrote $out" >&2
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
for name in $names; do
  make -s --no-print-directory "build/examples/$name" >/dev/null
  [ -f "examples/torch/$name.py" ] || { echo "zoo_bench: no examples/torch/$name.py" >&2; exit 1; }
  echo "zoo_bench: $name" >&2
  for t in $THREADS; do
    r=0
    while [ $r -lt "$REPS" ]; do
      run ag "$name" "$t"
      run torch "$name" "$t"
      r=$((r + 1))
    done
  done
  report "$name"
done
