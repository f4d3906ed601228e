#!/bin/sh
# The dynamic symbols a shared library exports are its public API, nothing more:
#  - every defined dynamic symbol is a function or object declared in the public header,
#    or an internal marked AG__EXPORT (the few libag_dist.so calls), or a toolchain name;
#  - every function the public header declares is exported.
# Usage: check-symbols.sh LIB.so HEADER.h [CC [BASE.h]]   (make check-symbols runs it per
# library; BASE.h: a header HEADER.h includes whose functions another library exports)
set -u
lib=$1 header=$2 cc=${3:-cc} base=${4:-}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT

# What the library exports (defined, dynamic), names only, without symbol versions.
nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$tmp/exported"
# What the header declares: names followed by '(' in the preprocessed header (comments
# gone; function-pointer typedefs read "(*name)(" and do not match).
echo "#include <$(basename "$header")>" | "$cc" -E -P -Iinclude -I"$(dirname "$header")" - \
  | grep -o '\bag_[a-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' | sort -u >"$tmp/declared"
if [ -n "$base" ]; then
  echo "#include <$(basename "$base")>" | "$cc" -E -P -Iinclude -I"$(dirname "$base")" - \
    | grep -o '\bag_[a-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' | sort -u >"$tmp/base"
  comm -23 "$tmp/declared" "$tmp/base" >"$tmp/own" && mv "$tmp/own" "$tmp/declared"
fi
# Internals exported on purpose, as their declarations say.
grep -rhoE 'AG__EXPORT[^(]*\bag__[a-z0-9_]+\(' --include='*.h' . 2>/dev/null \
  | grep -oE 'ag__[a-z0-9_]+' | sort -u >"$tmp/friends"
printf '%s\n' _init _fini _edata _end __bss_start | sort >"$tmp/toolchain"

sort -u "$tmp/declared" "$tmp/friends" "$tmp/toolchain" >"$tmp/allowed"
extra=$(comm -23 "$tmp/exported" "$tmp/allowed")
# Functions only: a declared name the library does not define at all is missing.
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
status=0
if [ -n "$extra" ]; then
  echo "check-symbols: $lib exports names that are not public API:"; echo "$extra" | sed 's/^/  /'
  status=1
fi
if [ -n "$missing" ]; then
  echo "check-symbols: $lib does not export these functions $header declares:"
  echo "$missing" | sed 's/^/  /'; status=1
fi
[ $status = 0 ] && echo "check-symbols: $lib exports $(wc -l <"$tmp/exported") symbols:" \
  "$(grep -c '^ag_[^_]' "$tmp/exported") public ag_ names, $(grep -c '^ag__' "$tmp/exported") AG__EXPORT internals ($(tr '\n' ' ' <"$tmp/friends"))"
exit $status
