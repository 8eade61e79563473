//! `tonearm search <query>`: one page of Spotify's catalog search per kind asked for, as text or
//! JSON. The Web API client comes from [`crate::services::Clients`]. Called by `main.rs`.

use anyhow::{bail, Context, Result};

use super::args::SearchArgs;
use super::output::{self, say, Stdout};
use super::SignedIn;
use crate::api::webapi::SearchType;
use crate::config::Config;
use crate::services::Clients;

pub async fn run(demo: bool, cfg: Config, args: SearchArgs) -> Result<()> {
    let types = args
        .types
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.parse::<SearchType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--type: {e}"))?;
    let query = args.query.join(" ");
    if query.trim().is_empty() {
        bail!("say what to search for");
    }
    let signed = SignedIn::connect(demo, cfg).await?;
    let clients = Clients::new(&signed.config, &signed.session);
    let results = clients
        .web_api
        .search(&query, &types, args.limit, args.offset)
        .await;
    signed.close().await;
    let r = results.context("search failed")?;
    if args.json {
        return say!("{}", serde_json::to_string(&r)?);
    }
    output::written(output::write_search(&mut Stdout, &r))
}
