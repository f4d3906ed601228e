#!/bin/sh
# Every examples/*.c starts with "/* Build: <cc line> */": run that line, as written, in a
# scratch copy of examples/ against an installed ag (pkg-config pointed at ROOT), and fail
# when a file lacks the line or the line does not build.
# Usage: build-examples-standalone.sh ROOT PKGCONFIGDIR OUTDIR
set -eu
root=$1 pcdir=$2 out=$3
cd "$(dirname "$0")/.."
rm -rf "$out" && mkdir -p "$out" && cp examples/*.c examples/*.h "$out"/
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$pcdir"
n=0
for f in examples/*.c; do
  line=$(sed -n '1s|^/\* Build: \(.*\) \*/$|\1|p' "$f")
  [ -n "$line" ] || { echo "$f: the first line is not '/* Build: <cc line> */'"; exit 1; }
  case "$line" in *ag-dist*)   # libag_dist is installed only where Open MPI is
    [ -f "$pcdir/ag-dist.pc" ] || { echo "$f: skipped (libag_dist not installed: no Open MPI)"; continue; } ;;
  esac
  (cd "$out" && sh -c "$line -Wall -Werror") || { echo "$f: '$line' failed"; exit 1; }
  n=$((n + 1))
done
echo "examples: $n built standalone by their own Build: lines"
