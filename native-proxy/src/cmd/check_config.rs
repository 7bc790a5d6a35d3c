//! `trueip check-config`: validate a configuration and warn about dangerous ones, before it reaches a proxy.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use trueip::lint::{Warning, lint};

use super::{Format, load_config, sysexits};

/// Arguments of `trueip check-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration file (JSON).
    path: PathBuf,
    /// Exit with 2 when the configuration is valid but has warnings.
    #[arg(long)]
    strict: bool,
    /// Print the effective configuration (defaults filled in) after the verdict.
    #[arg(long)]
    effective: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Serialize)]
struct Verdict<'a> {
    valid: bool,
    warnings: Vec<WarningReport<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effective: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct WarningReport<'a> {
    code: &'static str,
    path: &'a str,
    message: &'a str,
}

/// Runs `trueip check-config`.
pub(crate) fn run(args: Args) -> u8 {
    let config = match load_config(Some(&args.path), &super::BUNDLED_POLICY) {
        Ok(config) => config,
        Err(e) => return super::report_load_error(&e, args.format),
    };
    let warnings = lint(&config);
    let effective = args.effective.then(|| config.to_json_pretty());
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&Verdict {
            valid: true,
            warnings: warnings.iter().map(report).collect(),
            effective: effective
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok()),
        })
        .unwrap_or_default(),
        Format::Text => text(
            &args.path.display().to_string(),
            &warnings,
            effective.as_deref(),
        ),
    };
    if writeln!(std::io::stdout().lock(), "{out}").is_err() {
        return sysexits::EX_IOERR;
    }
    if args.strict && !warnings.is_empty() {
        sysexits::EX_WARNINGS
    } else {
        sysexits::EX_OK
    }
}

fn report(w: &Warning) -> WarningReport<'_> {
    WarningReport {
        code: w.code,
        path: &w.path,
        message: &w.message,
    }
}

fn text(path: &str, warnings: &[Warning], effective: Option<&str>) -> String {
    let mut s = format!("{path}: valid, {} warning(s)", warnings.len());
    for w in warnings {
        s.push_str(&format!("\nwarning[{}] {}: {}", w.code, w.path, w.message));
    }
    if let Some(effective) = effective {
        s.push('\n');
        s.push_str(effective);
    }
    s
}
