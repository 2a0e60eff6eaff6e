//! `hslambda up` as a user runs it: serves `/about` on the front door, prints its endpoints and limits,
//! and on SIGTERM stops with its function processes.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET: (status line, body), or None if nothing is listening yet.
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // Fields after the parenthesised command name: state, ppid, ...
        let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
        if after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            out.push(child);
        }
    }
    out
}

#[test]
fn up_serves_about_and_stops_cleanly_on_sigterm() {
    let bootstrap = common::bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let (port, s3_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_hslambda"))
        .args(["up", "--port", &port.to_string(), "--s3-port", &s3_port.to_string(), "--memory", "512"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("HSLAMBDA_BOOTSTRAP", &bootstrap)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let body = loop {
        match http_get(port, "/about") {
            Some((status, body)) if status.contains(" 200 ") => break body,
            _ if t0.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("no /about from hslambda up: {other:?}"),
        }
    };
    assert!(body.contains("\"state\":\"READY\""), "{body}");
    assert!(dir.path().join("data/hsdstest").is_dir(), "the default bucket directory is created");
    let functions = children_of(child.id());
    assert_eq!(functions.len(), 1, "one warm function process");

    // `hslambda invoke` sends an event file to the running stack and prints response + REPORT: every file of
    // fixtures/events/ goes through it (and so through the real function), each with the answer it must get.
    // The stack has no users and no such domains, so the authenticated ones end at the auth/lookup step.
    let expected: &[(&str, u16)] = &[
        ("apigw-v1-get-domain.json", 401), // payload 1.0, Basic auth of a user the stack does not know
        ("apigw-v2-put-binary.json", 401), // payload 2.0, base64 binary body, same
        ("console-default-test.json", 200), // the Lambda console's default test event: answered as /about
        ("direct-get-about.json", 200),    // h5pyd's direct event, /about needs no user
        ("direct-get-value.json", 400),    // the README's example: `<id>` is a placeholder, not an id
        ("direct-request-key.json", 200),  // the path under `request` instead of `path` (HSDS's Lambda accepts both)
    ];
    let events_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/events");
    let mut files: Vec<String> =
        std::fs::read_dir(&events_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    let listed: Vec<String> = expected.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(files, listed, "every fixtures/events/ file needs its expected answer here");
    for (file, status) in expected {
        let out = Command::new(env!("CARGO_BIN_EXE_hslambda"))
            .arg("invoke")
            .arg(events_dir.join(file))
            .args(["--endpoint", &format!("http://127.0.0.1:{port}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {out:?}");
        // The response document comes first on stdout (the payload may follow it).
        let stdout = String::from_utf8_lossy(&out.stdout);
        let response: serde_json::Value = serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter()
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{file}: no JSON response on stdout: {stdout}"));
        assert_eq!(response["statusCode"], *status, "{file}: {stdout}");
        let report = String::from_utf8_lossy(&out.stderr);
        assert!(report.starts_with("REPORT RequestId: ") && report.contains("Max Memory Used"), "{file}: {report}");
        if matches!(*file, "direct-get-about.json" | "console-default-test.json" | "direct-request-key.json") {
            assert_eq!(response["body"]["state"], "READY", "{response}");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_hslambda"))
        .args(["invoke", "/nonexistent.json", "--endpoint", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("/nonexistent.json"));

    // SAFETY: kill(2) of our own unreaped child; takes no pointers.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    for expected in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{s3_port}"),
        "/2015-03-31/functions/hslambda/invocations".to_string(),
        "memory limit 512 MB".to_string(),
        "CPU share 0.29 vCPU".to_string(),
        "REPORT RequestId: ".to_string(),
        "HTTP front door (Lambda Function URL, InvokeMode RESPONSE_STREAM".to_string(),
        "idle instances reaped after 600 s; failed Event invocations retried 2 time(s), first after 60 s".to_string(),
    ] {
        assert!(out.contains(&expected), "`up` output lacks {expected:?}:\n{out}");
    }
    // Polled with a generous deadline (a loaded machine may take a while to reap): gone or a zombie.
    let deadline = Instant::now() + Duration::from_secs(20);
    for pid in functions {
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z ") {
                break;
            }
            assert!(Instant::now() < deadline, "function process {pid} outlived `up`: {state}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn up_explains_a_missing_bootstrap() {
    let out = Command::new(env!("CARGO_BIN_EXE_hslambda"))
        .args(["up", "--port", "0", "--s3-port", "0"])
        .env("HSLAMBDA_BOOTSTRAP", "/nonexistent/bootstrap")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo build --release --workspace") && err.contains("/nonexistent/bootstrap"), "{err}");
    // A user error is one line, exit code 1, no backtrace.
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("hslambda: ") && !err.contains("backtrace"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_hslambda"))
        .args(["up", "--port", "0", "--s3-port", "0", "--function", "/nonexistent/fn"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "hslambda: --function /nonexistent/fn: no such file (give the path of a built `bootstrap`)");
}

/// A fresh clone's `cargo run --release -- up` or `cargo install --path .` has no `bootstrap`: `up` runs
/// `hslambda function` (the same runtime loop) as the function instead, and says so.
#[test]
fn up_without_a_bootstrap_runs_itself_as_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let exe = lone_hslambda(dir.path());
    let users = dir.path().join("passwd.txt");
    std::fs::write(&users, "admin:admin\n").unwrap();
    let (port, s3_port) = (free_port(), free_port());
    let mut child = Command::new(&exe)
        .args(["up", "--port", &port.to_string(), "--s3-port", &s3_port.to_string()])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--users")
        .arg(&users)
        .env_remove("HSLAMBDA_BOOTSTRAP")
        .env_remove("HSLAMBDA_BIN_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let body = loop {
        match http_get(port, "/about") {
            Some((status, body)) if status.contains(" 200 ") => break body,
            _ if t0.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("no /about from hslambda up: {other:?}"),
        }
    };
    assert!(body.contains("\"state\":\"READY\""), "{body}");
    let functions = children_of(child.id());
    assert_eq!(functions.len(), 1, "one warm function process");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", functions[0])).unwrap();
    let argv: Vec<String> =
        cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into()).collect();
    assert_eq!(argv, [exe.display().to_string(), "function".to_string()]);

    // SAFETY: kill(2) of our own unreaped child; takes no pointers.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let banner = format!("hslambda up: function hslambda runs `{} function` (hslambda itself", exe.display());
    assert!(out.contains(&banner), "{out}");
    assert!(out.contains("REPORT RequestId: ") && out.contains("Max Memory Used"), "{out}");
}

/// The bench commands choose their function as `up` does: from a fresh clone (no `bootstrap` beside
/// `hslambda`) `race` runs `hslambda function` and its scenario passes.
#[test]
fn race_without_a_bootstrap_runs_itself_as_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let exe = lone_hslambda(dir.path());
    let out = Command::new(&exe)
        .args(["race", "--scenario", "links", "--writers", "3", "--rounds", "2", "--memory", "256"])
        .env_remove("HSLAMBDA_BOOTSTRAP")
        .env_remove("HSLAMBDA_BIN_DIR")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let chosen = format!("race: the function runs `{} function` (hslambda itself", exe.display());
    assert!(stderr.contains(&chosen), "{stderr}");
    assert!(stdout.contains("links"), "{stdout}");
}

/// `view`'s user errors are one line: a --viewer-dist without a page, no Node.js to build one.
#[test]
fn view_explains_what_it_cannot_do() {
    let run = |args: &[&str], path: &str| {
        let cache = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_hslambda"))
            .args(["view", "--port", "0", "--s3-port", "0", "--view-port", "0"])
            .args(args)
            .env("PATH", path)
            .env("HSLAMBDA_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--viewer-dist", "/nonexistent/dist"], "/usr/bin:/bin");
    assert_eq!(
        err.trim(),
        "hslambda: --viewer-dist /nonexistent/dist: no index.html there (give a `vite build` output)"
    );
    let err = run(&[], "/nonexistent");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("hslambda: `node` not found. Node.js with npm is needed"), "{err}");
}

#[test]
fn up_refuses_bad_emulation_settings_with_a_reason() {
    for (args, reason) in [
        (&["--front-door", "alb"][..], "api-gateway, function-url"),
        (&["--event-max-retries", "3"][..], "0..=2"),
        (&["--idle-timeout", "5000"][..], "between 0 and 3600"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hslambda")).arg("up").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason), "{args:?}: {err}");
    }
}

/// `hslambda` alone in `dir` (a hard link, else a copy), as a fresh clone's build or an install leaves it:
/// no `bootstrap` beside it.
fn lone_hslambda(dir: &std::path::Path) -> std::path::PathBuf {
    let exe = dir.join("hslambda");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_hslambda"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_hslambda"), &exe).unwrap();
    }
    exe
}
