//! Running `ip`, `nft` and `iptables`.
//!
//! We shell out rather than speak netlink: the commands are what an operator would type, they
//! print in `--dry-run`, and a reviewer can audit them line by line.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// A command that could not be run or that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The tool is not installed.
    #[error("{tool} not found in PATH: install the {package} package{hint}")]
    Missing {
        /// The program.
        tool: String,
        /// The Debian package that ships it.
        package: &'static str,
        /// Extra advice, e.g. switching backend.
        hint: &'static str,
    },
    /// The tool ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Exit status.
        status: String,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// Spawning or talking to the tool failed.
    #[error("running `{command}`: {source}")]
    Io {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Whether it exited 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error, trimmed.
    pub stderr: String,
}

/// Runs `tool args..`, feeding `stdin` if given, and returns what it printed whatever its status.
pub fn run(tool: &str, args: &[String], stdin: Option<&str>) -> Result<Output, ExecError> {
    let command = render(tool, args);
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                missing(tool)
            } else {
                ExecError::Io {
                    command: command.clone(),
                    source,
                }
            }
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|source| ExecError::Io {
                command: command.clone(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| ExecError::Io {
        command: command.clone(),
        source,
    })?;
    Ok(Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Like [`run`], but a non-zero exit is an error.
pub fn run_ok(tool: &str, args: &[String], stdin: Option<&str>) -> Result<Output, ExecError> {
    let out = run(tool, args, stdin)?;
    if out.success {
        Ok(out)
    } else {
        Err(ExecError::Failed {
            command: render(tool, args),
            status: "non-zero exit".into(),
            stderr: out.stderr,
        })
    }
}

/// The command line as a user would type it.
pub fn render(tool: &str, args: &[String]) -> String {
    let mut line = tool.to_string();
    for arg in args {
        line.push(' ');
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"' || c == '!') {
            line.push_str(&format!("'{arg}'"));
        } else {
            line.push_str(arg);
        }
    }
    line
}

fn missing(tool: &str) -> ExecError {
    let (package, hint) = match tool {
        "nft" => ("nftables", " (or use --backend iptables)"),
        "iptables" | "ip6tables" => ("iptables", " (or use --backend nft)"),
        _ => ("iproute2", ""),
    };
    ExecError::Missing {
        tool: tool.into(),
        package,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package() {
        let err = run("trueip-no-such-tool", &[], None).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "trueip-no-such-tool not found in PATH: install the iproute2 package"
        );
        assert_eq!(
            missing("nft").to_string(),
            "nft not found in PATH: install the nftables package (or use --backend iptables)"
        );
    }

    #[test]
    fn stdin_is_fed_and_failures_carry_stderr() {
        let out = run("cat", &[], Some("table inet trueip\n")).expect("cat");
        assert!(out.success);
        assert_eq!(out.stdout, "table inet trueip\n");
        let err =
            run_ok("sh", &["-c".into(), "echo nope >&2; exit 3".into()], None).expect_err("exit 3");
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo nope >&2; exit 3'` failed (non-zero exit): nope"
        );
    }
}
