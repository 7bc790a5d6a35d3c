# Shared helpers for scripts/: install what the tests and benchmarks need, idempotently.
# Sourced, not executed.

# The wasm filter and the wasm clippy pass need the wasm32-wasip1 standard library.
ensure_rust_targets() {
    if ! rustup target list --installed | grep -qx wasm32-wasip1; then
        rustup target add wasm32-wasip1
    fi
}

# Debian packages used by tests: real protocol peers and network tooling.
# Add a package here only when a test needs it.
# haproxy: PROXY protocol interop tests (send-proxy-v2 / accept-proxy) and the proxy benchmark.
# iproute2, nftables, iptables, util-linux: transparent-proxy tests (namespaces and veths, TPROXY
# rules with either backend, setpriv to drop capabilities for the failure-mode test).
TRUEIP_DEBIAN_PACKAGES=(haproxy iproute2 nftables iptables util-linux)

# With arguments, ensures those packages instead (e.g. the benchmark's extra peers).
ensure_debian_packages() {
    local missing=()
    local pkg
    local wanted=("${TRUEIP_DEBIAN_PACKAGES[@]}")
    if [ $# -gt 0 ]; then wanted=("$@"); fi
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
