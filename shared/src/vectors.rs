//! The shared header conformance vectors (`testdata/vectors/headers/*.json`): their types, loading, running them
//! against this crate, and comparing an observed outcome with the expected one.
//!
//! The same files are replayed by the wasm filter harness and the native proxy, which observe outcomes their own
//! way (a local reply, the headers that reached a test upstream) and call [`compare`]. The format is documented in
//! `testdata/vectors/README.md`. Behind the `vectors` cargo feature because it reads files, which the wasm build
//! must not.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Access, Config, Request, Resolver};

/// One file of vectors.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// What the file covers.
    #[serde(default)]
    pub description: String,
    /// The cases.
    pub vectors: Vec<HeaderVector>,
}

/// One header case.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderVector {
    /// Unique within its file, kebab-case.
    pub name: String,
    /// Where the expected behaviour comes from (RFC section, Envoy docs example, nginx directive, ...).
    #[serde(default)]
    pub anchor: String,
    /// Why the outcome is what it is, when it is not obvious.
    #[serde(default)]
    pub note: String,
    /// The configuration: a file name in `testdata/configs/`, or an inline configuration object.
    pub config: ConfigRef,
    /// The peer (TCP peer or PROXY source).
    pub peer: SocketAddr,
    /// The peer's mTLS URI SAN, if any.
    #[serde(default)]
    pub peer_identity: Option<String>,
    /// Request header lines in order: `[["X-Forwarded-For", "192.0.2.1"], ...]`.
    pub headers: Vec<(String, String)>,
    /// The expected outcome.
    pub expect: Expected,
}

/// A configuration by file name or inline.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ConfigRef {
    /// A file in `testdata/configs/`.
    File(String),
    /// An inline configuration document.
    Inline(serde_json::Value),
}

/// The expected outcome: exactly one of `decision` and `reject`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// The expected decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ExpectedDecision>,
    /// The expected rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<ExpectedReject>,
    /// The expected access outcome; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<ExpectedAccess>,
    /// Header lines sent upstream, compared on the names that occur in the request or in this list; not checked
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Vec<(String, String)>>,
}

/// The expected decision fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDecision {
    /// Client IP (IPv4-mapped written as IPv4).
    pub client: IpAddr,
    /// Client port, or null.
    pub port: Option<u16>,
    /// `peer`, `x-forwarded-for`, `forwarded` or a header name.
    pub source: String,
    /// Hop index.
    pub hop: u16,
    /// Whether the client is internal.
    pub internal: bool,
    /// Spoof signal labels, any order.
    #[serde(default)]
    pub spoof: Vec<String>,
    /// Fallback label, or null.
    #[serde(default)]
    pub fallback: Option<String>,
}

/// The expected rejection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedReject {
    /// Stable kind label.
    pub kind: String,
    /// HTTP status.
    pub status: u16,
}

/// The expected access outcome.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExpectedAccess {
    /// Allowed.
    Allow,
    /// Denied with this status.
    Deny {
        /// HTTP status.
        status: u16,
    },
}

/// What an implementation observed for one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The decision or the rejection.
    pub outcome: Result<ExpectedDecision, ExpectedReject>,
    /// The access outcome, if the implementation reports it.
    pub access: Option<ExpectedAccess>,
    /// Header lines sent upstream, if the request was forwarded.
    pub upstream: Option<Vec<(String, String)>>,
}

/// A vector file that cannot be read or parsed, or a configuration reference that cannot be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A vector file is not valid.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The field path and problem.
        message: String,
    },
    /// A vector's configuration does not load.
    #[error("vector {vector:?}: config: {source}")]
    Config {
        /// The vector's name.
        vector: String,
        /// The configuration error.
        source: crate::ConfigError,
    },
}

/// Loads every `*.json` file in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, VectorFile)>, VectorError> {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VectorError + '_ {
        move |source| VectorError::Io {
            path: path.to_owned(),
            source,
        }
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let file: VectorFile =
            serde_path_to_error::deserialize(de).map_err(|e| VectorError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        files.push((path, file));
    }
    Ok(files)
}

impl HeaderVector {
    /// The vector's configuration; file references are read from `configs_dir`.
    pub fn config(&self, configs_dir: &Path) -> Result<Config, VectorError> {
        let text = match &self.config {
            ConfigRef::File(name) => {
                let path = configs_dir.join(name);
                std::fs::read_to_string(&path).map_err(|source| VectorError::Io { path, source })?
            }
            ConfigRef::Inline(value) => value.to_string(),
        };
        Config::from_json(&text).map_err(|source| VectorError::Config {
            vector: self.name.clone(),
            source,
        })
    }

