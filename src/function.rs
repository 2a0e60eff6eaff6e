//! Which executable runs the function under `hslambda up` and the bench commands' private stacks.
//!
//! A fresh clone's `cargo run --release -- up` (and `cargo install --path .`) builds only the `hslambda`
//! binary, not the handler crate's `bootstrap`. `hslambda` links the whole handler anyway, so it can be the
//! function itself: `hslambda function` runs the same runtime loop as `bootstrap`
//! ([`hsds_handler::runtime::main`]). A separate `bootstrap` is still used when asked for (`--function`,
//! `HSLAMBDA_BOOTSTRAP`, `HSLAMBDA_BIN_DIR`) or when one at least as new as `hslambda` sits beside it (the
//! `cargo build --workspace` layout the tests use); an older one would be a stale build of the handler.

use std::path::{Path, PathBuf};

use anyhow::bail;
use hslambda_bench::stack::FunctionExe;
use lambda_emulator::sandbox::locate_bootstrap;

/// The hidden subcommand that makes `hslambda` the function.
pub(crate) const FUNCTION_SUBCOMMAND: &str = "function";

/// The function's executable, its arguments, and how it was chosen (for the banner).
pub(crate) struct FunctionBinary {
    /// Executable to spawn per instance.
    pub(crate) path: PathBuf,
    /// Arguments to start it with.
    pub(crate) args: Vec<String>,
    /// Why this one, in words.
    pub(crate) how: String,
}

/// The function executable of the bench commands' private stacks (`race`, `soak`, `load`, `bench`): chosen
/// as for `up` without `--function`, so they too work from a fresh clone; the choice is printed on stderr.
pub(crate) fn for_bench(command: &str) -> anyhow::Result<FunctionExe> {
    let b = resolve(None)?;
    eprintln!("{command}: the function runs `{} {}` ({})", b.path.display(), b.args.join(" "), b.how);
    Ok(FunctionExe { path: b.path, args: b.args })
}

/// `given` (`--function PATH`), else `$HSLAMBDA_BOOTSTRAP` / `$HSLAMBDA_BIN_DIR/bootstrap`, else a
/// `bootstrap` beside this executable that is not older than it, else this executable in function mode.
pub(crate) fn resolve(given: Option<&Path>) -> anyhow::Result<FunctionBinary> {
    let plain = |path: PathBuf, how: &str| FunctionBinary { path, args: Vec::new(), how: how.to_string() };
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--function {}: no such file (give the path of a built `bootstrap`)", p.display());
        }
        return Ok(plain(p.to_path_buf(), "--function"));
    }
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("HSLAMBDA_BOOTSTRAP") || set("HSLAMBDA_BIN_DIR") {
        return Ok(plain(
            locate_bootstrap().map_err(anyhow::Error::msg)?,
            "from HSLAMBDA_BOOTSTRAP / HSLAMBDA_BIN_DIR",
        ));
    }
    let exe = std::env::current_exe()?;
    let beside = exe.with_file_name("bootstrap");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (modified(&beside), modified(&exe)) {
        (Some(b), Some(e)) => b < e,
        _ => true,
    };
    if beside.is_file() && !stale {
        return Ok(plain(beside, "beside hslambda"));
    }
    let how = if beside.is_file() {
        "hslambda itself: the `bootstrap` beside it is older, so may be a stale build"
    } else {
        "hslambda itself (no `bootstrap` beside it)"
    };
    Ok(FunctionBinary { path: exe, args: vec![FUNCTION_SUBCOMMAND.to_string()], how: how.to_string() })
}
