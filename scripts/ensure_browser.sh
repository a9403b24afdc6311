#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the map tests where missing.
# A test tool's own browser download cannot work offline; Debian's packages do.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "browser: $(chromium --version 2>/dev/null | head -n1) and chromedriver present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "browser: chromium/chromedriver missing; run as root or: apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
echo "browser: installing Debian chromium and chromium-driver"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
echo "browser: $(chromium --version | head -n1) installed"
