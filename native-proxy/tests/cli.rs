//! The `trueip explain` and `trueip check-config` tools, run as a user runs them: the real binary, real files,
//! exit codes and the documented JSON output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn trueip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trueip"))
        .args(args)
        .output()
        .expect("trueip runs")
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn json(out: &Output) -> serde_json::Value {
    let parsed = serde_json::from_slice(&out.stdout);
    assert!(
        parsed.is_ok(),
        "stdout is not JSON: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    parsed.unwrap_or_default()
}

#[test]
fn explain_with_the_bundled_default_follows_a_private_chain() {
    let out = trueip(&[
        "explain",
        "--peer",
        "10.0.0.7:5100",
        "-H",
        "X-Forwarded-For: 203.0.113.9, 10.0.0.5",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["outcome"], "forward");
    assert_eq!(v["client"]["ip"], "203.0.113.9");
    assert_eq!(v["source"], "x-forwarded-for");
    assert_eq!(v["hop"], 2);
    assert_eq!(v["internal"], false);
    assert!(v["trace"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn explain_text_names_the_client_and_the_reason() {
    let out = trueip(&[
        "explain",
        "--peer",
        "198.51.100.7:5100",
        "-H",
        "X-Forwarded-For: 1.2.3.4",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("client     198.51.100.7"), "{text}");
    assert!(text.contains("untrusted_forwarding_headers"), "{text}");
    assert!(text.contains("not trusted"), "{text}");
}

#[test]
fn explain_decodes_a_proxy_v2_header_and_uses_its_source() {
    // PROXY v2, TCP over IPv4, 198.51.100.7:41000 -> 10.0.0.1:443, no TLVs.
    let hex = "0d0a0d0a000d0a515549540a 21 11 000c c6336407 0a000001 a028 01bb";
    let out = trueip(&[
        "explain",
        "--peer",
        "10.0.0.2:7",
        "--proxy-v2-hex",
        hex,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["proxy"]["version"], 2);
    assert_eq!(v["proxy"]["source"], "198.51.100.7:41000");
    assert_eq!(v["peer"], "198.51.100.7:41000");
    assert_eq!(v["client"]["ip"], "198.51.100.7");
}

#[test]
fn a_rejected_request_exits_1_and_a_bad_proxy_header_65() {
    let out = trueip(&[
        "explain",
        "--peer",
        "10.0.0.7:1",
        "-H",
        "X-Forwarded-For: nonsense, 10.0.0.5",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("malformed_entry"));

    let out = trueip(&[
        "explain",
        "--peer",
        "10.0.0.7:1",
        "--proxy-v1",
        "PROXY TCP4 1.2.3.4",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");
    assert_eq!(json(&out)["outcome"], "error");
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(
        trueip(&["explain", "--no-such-flag"]).status.code(),
        Some(64)
    );
    assert_eq!(
        trueip(&["explain", "-H", "X-Forwarded-For: 1.2.3.4"])
            .status
            .code(),
        Some(64),
        "no peer"
    );
    assert_eq!(
        trueip(&["explain", "--peer", "10.0.0.1", "-H", "no colon"])
            .status
            .code(),
        Some(64)
    );
}

#[test]
fn batch_reads_json_lines_and_answers_each() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trueip"))
        .args(["explain", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let input = concat!(
        r#"{"peer":"10.0.0.7:1","headers":[["X-Forwarded-For","203.0.113.9"]]}"#,
        "\n",
        r#"{"peer":"203.0.113.50:1","headers":[["X-Forwarded-For","10.9.9.9"]]}"#,
        "\n",
        "not json\n",
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["client"]["ip"], "203.0.113.9");
    assert_eq!(
        lines[1]["client"]["ip"], "203.0.113.50",
        "an untrusted peer's XFF is ignored"
    );
    assert_eq!(lines[2]["error"]["kind"], "bad_batch_line");
    assert_eq!(
        out.status.code(),
        Some(65),
        "the worst line decides the exit code"
    );
}

#[test]
fn check_config_accepts_every_bundled_example() {
    let dir = repo("testdata/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("testdata/configs") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let out = trueip(&[
                "check-config",
                path.to_str().expect("utf-8 path"),
                "--format",
                "json",
            ]);
            assert_eq!(out.status.code(), Some(0), "{}: {out:?}", path.display());
            assert_eq!(json(&out)["valid"], true);
            seen += 1;
        }
    }
    assert!(seen > 0, "no configs in {}", dir.display());
}

#[test]
fn check_config_reports_the_field_path_and_exits_64() {
    let dir = tempdir();
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"trust":{"proxies":["10.0.0.0/8","10.0.0.0/33"]}}"#,
    )
    .expect("write");
    let out = trueip(&["check-config", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trust.proxies[1]") && err.contains("10.0.0.0/33"),
        "{err}"
    );

    assert_eq!(
        trueip(&["check-config", "/nonexistent/trueip.json"])
            .status
            .code(),
        Some(66)
    );
}

#[test]
fn check_config_warns_and_strict_turns_warnings_into_exit_2() {
    let dir = tempdir();
    let path = dir.join("hops.json");
    std::fs::write(&path, r#"{"trust":{"hops":2}}"#).expect("write");
    let p = path.to_str().expect("utf-8");
    let out = trueip(&["check-config", p, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json(&out)["warnings"][0]["code"],
        "hops_without_trusted_proxies"
    );
    assert_eq!(
        trueip(&["check-config", p, "--strict"]).status.code(),
        Some(2)
    );
}

/// A scratch directory for one test, removed when the test ends (also when it fails).
struct TempDir(PathBuf);

impl TempDir {
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "trueip-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("tempdir");
    TempDir(dir)
}
