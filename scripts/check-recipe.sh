#!/bin/sh
# Proves CONTRIBUTING.md's "Add an op" recipe still works (make check-recipe; CI runs it).
# In a temporary copy of the tree it applies the recipe's code blocks verbatim: each block
# follows a marker `<!-- check-recipe: ACTION PATH -->`, where ACTION is
#   append                PATH gets the block at its end (a new file is created)
#   before-cplusplus-end  the block goes before PATH's last `#ifdef __cplusplus` (ag.h)
# then builds, runs the new op's own tests and the op table tests, and finally breaks the
# op's backward rule to show the table's gradcheck catches it, naming the op.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
op=square2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() { echo "check-recipe: $*"; }
fail() { say "FAILED: $*"; [ -f "$tmp/log" ] && tail -40 "$tmp/log"; exit 1; }

# 1. a copy of the tree (tracked and new files, no build outputs)
cd "$root"
if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$tmp"
else
    tar -cf - --exclude=./build . | tar -xf - -C "$tmp"
fi
mkdir -p "$tmp/tree" && (cd "$tmp" && find . -mindepth 1 -maxdepth 1 ! -name tree \
    -exec mv {} tree/ \;)
cd "$tmp/tree"

# 2. the recipe's blocks, in order
mkdir -p "$tmp/blocks"
awk -v dir="$tmp/blocks" '
    /<!-- check-recipe: [a-z-]+ [^ ]+ -->/ {
        n++; act = $3; path = $4; want = 1; next }
    want && /^[ \t]*```/ {
        if (!inside) { inside = 1; match($0, /^[ \t]*/); ind = RLENGTH
                       f = dir "/" n; print act, path > (dir "/list." n); next }
        inside = 0; want = 0; close(f); next }
    inside { print substr($0, ind + 1) > f }
' CONTRIBUTING.md
count=$(ls "$tmp/blocks" | grep -c '^list\.' || true)
[ "$count" -ge 4 ] || fail "found $count marked blocks in CONTRIBUTING.md, expected 4"
i=1
while [ -f "$tmp/blocks/list.$i" ]; do
    read -r act path < "$tmp/blocks/list.$i"
    mkdir -p "$(dirname "$path")"
    case "$act" in
    append) cat "$tmp/blocks/$i" >> "$path" ;;
    before-cplusplus-end)
        line=$(grep -n '^#ifdef __cplusplus' "$path" | tail -1 | cut -d: -f1)
        [ -n "$line" ] || fail "$path has no #ifdef __cplusplus"
        { head -n $((line - 1)) "$path"; cat "$tmp/blocks/$i"; echo; tail -n +"$line" "$path"; } \
            > "$tmp/edit" && mv "$tmp/edit" "$path" ;;
    *) fail "unknown action '$act' in CONTRIBUTING.md" ;;
    esac
    say "applied block $i: $act $path"
    i=$((i + 1))
done

# 3. build and run the op's tests and the table tests
run_tests() {   # run_tests FILTER: prints Criterion's output
    build/test_rel --filter "$1" -j2 --short-filename > "$tmp/log" 2>&1
}
say "building in $tmp/tree (make -j2 build/test_rel)"
make -j2 build/test_rel > "$tmp/log" 2>&1 || fail "the build"
run_tests "$op/*" || fail "the $op tests"
grep -q 'Tested: 2 | Passing: 2 | Failing: 0' "$tmp/log" || fail "expected 2 passing $op tests"
say "$op/*: $(grep -o 'Tested: [0-9]* | Passing: [0-9]*' "$tmp/log")"
run_tests 'optable/*' || fail "the op table tests with $op in the table"
say "optable/* with $op: $(grep -o 'Tested: [0-9]* | Passing: [0-9]*' "$tmp/log")"

# 4. the table tests see the op: a wrong backward (3x instead of 2x) must fail by name
sed -i 's/ag_mul_scalar(node->in\[0\], 2\.0)/ag_mul_scalar(node->in[0], 3.0)/' "ops/$op.c"
grep -q '3\.0)' "ops/$op.c" || fail "could not break ops/$op.c's backward rule"
make -j2 build/test_rel > "$tmp/log" 2>&1 || fail "the build with the broken backward"
if run_tests 'optable/*'; then fail "gradcheck passed a wrong backward rule for $op"; fi
grep -q "$op variant 0: gradient wrong" "$tmp/log" ||
    fail "the table tests failed, but not naming $op's gradient"
say "a wrong $op backward fails the table's gradcheck: ok"
say "ok: the op recipe in CONTRIBUTING.md builds, tests, and is checked by the table"
