//! Helpers shared by the command-line tests: running the built `seglog`
//! binary and reading its output.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The binary, with no data directory from the environment.
pub fn seglog() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_seglog"));
    command.env_remove("SEGLOG_DIR");
    command
}

/// Starts the binary with `args` and `--dir dir`, every stream piped.
pub fn spawn(dir: &Path, args: &[&str]) -> Child {
    seglog()
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start seglog")
}

/// Runs the binary with `args` and `--dir dir`, feeding `stdin`.
pub fn run_with_input(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn(dir, args);
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

/// Whether `line` is one of the summary lines `produce` and `consume`
/// print on standard error (`produced 3 records to t`, `  partition 0:
/// 3`, `processed 3 records`).
pub fn is_summary(line: &str) -> bool {
    let words: Vec<&str> = line.split(' ').collect();
    match words.as_slice() {
        ["processed", n, "record" | "records"] => n.parse::<u64>().is_ok(),
        ["produced", n, "record" | "records", "to", _topic] => n.parse::<u64>().is_ok(),
        ["", "", "partition", p, n] => {
            p.strip_suffix(':')
                .is_some_and(|p| p.parse::<u32>().is_ok())
                && n.parse::<u64>().is_ok()
        }
        _ => false,
    }
}

/// Runs and expects exit code 0 and nothing on standard error but summary
/// lines, returning standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    ok_with_input(dir, args, b"")
}

pub fn ok_with_input(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    ok_both(dir, args, stdin).0
}

/// Runs and expects exit code 0 and nothing on standard error but summary
/// lines, returning standard output and standard error.
pub fn ok_both(dir: &Path, args: &[&str], stdin: &[u8]) -> (String, String) {
    let o = run_with_input(dir, args, stdin);
    assert_eq!(
        o.status.code(),
        Some(0),
        "seglog {args:?} failed: {}",
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(err.lines().all(is_summary), "seglog {args:?}: {err}");
    (stdout(&o), err)
}

/// Runs `produce` with `args` on `stdin` and expects exit code 0, nothing
/// on standard output, and returns its summary (standard error).
pub fn produce(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let mut all = vec!["produce"];
    all.extend_from_slice(args);
    let (out, err) = ok_both(dir, &all, stdin);
    assert_eq!(out, "", "produce {args:?}");
    err
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

/// Runs and expects exit code 2 (bad usage), returning standard error.
pub fn usage_error(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "seglog {args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert_eq!(stdout(&o), "", "{args:?}");
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

/// How long a test waits for a line, or for a process to end, before it
/// fails: generous, for a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A `seglog` process started with `args` and `--dir dir`, its standard
/// input piped (kept open until dropped or closed) and its standard
/// output read line by line on a thread.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    pub fn start(dir: &Path, args: &[&str]) -> Running {
        let mut child = spawn(dir, args);
        let lines = read_lines(child.stdout.take().unwrap());
        Running { child, lines }
    }

    /// Writes to its standard input, and flushes.
    pub fn write(&mut self, bytes: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("standard input open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes its standard input.
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// The next line of its standard output, waiting up to `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Sends `signal` (`TERM`, `INT`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for it to exit (killing it and failing after [`PATIENCE`]);
    /// returns its exit code, the rest of its standard output, and its
    /// standard error.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("seglog did not exit within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push_str(&line);
            rest.push('\n');
        }
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code(), rest, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_lines(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// `ms` in RFC 3339 (UTC, milliseconds) as date(1) prints it: a check of
/// the tool's own conversion that does not share its code.
pub fn rfc3339_by_date(ms: i64) -> String {
    let o = Command::new("date")
        .env("TZ", "UTC")
        .arg("-u")
        .arg("-d")
        .arg(format!("@{}", ms.div_euclid(1000)))
        .arg("+%Y-%m-%dT%H:%M:%S")
        .output()
        .expect("run date");
    assert!(o.status.success());
    let seconds = String::from_utf8(o.stdout).unwrap();
    format!("{}.{:03}Z", seconds.trim_end(), ms.rem_euclid(1000))
}
