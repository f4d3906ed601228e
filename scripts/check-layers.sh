#!/bin/sh
# Checks the layering of the library (docs/DESIGN.md, "Layers as built"): each directory
# may use only itself and the directories listed for it below.
#   1. includes: every `#include "dir/..."` in dir's .c/.h files names an allowed dir;
#   2. symbols (when objects are given): every ag_* symbol an object of dir uses but does
#      not define is defined by an object of an allowed dir.
# Usage: check-layers.sh [OBJDIR]   (OBJDIR: build/rel, as `make lint` passes it)
# Exits 1 listing every violation. Directories not in the table are not checked.
set -u
cd "$(dirname "$0")/.."
objdir=${1:-}

# dir: the dirs it may use besides itself (runtime/ and dist/ may not exist yet).
# autograd <-> ops is the one two-way edge: ops record nodes (autograd/node.h), the walk
# runs each op's backward rule, and those rules call the public ops.
allowed() {
    case "$1" in
    tensor)      echo "" ;;
    runtime)     echo "tensor" ;;
    ops/kernels) echo "tensor runtime" ;;
    autograd)    echo "tensor runtime ops ops/kernels" ;;
    ops)         echo "tensor runtime autograd ops/kernels" ;;
    optim|data)  echo "tensor runtime autograd ops ops/kernels" ;;
    *)           echo "*" ;;
    esac
}
LAYERS="tensor runtime ops/kernels autograd ops optim data"

# The layer a path belongs to: the longest listed dir it starts with (ops/kernels/x.h is
# ops/kernels, ops/x.h is ops); other paths print nothing.
layer_of() {
    case "$1" in
    ops/kernels/*) echo ops/kernels ;;
    tensor/*|runtime/*|autograd/*|ops/*|optim/*|data/*|nn/*|dist/*) echo "${1%%/*}" ;;
    esac
}

may_use() {   # may_use FROM TO
    [ "$1" = "$2" ] && return 0
    ok=$(allowed "$1")
    [ "$ok" = "*" ] && return 0
    for d in $ok; do [ "$d" = "$2" ] && return 0; done
    return 1
}

bad=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for layer in $LAYERS; do
    [ -d "$layer" ] || continue
    for f in "$layer"/*.c "$layer"/*.h "$layer"/*.def; do
        [ -f "$f" ] || continue
        [ "$(layer_of "$f")" = "$layer" ] || continue
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
        while IFS= read -r line; do
            inc=$(printf '%s\n' "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
            to=$(layer_of "$inc")
            [ -n "$to" ] || continue
            may_use "$layer" "$to" ||
                echo "layers: $f:${line%%:*}: $layer/ includes $inc ($to/ is above it)"
        done
    done
done > "$tmp/includes"
if [ -s "$tmp/includes" ]; then cat "$tmp/includes"; bad=1; fi

if [ -n "$objdir" ]; then
    for layer in $LAYERS; do
        set -- "$objdir/$layer"/*.o
        [ -f "$1" ] || continue
        nm --defined-only "$@" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u > "$tmp/def.$(echo "$layer" | tr / _)"
    done
    for layer in $LAYERS; do
        set -- "$objdir/$layer"/*.o
        [ -f "$1" ] || continue
        ok=$(allowed "$layer")
        : > "$tmp/ok"
        for d in $layer $ok; do
            f="$tmp/def.$(echo "$d" | tr / _)"
            [ -f "$f" ] && cat "$f" >> "$tmp/ok"
        done
        sort -u "$tmp/ok" -o "$tmp/ok"
        for o in "$@"; do
            nm -u "$o" | awk '{print $2}' | grep '^ag_' | sort -u |
                comm -23 - "$tmp/ok" |
                while read -r sym; do
                    echo "layers: $o uses $sym, defined above $layer/"
                done
        done
    done > "$tmp/out"
    if [ -s "$tmp/out" ]; then cat "$tmp/out"; bad=1; fi
fi

if [ $bad = 0 ]; then echo "layers: ok (includes${objdir:+ and symbols of $objdir})"; fi
exit $bad
