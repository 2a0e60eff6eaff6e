//! The h5web page of `hslambda view`: built on demand with npm from the sources in `viewer/` (compiled into
//! this binary, so an installed `hslambda` needs no checkout), cached, and served over HTTP.
//!
//! No third-party bundle is committed or embedded: the first `view` writes `viewer/`'s sources into a cache
//! directory named by their hash, runs `npm ci` (the pinned lock file) and `vite build` there, and keeps only
//! `dist/`. Later runs reuse it; a changed page gets a new directory. The page then talks to the front door
//! directly, cross-origin, as h5web does against any HSDS (the function answers CORS as HSDS does);
//! `config.json`, served beside it, tells the page the front door's port and the domain to open.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// `viewer/`'s sources (relative path, contents): everything `npm ci && npm run build` needs.
const SOURCES: &[(&str, &str)] = &[
    ("package.json", include_str!("../viewer/package.json")),
    ("package-lock.json", include_str!("../viewer/package-lock.json")),
    ("index.html", include_str!("../viewer/index.html")),
    ("vite.config.js", include_str!("../viewer/vite.config.js")),
    ("src/main.js", include_str!("../viewer/src/main.js")),
    ("src/style.css", include_str!("../viewer/src/style.css")),
];

/// Oldest Node.js Vite 8 runs on.
const NODE_MIN: (u32, u32) = (20, 19);

/// The cache root: `$HSLAMBDA_CACHE_DIR`, else `$XDG_CACHE_HOME/hslambda`, else `~/.cache/hslambda`.
fn cache_root() -> anyhow::Result<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var("HSLAMBDA_CACHE_DIR") {
        return Ok(d);
    }
    if let Some(d) = var("XDG_CACHE_HOME") {
        return Ok(d.join("hslambda"));
    }
    match var("HOME") {
        Some(h) => Ok(h.join(".cache").join("hslambda")),
        None => bail!("no cache directory for the h5web page: set HSLAMBDA_CACHE_DIR or HOME"),
    }
}

/// A name for this version of the page's sources (a changed source gets a fresh build).
fn sources_key() -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    SOURCES.hash(&mut h);
    format!("viewer-{:016x}", h.finish())
}

/// The built page (`dist/` with `index.html`) for the embedded sources: from the cache, else built now with
/// npm (progress on the terminal). Errors are one line: npm or Node.js missing or too old, a failed step.
pub(crate) fn ensure_built() -> anyhow::Result<PathBuf> {
    let root = cache_root()?;
    let dir = root.join(sources_key());
    let dist = dir.join("dist");
    if dist.join("index.html").is_file() {
        println!("hslambda view: h5web page (cached) {}", dist.display());
        return Ok(dist);
    }
    check_node()?;
    // Built in a private directory and renamed into place: two `view`s building at once cannot mix files.
    let work = root.join(format!("{}.build-{}", sources_key(), std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    for (rel, text) in SOURCES {
        let path = work.join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(&work))
            .and_then(|()| std::fs::write(&path, text))
            .with_context(|| format!("writing the h5web page's sources to {}", work.display()))?;
    }
    println!(
        "hslambda view: building the h5web page (first run only, about a minute): npm ci, then vite build, in {}",
        work.display()
    );
    let result = npm(&work, &["ci", "--no-audit", "--no-fund"]).and_then(|()| npm(&work, &["run", "build"]));
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e);
    }
    // Only dist/ is kept (node_modules is ~170 MB; npm's own cache makes a rebuild quick).
    let _ = std::fs::remove_dir_all(work.join("node_modules"));
    if std::fs::rename(&work, &dir).is_err() {
        // Another `view` finished first: its build is the same.
        let _ = std::fs::remove_dir_all(&work);
    }
    if !dist.join("index.html").is_file() {
        bail!("the h5web page build left no {}", dist.join("index.html").display());
    }
    println!("hslambda view: h5web page built: {}", dist.display());
    Ok(dist)
}

/// Node.js and npm are on the PATH, and Node.js is new enough for Vite.
fn check_node() -> anyhow::Result<()> {
    let missing = "Node.js with npm is needed to build the h5web page (once): install Node.js 20.19 or newer \
                   (e.g. `apt-get install nodejs npm`, or https://nodejs.org), or pass --viewer-dist DIR";
    let version = match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => bail!("`node` not found. {missing}"),
    };
    let mut parts = version.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < NODE_MIN {
        bail!("Node.js {version} is too old. {missing}");
    }
    match Command::new("npm").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => bail!("`npm` not found. {missing}"),
    }
}

/// Runs `npm ARGS` in `dir`, its output on this terminal.
fn npm(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running npm {}", args.join(" ")))?;
    if !status.success() {
        bail!("`npm {}` failed ({status}) in {}; its output is above", args.join(" "), dir.display());
    }
    Ok(())
}

/// What the page reads from `config.json`: the front door's port (the page builds the URL from the host it
/// was loaded from, so it works from another machine too) and the domain to open first.
#[derive(serde::Serialize, Clone)]
pub(crate) struct PageConfig {
    /// Front door port.
    pub(crate) port: u16,
    /// Domain to open, if given.
    pub(crate) domain: Option<String>,
}

/// Serves `dist` and `config.json` on `listener` until the process ends.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    dist: PathBuf,
    config: PageConfig,
) -> anyhow::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/config.json", axum::routing::get(move || async move { axum::Json(config.clone()) }))
        .fallback(move |uri: Uri| file(dist.clone(), uri));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// A file of the built page (`/` is `index.html`); 404 for anything else, including paths leaving `dist`.
async fn file(dist: PathBuf, uri: Uri) -> Response {
    let rel = uri.path().trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dist.join(rel)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(rel))], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The content type of a file of the page, by extension.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// `s` as a URL query value: unreserved characters and `/` kept, every other byte percent-encoded.
pub(crate) fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_page_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>page</p>").unwrap();
        let get = |p: &str| rt.block_on(file(dir.path().to_path_buf(), p.parse().unwrap())).status();
        assert_eq!(get("/"), StatusCode::OK);
        assert_eq!(get("/index.html"), StatusCode::OK);
        assert_eq!(get("/../Cargo.toml"), StatusCode::NOT_FOUND);
        assert_eq!(get("/missing.js"), StatusCode::NOT_FOUND);
    }

    #[test]
    fn domains_are_escaped_for_the_query() {
        assert_eq!(query_escape("/home/alice/demo.h5"), "/home/alice/demo.h5");
        assert_eq!(query_escape("/a b&c.h5"), "/a%20b%26c.h5");
    }

    #[test]
    fn every_source_is_listed_and_the_key_is_stable() {
        assert!(SOURCES.iter().any(|(p, _)| *p == "package-lock.json"));
        assert_eq!(sources_key(), sources_key());
    }
}
