#!/usr/bin/env bash
# Installs what ESS needs on a fresh Debian machine with Node 20: pnpm, and with --system the
# Debian packages the tests use (Chromium for Playwright, XRootD, nginx, Redis). Idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" != "20" ]; then
  echo "ESS needs Node 20 (its uWebSockets.js binary is built for Node 20's ABI); found $(node --version 2>/dev/null || echo none)." >&2
  exit 1
fi

if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: installing pnpm 10"
  $SUDO npm install -g pnpm@10 >/dev/null
fi

if [ "${1:-}" = "--system" ]; then
  packages=(chromium xrootd-server xrootd-client nginx-light redis-server curl)
  missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # The packaged services must not hold the ports or files the tests use.
  for s in nginx redis-server xrootd@clustered; do $SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true; done
fi
