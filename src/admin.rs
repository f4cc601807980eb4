//! `switchboard agent ...`: administration subcommands that talk to a running server over
//! its HTTP API, authenticated with the administrator token.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use switchboard_protocol::console::{LoginSet, SetLogin};
use switchboard_protocol::http::{
    AgentCreated, AgentSummary, CreateAgent, HttpError, TokenRotated, UpdateAgent,
};

use crate::serve::ADMIN_TOKEN_FILE;

/// Where the server is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Base URL of the running server.
    #[arg(long, env = "SWITCHBOARD_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Administrator token [default: read from <data-dir>/admin-token].
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Data directory holding the generated admin token.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

/// Agent administration.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent and print its id and token (the token is shown only once).
    Create {
        /// Display name shown to visitors and colleagues.
        #[arg(long)]
        name: String,
        /// Most chats the agent handles at once.
        #[arg(long, default_value_t = 5)]
        max_chats: u32,
        #[command(flatten)]
        target: Target,
    },
    /// List agents.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Change an agent's name, capacity or disabled flag (a disabled agent's connections are
    /// closed and its token refused).
    Update {
        /// The agent's id.
        id: u64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        max_chats: Option<u32>,
        #[arg(long)]
        disabled: Option<bool>,
        /// Administers the server from the console (its administration pages, the admin
        /// API with the console session).
        #[arg(long)]
        admin: Option<bool>,
        #[command(flatten)]
        target: Target,
    },
    /// Give an agent a new token (printed once); the old one stops working and the agent's
    /// connections are closed.
    RotateToken {
        /// The agent's id.
        id: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Set an agent's console sign-in: its email and/or a password (read from standard
    /// input, one line, so it never appears in the process list). A new password signs the
    /// agent out of every console.
    SetLogin {
        /// The agent's id.
        id: u64,
        #[arg(long)]
        email: Option<String>,
        /// Read a new password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The new password is temporary: the agent must choose their own at the first
        /// sign-in.
        #[arg(long, requires = "password_stdin")]
        temporary: bool,
        #[command(flatten)]
        target: Target,
    },
}

/// Run an agent subcommand.
pub fn run(command: AgentCommand) -> anyhow::Result<()> {
    let command = match command {
        AgentCommand::Update { id, name, max_chats, disabled, admin, target } => {
            let body = UpdateAgent { display_name: name, max_concurrent_chats: max_chats, disabled, admin };
            let a: AgentSummary =
                call(&target, reqwest::Method::PATCH, &format!("/api/v1/agents/{id}"), Some(&body))?;
            println!(
                "{}\t{}\t{}\t{}{}",
                a.agent_id,
                a.max_concurrent_chats,
                if a.disabled { "disabled" } else { "enabled" },
                a.display_name,
                if a.admin { "\tadministrator" } else { "" }
            );
            return Ok(());
        }
        AgentCommand::RotateToken { id, target } => {
            let none: Option<&()> = None;
            let rotated: TokenRotated =
                call(&target, reqwest::Method::POST, &format!("/api/v1/agents/{id}/token"), none)?;
            println!("agent_id: {}\ntoken: {}", rotated.agent_id, rotated.token);
            return Ok(());
        }
        AgentCommand::SetLogin { id, email, password_stdin, temporary, target } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let body = SetLogin { email, password, temporary };
            let set: LoginSet =
                call(&target, reqwest::Method::PUT, &format!("/api/v1/agents/{id}/login"), Some(&body))?;
            println!(
                "agent_id: {}\nemail: {}\npassword: {}",
                set.agent_id,
                set.email.as_deref().unwrap_or("-"),
                if set.has_password { "set" } else { "none" }
            );
            return Ok(());
        }
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        match command {
            AgentCommand::Create { name, max_chats, target } => {
                let body = CreateAgent { display_name: name, max_concurrent_chats: max_chats };
                let response = client(&target)?
                    .post(url(&target, "/api/v1/agents"))
                    .bearer_auth(token(&target)?)
                    .json(&body)
                    .send()
                    .await?;
                let created: AgentCreated = parse(response).await?;
                println!(
                    "agent_id: {}\ndisplay_name: {}\nmax_concurrent_chats: {}\ntoken: {}",
                    created.agent.agent_id,
                    created.agent.display_name,
                    created.agent.max_concurrent_chats,
                    created.token
                );
            }
            AgentCommand::List { target } => {
                let response = client(&target)?
                    .get(url(&target, "/api/v1/agents"))
                    .bearer_auth(token(&target)?)
                    .send()
                    .await?;
                let agents: Vec<AgentSummary> = parse(response).await?;
                for a in agents {
                    println!("{}\t{}\t{}", a.agent_id, a.max_concurrent_chats, a.display_name);
                }
            }
            AgentCommand::Update { .. }
            | AgentCommand::RotateToken { .. }
            | AgentCommand::SetLogin { .. } => unreachable!("handled above"),
        }
        Ok(())
    })
}

/// Call `method path` with the administrator token (and `body` as JSON when given), waiting
/// at most 10 s; parse the answer.
pub fn call<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    target: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<&B>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut request = client(target)?.request(method, url(target, path)).bearer_auth(token(target)?);
        if let Some(body) = body {
            request = request.json(body);
        }
        parse(request.send().await?).await
    })
}

/// POST `body` as JSON to `path` with the administrator token, waiting at most `timeout`;
/// parse the answer.
pub fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    target: &Target,
    path: &str,
    body: &B,
    timeout: std::time::Duration,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let request = client(target)?.post(url(target, path)).timeout(timeout);
        let response = request.bearer_auth(token(target)?).json(body).send().await?;
        parse(response).await
    })
}

fn client(_target: &Target) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?)
}

fn url(target: &Target, path: &str) -> String {
    format!("{}{path}", target.server.trim_end_matches('/'))
}

fn token(target: &Target) -> anyhow::Result<String> {
    if let Some(token) = &target.admin_token {
        return Ok(token.clone());
    }
    let path = target.data_dir.join(ADMIN_TOKEN_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no --admin-token given and {} is unreadable", path.display()))?;
    Ok(text.trim().to_string())
}

async fn parse<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<T> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).context("unexpected response body");
    }
    match serde_json::from_slice::<HttpError>(&bytes) {
        Ok(e) => bail!("server refused ({status}): {}: {}", e.code, e.message),
        Err(_) => bail!("server refused ({status}): {}", String::from_utf8_lossy(&bytes)),
    }
}
