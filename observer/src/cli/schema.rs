//! `llm-observer schema [--print | --apply]`: the ClickHouse tables by hand
//! (the agent applies them itself at start unless `--clickhouse-schema off`).

use std::path::PathBuf;

use clap::Args;

use super::{
    clickhouse_args::{ArgsError, ConnArgs, SchemaArgs, DEFAULT_DATABASE},
    config::{ConfigError, FileConfig},
};
use crate::clickhouse::{classify, schema};

/// Print the ClickHouse schema, or apply it (idempotent, additive).
#[derive(Debug, Args)]
pub struct SchemaCmd {
    /// Print the statements (default).
    #[arg(long, conflicts_with = "apply")]
    pub print: bool,
    /// Run the statements against --clickhouse-url.
    #[arg(long)]
    pub apply: bool,
    #[arg(long, value_name = "FILE", env = "LLM_OBSERVER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Args(#[from] ArgsError),
    #[error("{0}")]
    ClickHouse(String),
}

pub fn run(cmd: &SchemaCmd) -> Result<(), SchemaError> {
    let file = FileConfig::load(cmd.config.as_deref())?;
    let resolved = cmd.conn.resolve(&file.clickhouse)?;
    let database = match &resolved {
        Some((_, db)) => db.clone(),
        None => cmd
            .conn
            .database
            .clone()
            .or_else(|| file.clickhouse.database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.into()),
    };
    let options = cmd.schema.resolve(database, &file.clickhouse);
    if !cmd.apply {
        print!("{}", schema::script(&options));
        return Ok(());
    }
    let Some((conn, _)) = resolved else {
        return Err(ArgsError::NoUrl.into());
    };
    let statements = schema::statements(&options);
    let client = conn.client();
    let rt = crate::clickhouse::runtime().map_err(|e| SchemaError::ClickHouse(e.to_string()))?;
    rt.block_on(async {
        for s in &statements {
            crate::clickhouse::bounded(client.query_raw(s).execute())
                .await
                .map_err(|e| {
                    let p = classify(&e);
                    SchemaError::ClickHouse(format!(
                        "{} ({}) at {}",
                        p.kind(),
                        p.detail(),
                        conn.shown_url()
                    ))
                })?;
        }
        Ok::<_, SchemaError>(())
    })?;
    println!(
        "applied {} statements to {} (database {})",
        statements.len(),
        conn.shown_url(),
        options.database
    );
    Ok(())
}
