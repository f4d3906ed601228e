#!/bin/sh
# Checks for the Debian packages a target needs; installs them when run as root,
# otherwise prints the one apt-get line to run. Usage: deps.sh build|bench|demo|dist
set -e
want="libsleef-dev libcriterion-dev zlib1g-dev pkg-config"
case "$1" in
  bench) want="$want libopenblas-dev gnuplot-nox python3-torch python3-numpy" ;;
  demo)  want="$want gnuplot-nox dataset-fashion-mnist" ;;
  dist)  want="$want openmpi-bin libopenmpi-dev" ;;   # libag_dist, make test-dist
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q $missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
else
  echo "deps: missing Debian packages; run:"
  echo "  sudo apt-get install -y$missing"
  [ "$1" = demo ] && exit 0   # demo falls back to generated data
  exit 1
fi
