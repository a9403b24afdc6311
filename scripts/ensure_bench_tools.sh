#!/usr/bin/env bash
# The command-line peers of `make bench`, where missing: GDAL's ogr2ogr
# (Debian gdal-bin), which the ingest benchmarks load the same CSV with.
# The Python peers (KDEpy, dbscan, GeoPandas' SQLAlchemy and GeoAlchemy2) come
# from the project's `bench` extra. Never needed by the product or its tests.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

say() { echo "ensure_bench_tools: $*"; }
die() { echo "ensure_bench_tools: ERROR: $*" >&2; exit 1; }

if command -v ogr2ogr >/dev/null; then
    say "$(ogr2ogr --version)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    die "ogr2ogr is missing and this is not root; run: sudo apt-get install -y gdal-bin"
fi
command -v apt-get >/dev/null || die "ogr2ogr is missing and apt-get too; install GDAL by hand"
say "apt-get update"
apt-get update -qq >/dev/null
say "apt-get install -y gdal-bin"
apt-get install -y -qq --no-install-recommends gdal-bin >/dev/null
say "$(ogr2ogr --version)"
