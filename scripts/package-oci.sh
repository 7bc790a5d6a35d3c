#!/usr/bin/env bash
# Packages the trueip filter as an OCI image layout that Istio's WasmPlugin can pull (`url: oci://...`),
# without a container engine. Format: the Wasm artifact image ("oci" variant of the Wasm image spec that
# Istio's image fetcher understands): one layer holding the raw module, media type
#   application/vnd.module.wasm.content.layer.v1+wasm
# and a config blob of media type
#   application/vnd.module.wasm.config.v1+json
# Push the layout with any OCI tool, e.g. `oras cp --from-oci-layout out/oci:latest registry/trueip:TAG`
# or `skopeo copy oci:out/oci:latest docker://registry/trueip:TAG`.
#
# Usage: scripts/package-oci.sh [path/to/trueip_filter.wasm] [out-dir]   (default: builds it; out/oci)
set -euo pipefail
cd "$(dirname "$0")/.."

wasm="${1:-}"
out="${2:-out/oci}"
if [ -z "$wasm" ]; then
    cargo build --quiet -p trueip-filter --target wasm32-wasip1 --profile wasm
    wasm=target/wasm32-wasip1/wasm/trueip_filter.wasm
fi
[ -f "$wasm" ] || { echo "no such module: $wasm" >&2; exit 66; }

python3 - "$wasm" "$out" <<'PY'
import hashlib, json, os, sys

wasm_path, out = sys.argv[1], sys.argv[2]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}

module = open(wasm_path, "rb").read()
layer = put(module)
# Deterministic JSON (sorted keys, no timestamps) so the same module always gives the same digest.
config = put(json.dumps({
    "created": "1970-01-01T00:00:00Z",
    "author": "trueip",
    "platform": {"architecture": "wasm", "os": "wasip1"},
}, sort_keys=True, separators=(",", ":")).encode())
manifest = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.module.wasm.config.v1+json", **config},
    "layers": [{
        "mediaType": "application/vnd.module.wasm.content.layer.v1+wasm",
        **layer,
        "annotations": {"org.opencontainers.image.title": "plugin.wasm"},
    }],
}, sort_keys=True, separators=(",", ":")).encode()
m = put(manifest)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }]}, f, sort_keys=True)
# WasmPlugin `sha256`: for an oci:// url Istio checks the image (manifest) digest; for an http(s):// url
# it checks the module itself.
print(f"module   {layer['digest']}  {layer['size']} bytes  (WasmPlugin sha256 for an https:// url)")
print(f"manifest {m['digest']}  (WasmPlugin sha256 / @sha256 for the oci:// url)")
print(f"layout   {out}")
PY
