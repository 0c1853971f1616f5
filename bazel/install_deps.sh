#!/bin/sh
# Installs what frontdesk needs to build and test on Debian 12 (as root), and nothing
# when it is all there already. Idempotent; quiet unless it has work to do.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="bazel-bootstrap build-essential pkg-config
  protobuf-c-compiler libprotobuf-c-dev libh2o-evloop-dev libssl-dev openssl
  libyaml-dev libjansson-dev libpcre2-dev libgrpc-dev libcmocka-dev
  clang libclang-rt-14-dev curl ca-certificates
  prometheus"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js may come from Debian or elsewhere; only install Debian's when there is none.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
    echo "install_deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The e2e harness's npm packages (Envoy's real protos, gRPC for the xDS server).
if [ -f tests/e2e/package.json ] && [ ! -d tests/e2e/node_modules ]; then
    echo "install_deps: npm packages for tests/e2e"
    (cd tests/e2e && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
