//! Helpers shared by the command-line tests: running the built `seglog`
//! binary and reading its output.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs the binary with `args` and `--dir dir`, feeding `stdin`.
pub fn run_with_input(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_seglog"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start seglog");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    run_with_input(dir, args, b"")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Runs and expects exit code 0, returning standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    ok_with_input(dir, args, b"")
}

pub fn ok_with_input(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let o = run_with_input(dir, args, stdin);
    assert_eq!(
        o.status.code(),
        Some(0),
        "seglog {args:?} failed: {}",
        stderr(&o)
    );
    assert_eq!(stderr(&o), "", "seglog {args:?}");
    stdout(&o)
}

/// Runs and expects exit code 1 with exactly one line on standard error,
/// which is returned.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert_eq!(o.status.code(), Some(1), "seglog {args:?}: {}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err:?}");
    assert!(err.ends_with('\n') && err.lines().count() == 1, "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    err
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The `"timestamp":N` of a JSON line.
pub fn json_timestamp(line: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["timestamp"].as_i64().unwrap()
}
