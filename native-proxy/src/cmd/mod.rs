//! The `trueip` subcommands. Each module owns one subcommand; `main.rs` only dispatches.

pub(crate) mod check_config;
pub(crate) mod echo;
pub(crate) mod explain;
pub(crate) mod loadgen;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod sysexits;
pub(crate) mod tproxy;

use std::path::Path;

use trueip::{Config, ConfigError};

/// Why a configuration could not be had: unreadable file or invalid content. Both are reported before anything runs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The content is not a valid configuration.
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        #[source]
        source: ConfigError,
    },
}

impl LoadError {
    /// The sysexits code for this error: 66 when the file is missing or unreadable, 64 when it is invalid.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            LoadError::Read { .. } => sysexits::EX_NOINPUT,
            LoadError::Invalid { .. } => sysexits::EX_USAGE,
        }
    }

    /// A stable label for `--format json` output.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            LoadError::Read { .. } => "config_unreadable",
            LoadError::Invalid { .. } => "config_invalid",
        }
    }
}

/// A configuration compiled into the binary, used when no file is given.
pub(crate) struct Embedded {
    /// How messages name it.
    pub(crate) name: &'static str,
    /// The JSON text.
    pub(crate) json: &'static str,
}

/// The bundled policy (`testdata/configs/default.json`): what `explain` decides with when no file is given.
pub(crate) const BUNDLED_POLICY: Embedded = Embedded {
    name: "<bundled default>",
    json: trueip::config::DEFAULT_JSON,
};

/// The demo `trueip run` serves without `--config`: a listener in front of the built-in echo upstream.
pub(crate) const DEMO_PROXY: Embedded = Embedded {
    name: "<embedded demo configuration>",
    json: trueip_proxy::DEFAULT_CONFIG,
};

/// Loads the configuration at `path`, or `default` when `path` is `None`.
pub(crate) fn load_config(path: Option<&Path>, default: &Embedded) -> Result<Config, LoadError> {
    let Some(path) = path else {
        return Config::from_json(default.json).map_err(|source| LoadError::Invalid {
            path: default.name.to_owned(),
            source,
        });
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: shown.clone(),
        source,
    })?;
    Config::from_json(&text).map_err(|source| LoadError::Invalid {
        path: shown,
        source,
    })
}

/// Output format of the tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people.
    Text,
    /// A stable JSON document (`docs/cli.md`).
    Json,
}

/// Prints a configuration error (one line on stderr, or a JSON document on stdout) and returns its exit code.
pub(crate) fn report_load_error(e: &LoadError, format: Format) -> u8 {
    match format {
        Format::Text => eprintln!("error: {e}"),
        Format::Json => println!(
            "{}",
            serde_json::json!({"valid": false, "outcome": "error", "error": {"kind": e.kind(), "message": e.to_string()}})
        ),
    }
    e.exit_code()
}
