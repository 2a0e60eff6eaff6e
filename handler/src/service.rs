//! [`Service`]: the handler's long-lived state (store client, users, configuration) and its entry point.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::Users;
use crate::chunk::cache::WarmCache;
use crate::chunk::layouts::Layouts;
use crate::config::Config;
#[cfg(feature = "aws")]
use crate::config::WriteMode;
use crate::store::Store;
#[cfg(feature = "aws")]
use crate::store::{LastWriterWins, S3Store};

/// The HDF REST API over one store. Built once per process and reused by every invocation.
pub struct Service {
    /// Where objects live.
    pub store: Arc<dyn Store>,
    /// Settings from the environment.
    pub config: Config,
    /// Users and admins.
    pub users: Users,
    /// Process start, float Unix seconds (reported by `/about`).
    pub start_time: f64,
    /// Decoded chunks kept across invocations (validated by ETag on every use), sized from the function memory.
    pub chunk_cache: Arc<WarmCache>,
    /// Raw JSON of domains and objects kept across invocations, validated by ETag on every use
    /// (`Ctx::get_json_cached`): a warm metadata read is a conditional GET answered "not modified".
    pub meta_cache: Arc<WarmCache>,
    /// Chunk layouts of datasets this instance has read: a warm read revalidates its cached chunks while it
    /// reads the domain and the dataset ([`crate::chunk::layouts`]).
    pub layouts: Layouts,
}

/// Why a [`Service`] could not be built: a users file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A file named by the configuration could not be read.
    #[error("cannot read {setting} {path}: {source}")]
    Unreadable {
        /// The setting naming the file (`PASSWORD_FILE`, `GROUPS_FILE`).
        setting: &'static str,
        /// The file.
        path: String,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The password file has a malformed line.
    #[error("{path}: {message}")]
    BadPasswordFile {
        /// The file.
        path: String,
        /// Which line is wrong, and how.
        message: String,
    },
}

/// Bytes of metadata JSON a warm instance keeps: small enough for the 128 MB setting.
pub const META_CACHE_BYTES: usize = 8 << 20;

/// Current time as float Unix seconds, the timestamp format of every HSDS JSON object.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Reads the file `path` named by `setting`.
fn read(path: &str, setting: &'static str) -> Result<String, ServiceError> {
    std::fs::read_to_string(path).map_err(|source| ServiceError::Unreadable { setting, path: path.to_string(), source })
}

impl Service {
    /// A service over `store` with `config`; users come from `config.password_file` (if any), plus the
    /// function name (password `lambda`) when running as a Lambda function.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Result<Self, ServiceError> {
        let mut admins = vec![config.admin_user.clone()];
        admins.extend(config.function_name.clone());
        let mut users = Users::new(admins);
        if let Some(path) = &config.password_file {
            let text = read(path, "PASSWORD_FILE")?;
            users
                .load_passwd(&text)
                .map_err(|message| ServiceError::BadPasswordFile { path: path.clone(), message })?;
        }
        if let Some(path) = &config.groups_file {
            let text = read(path, "GROUPS_FILE")?;
            users.load_groups(&text);
        }
        if let Some(f) = &config.function_name {
            users.add(f, "lambda");
        }
        Ok(Service {
            store,
            config,
            users,
            start_time: now(),
            chunk_cache: Arc::new(WarmCache::from_env()),
            meta_cache: Arc::new(WarmCache::new(META_CACHE_BYTES)),
            layouts: Layouts::default(),
        })
    }

    /// The service the `bootstrap` binary runs: S3 store and configuration from the environment.
    #[cfg(feature = "aws")]
    pub fn from_env() -> Result<Self, ServiceError> {
        let config = Config::from_env();
        let store: Arc<dyn Store> = match config.write_mode {
            WriteMode::Cas => Arc::new(S3Store::from_env()),
            WriteMode::LastWriterWins => Arc::new(LastWriterWins(S3Store::from_env())),
        };
        Self::new(store, config)
    }
}
