//! Locating the real `.wasm` a test loads.
//!
//! `TRUEIP_<CRATE>_WASM` (e.g. `TRUEIP_FILTER_WASM`) names a prebuilt file; `scripts/test.sh` sets
//! nothing and lets this build it. Otherwise the crate is built with
//! `cargo build -p <package> --target wasm32-wasip1 --profile wasm` into `target/harness-wasm` — its
//! own target directory, so it never waits on the lock of the `cargo test` that runs the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a `.wasm` could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// cargo could not be started.
    #[error("cannot run cargo for {package}: {source}")]
    Spawn {
        /// The package.
        package: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// cargo failed; stderr is included.
    #[error("building {package} for wasm32-wasip1 failed: {stderr}")]
    Failed {
        /// The package.
        package: String,
        /// cargo's stderr.
        stderr: String,
    },
    /// The named or built file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns the bytes of `package`'s `.wasm` (`trueip-filter` → `trueip_filter.wasm`), building it
/// if no prebuilt file is named in the environment.
pub fn wasm_module(package: &str) -> Result<Vec<u8>, BuildError> {
    let var = format!(
        "TRUEIP_{}_WASM",
        package
            .trim_start_matches("trueip-")
            .replace('-', "_")
            .to_ascii_uppercase()
    );
    let path = match std::env::var_os(&var) {
        Some(p) => PathBuf::from(p),
        None => build(package)?,
    };
    std::fs::read(&path).map_err(|source| BuildError::Read { path, source })
}

fn build(package: &str) -> Result<PathBuf, BuildError> {
    let root = workspace_root();
    let target_dir = root.join("target/harness-wasm");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "-p",
            package,
            "--target",
            "wasm32-wasip1",
            "--profile",
            "wasm",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .map_err(|source| BuildError::Spawn {
            package: package.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(BuildError::Failed {
            package: package.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(target_dir
        .join("wasm32-wasip1/wasm")
        .join(format!("{}.wasm", package.replace('-', "_"))))
}
