//! Flags for attribution: the state dir (API key fingerprint secret), static
//! tags and where process tags come from. Shared by `run` and `replay`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::config::FileConfig;
use crate::attribution::{
    secret,
    tags::{self, TagConfig, Tags},
};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/llm-observer";

/// Where the API key fingerprint secret comes from (`run` and `replay`).
#[derive(Debug, Default, Args)]
pub struct KeyArgs {
    /// Where the agent keeps its state (the API key fingerprint secret).
    #[arg(long, value_name = "DIR", env = "LLM_OBSERVER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The secret that keys API key fingerprints (≥ 16 bytes). Give every
    /// host the same file for ids that match fleet-wide; default: one
    /// created in --state-dir.
    #[arg(long, value_name = "FILE", env = "LLM_OBSERVER_API_KEY_SECRET_FILE")]
    pub api_key_secret_file: Option<PathBuf>,
}

/// Tags (`run`).
#[derive(Debug, Default, Args)]
pub struct TagArgs {
    /// A tag on every row, KEY=VALUE (repeatable; e.g. --tag role=batch).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = tags::parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Environment variables named PREFIX<name> in a calling process become
    /// tag <name> ("" turns it off).
    #[arg(long, value_name = "PREFIX", env = "LLM_OBSERVER_TAG_ENV_PREFIX")]
    pub tag_env_prefix: Option<String>,
    /// Do not read OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME of processes.
    #[arg(long)]
    pub no_otel_tags: bool,
}

/// What the processor needs for attribution.
#[derive(Clone, Debug, Default)]
pub struct AttributionConfig {
    pub secret: Vec<u8>,
    pub tags: TagConfig,
}

impl KeyArgs {
    /// The state dir: flag, then config file, then the default.
    pub fn state_dir(&self, file: &FileConfig) -> PathBuf {
        self.state_dir
            .clone()
            .or_else(|| file.state_dir.clone())
            .unwrap_or_else(|| DEFAULT_STATE_DIR.into())
    }

    /// Flags over the config file over defaults; loads (or creates) the secret.
    pub fn secret(&self, file: &FileConfig) -> Result<Vec<u8>, secret::SecretError> {
        let state_dir = self.state_dir(file);
        let secret_file = self
            .api_key_secret_file
            .as_deref()
            .or(file.api_key_secret_file.as_deref());
        secret::load(secret_file, Path::new(&state_dir))
    }
}

impl TagArgs {
    /// Flags over the config file over defaults (`--tag` adds to `[tags]`).
    pub fn config(&self, file: &FileConfig) -> TagConfig {
        let mut static_tags: Tags = file.tags.clone();
        static_tags.extend(self.tags.iter().cloned());
        TagConfig {
            static_tags,
            env_prefix: self
                .tag_env_prefix
                .clone()
                .or_else(|| file.tag_env_prefix.clone())
                .unwrap_or_else(|| tags::DEFAULT_ENV_PREFIX.into()),
            otel: !self.no_otel_tags && file.otel_tags.unwrap_or(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_over_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("attr-args-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file: FileConfig = toml::from_str(&format!(
            "state_dir = {:?}\ntag_env_prefix = \"ACME_\"\notel_tags = false\n[tags]\nrole = \"batch\"\nteam = \"platform\"\n",
            dir.display().to_string()
        ))
        .unwrap();
        let secret = KeyArgs::default().secret(&file).unwrap();
        assert_eq!(secret.len(), 64);
        assert!(dir.join(secret::FILE_NAME).exists());
        let tags = TagArgs {
            tags: vec![("team".into(), "search".into())],
            ..TagArgs::default()
        }
        .config(&file);
        assert_eq!(tags.static_tags["role"], "batch");
        assert_eq!(tags.static_tags["team"], "search");
        assert_eq!(tags.env_prefix, "ACME_");
        assert!(!tags.otel);
        let key_args = KeyArgs {
            state_dir: Some(dir.clone()),
            ..KeyArgs::default()
        };
        assert_eq!(
            key_args.secret(&FileConfig::default()).unwrap(),
            secret,
            "same state dir, same secret"
        );
        let tags = TagArgs {
            tag_env_prefix: Some(String::new()),
            ..TagArgs::default()
        }
        .config(&FileConfig::default());
        assert_eq!(tags.env_prefix, "");
        assert!(tags.otel);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