    /// Runs the vector against this crate: resolve, access, and the rewrite plan applied to the request headers.
    pub fn run_core(&self, config: &Config) -> Observed {
        let resolver = Resolver::new(&config.policy);
        let headers: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        let req = Request {
            peer: crate::PeerAddr(self.peer),
            peer_identity: self.peer_identity.as_deref(),
            headers: &headers,
        };
        match resolver.resolve(&req) {
            Ok(d) => {
                let access = match resolver.access(&d) {
                    Access::Allow => ExpectedAccess::Allow,
                    Access::Deny { status, .. } => ExpectedAccess::Deny { status },
                };
                let upstream = resolver
                    .rewrite_plan(&req, &d)
                    .apply(&headers)
                    .into_iter()
                    .map(|(n, v)| {
                        (
                            String::from_utf8_lossy(&n).into_owned(),
                            String::from_utf8_lossy(&v).into_owned(),
                        )
                    })
                    .collect();
                Observed {
                    outcome: Ok(ExpectedDecision {
                        client: d.client.ip,
                        port: d.client.port,
                        source: d.source.label().to_owned(),
                        hop: d.hop,
                        internal: d.internal,
                        spoof: d.spoof.labels().map(str::to_owned).collect(),
                        fallback: d.fallback.map(|f| f.label().to_owned()),
                    }),
                    access: Some(access),
                    upstream: Some(upstream),
                }
            }
            Err(r) => Observed {
                outcome: Err(ExpectedReject {
                    kind: r.kind.label().to_owned(),
                    status: r.status,
                }),
                access: None,
                upstream: None,
            },
        }
    }
}

/// One difference between expected and observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field, e.g. `decision.hop`.
    pub field: &'static str,
    /// Expected, rendered.
    pub expected: String,
    /// Observed, rendered.
    pub observed: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, observed {}",
            self.field, self.expected, self.observed
        )
    }
}

/// Compares an observed outcome with a vector's expectation. `request` is the vector's request headers (they
/// select which upstream header names are compared). Empty means the vector passes.
pub fn compare(
    request: &[(String, String)],
    expected: &Expected,
    observed: &Observed,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut check = |field: &'static str, e: String, o: String| {
        if e != o {
            out.push(Mismatch {
                field,
                expected: e,
                observed: o,
            });
        }
    };
    match (&expected.decision, &expected.reject, &observed.outcome) {
        (Some(e), None, Ok(o)) => {
            check(
                "decision.client",
                e.client.to_string(),
                o.client.to_string(),
            );
            check(
                "decision.port",
                format!("{:?}", e.port),
                format!("{:?}", o.port),
            );
            check("decision.source", e.source.clone(), o.source.clone());
            check("decision.hop", e.hop.to_string(), o.hop.to_string());
            check(
                "decision.internal",
                e.internal.to_string(),
                o.internal.to_string(),
            );
            let es: BTreeSet<&str> = e.spoof.iter().map(String::as_str).collect();
            let os: BTreeSet<&str> = o.spoof.iter().map(String::as_str).collect();
            check("decision.spoof", format!("{es:?}"), format!("{os:?}"));
            check(
                "decision.fallback",
                format!("{:?}", e.fallback),
                format!("{:?}", o.fallback),
            );
        }
        (None, Some(e), Err(o)) => {
            check("reject.kind", e.kind.clone(), o.kind.clone());
            check("reject.status", e.status.to_string(), o.status.to_string());
        }
        (e_dec, e_rej, o) => check(
            "outcome",
            match (e_dec, e_rej) {
                (Some(_), None) => "a decision".to_owned(),
                (None, Some(r)) => format!("rejection {}", r.kind),
                _ => "exactly one of decision and reject (vector is invalid)".to_owned(),
            },
            match o {
                Ok(d) => format!("decision {} from {}", d.client, d.source),
                Err(r) => format!("rejection {}", r.kind),
            },
        ),
    }
    if let (Some(e), Some(o)) = (&expected.access, &observed.access) {
        check("access", format!("{e:?}"), format!("{o:?}"));
    }
    if let Some(e) = &expected.upstream {
        match &observed.upstream {
            None => check("upstream", format!("{e:?}"), "not forwarded".to_owned()),
            Some(o) => {
                let names: BTreeSet<String> = request
                    .iter()
                    .chain(e.iter())
                    .map(|(n, _)| n.to_ascii_lowercase())
                    .collect();
                check(
                    "upstream",
                    format!("{:?}", normalise(e, &names)),
                    format!("{:?}", normalise(o, &names)),
                );
            }
        }
    }
    out
}

/// Lowercase names, restricted to `names`, stably sorted by name (lines of one name keep their order).
pub fn normalise(headers: &[(String, String)], names: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = headers
        .iter()
        .map(|(n, val)| (n.to_ascii_lowercase(), val.clone()))
        .filter(|(n, _)| names.contains(n))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}
