#!/bin/sh
# Builds and runs an example through find_package(ag) against an installed tree.
# Usage: consume.sh PREFIX LIBDIR BUILDDIR EXAMPLE.c
set -eu
prefix=$1 libdir=$2 dir=$3 example=$(realpath "$4")
cd "$(dirname "$0")/../.."
cmake -S tests/cmake -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DAG_EXAMPLE="$example" \
  -DCMAKE_C_FLAGS="-Wall -Werror" >"$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
grep 'ag .* from' "$dir.log"
cmake --build "$dir" -- -s >>"$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
echo "find_package(ag): ag::ag"; LD_LIBRARY_PATH="$libdir" "$dir/linreg_cmake"
echo "find_package(ag): ag::ag_static"; "$dir/linreg_cmake_static"
