//! Handler configuration, read once per process from the environment (HSDS's config keys, upper-cased).

/// How read-modify-writes are performed (`HSLAMBDA_WRITE_MODE`). The workspace's one write-mode enum:
/// tools that start a handler in a given mode set the variable to [`WriteMode::env_value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Compare-and-swap on ETags: no lost updates (the default).
    Cas,
    /// Unconditional writes, as HSDS on Lambda does: concurrent writers can lose updates.
    LastWriterWins,
}

impl WriteMode {
    /// The mode an `HSLAMBDA_WRITE_MODE` value names: `last-writer-wins` (or `lww`), else compare-and-swap.
    pub fn from_env_value(value: Option<&str>) -> Self {
        match value {
            Some("last-writer-wins") | Some("lww") => WriteMode::LastWriterWins,
            _ => WriteMode::Cas,
        }
    }

    /// The `HSLAMBDA_WRITE_MODE` value that selects this mode.
    pub fn env_value(self) -> &'static str {
        match self {
            WriteMode::Cas => "cas",
            WriteMode::LastWriterWins => "last-writer-wins",
        }
    }
}

/// Everything the handler reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bucket used when a request names none (`BUCKET_NAME`, default `hsdstest`).
    pub bucket_name: String,
    /// The admin user (`ADMIN_USER`, default `admin`).
    pub admin_user: String,
    /// The Lambda function name (`AWS_LAMBDA_FUNCTION_NAME`); also an admin, with password `lambda`.
    pub function_name: Option<String>,
    /// HSDS `passwd.txt`-format users file (`PASSWORD_FILE`).
    pub password_file: Option<String>,
    /// HSDS groups file (`GROUPS_FILE`).
    pub groups_file: Option<String>,
    /// Whether requests without credentials may read through the `default` ACL (`ALLOW_NOAUTH`, default true).
    pub allow_noauth: bool,
    /// Whether new domains get a `default` read ACL (`DEFAULT_PUBLIC`, default false).
    pub default_public: bool,
    /// Base URL put in `hrefs` (`HSDS_ENDPOINT`, default empty → relative hrefs).
    pub endpoint: String,
    /// Server name reported by `/about` (`SERVER_NAME`).
    pub server_name: String,
    /// Read-modify-write mode (`HSLAMBDA_WRITE_MODE=cas|last-writer-wins`).
    pub write_mode: WriteMode,
    /// Smallest auto-chunk size in bytes (`MIN_CHUNK_SIZE`, default 1 MiB).
    pub min_chunk_size: u64,
    /// Largest auto-chunk size in bytes (`MAX_CHUNK_SIZE`, default 4 MiB).
    pub max_chunk_size: u64,
    /// Largest response body in bytes before encoding; Lambda's 6 MB sync limit applies on top.
    pub max_request_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bucket_name: "hsdstest".into(),
            admin_user: "admin".into(),
            function_name: None,
            password_file: None,
            groups_file: None,
            allow_noauth: true,
            default_public: false,
            endpoint: String::new(),
            server_name: "hslambda".into(),
            write_mode: WriteMode::Cas,
            min_chunk_size: 1024 * 1024,
            max_chunk_size: 4 * 1024 * 1024,
            max_request_size: 100 * 1024 * 1024,
        }
    }
}

/// Parses HSDS unit strings: `4m` → 4 MiB, `512k`, `1g`, or plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1024),
        'm' => (&s[..s.len() - 1], 1024 * 1024),
        'g' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (&s[..], 1),
    };
    num.trim().parse::<u64>().ok().map(|n| n * mult)
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let flag =
            |k: &str, default: bool| env(k).map(|v| !matches!(v.as_str(), "0" | "false" | "False")).unwrap_or(default);
        let d = Config::default();
        Config {
            bucket_name: env("BUCKET_NAME").unwrap_or(d.bucket_name),
            admin_user: env("ADMIN_USER").unwrap_or(d.admin_user),
            function_name: env("AWS_LAMBDA_FUNCTION_NAME"),
            password_file: env("PASSWORD_FILE"),
            groups_file: env("GROUPS_FILE"),
            allow_noauth: flag("ALLOW_NOAUTH", true),
            default_public: flag("DEFAULT_PUBLIC", false),
            endpoint: env("HSDS_ENDPOINT").unwrap_or_default(),
            server_name: env("SERVER_NAME").unwrap_or(d.server_name),
            write_mode: WriteMode::from_env_value(env("HSLAMBDA_WRITE_MODE").as_deref()),
            min_chunk_size: env("MIN_CHUNK_SIZE").and_then(|v| parse_size(&v)).unwrap_or(d.min_chunk_size),
            max_chunk_size: env("MAX_CHUNK_SIZE").and_then(|v| parse_size(&v)).unwrap_or(d.max_chunk_size),
            max_request_size: env("MAX_REQUEST_SIZE").and_then(|v| parse_size(&v)).unwrap_or(d.max_request_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4m"), Some(4 << 20));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }
}
