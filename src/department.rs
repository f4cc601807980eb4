//! `switchboard department ...`: departments and their members on a running server, over
//! its HTTP API, as an administrator (docs/ROUTING.md).

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use switchboard_protocol::hours::{BusinessHours, OpeningSpan, Weekday};
use switchboard_protocol::http::{DepartmentChanges, DepartmentSummary};

use crate::admin::{self, Target};

/// Routing settings, as flags (only those given change).
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// Automatic mode (offers) instead of manual (agents accept from the queue).
    #[arg(long)]
    automatic: Option<bool>,
    /// Offers are assignments at once.
    #[arg(long)]
    auto_accept: Option<bool>,
    /// How long an agent has to accept an offer, ms.
    #[arg(long)]
    offer_timeout_ms: Option<u64>,
    /// Burst control: new chats per agent per window …
    #[arg(long)]
    ramp_max: Option<u32>,
    /// … of this many ms.
    #[arg(long)]
    ramp_window_ms: Option<u64>,
    /// An offline agent's active chats return to the queue (otherwise they stay with it).
    #[arg(long)]
    requeue_on_offline: Option<bool>,
    /// Business hours, in `--time-zone`: `"mon-fri 09:00-17:00; sat 10:00-14:00"` (a day or
    /// a range of days, then a span; `;` between entries). `none`: always open.
    #[arg(long)]
    hours: Option<String>,
    /// The hours' IANA time zone, e.g. Europe/Berlin.
    #[arg(long, requires = "hours")]
    time_zone: Option<String>,
}

impl SettingsArgs {
    /// The request body: `name` and the settings given.
    fn changes(self, name: Option<String>) -> anyhow::Result<DepartmentChanges> {
        let hours = match (self.hours.as_deref(), self.time_zone) {
            (Some("none"), _) => Some(None),
            (Some(text), Some(time_zone)) => Some(Some(parse_hours(text, time_zone)?)),
            (Some(_), None) => anyhow::bail!("--hours needs --time-zone (e.g. Europe/Berlin)"),
            (None, _) => None,
        };
        Ok(DepartmentChanges {
            name,
            automatic: self.automatic,
            auto_accept: self.auto_accept,
            offer_timeout_ms: self.offer_timeout_ms,
            ramp_max: self.ramp_max,
            ramp_window_ms: self.ramp_window_ms,
            requeue_on_offline: self.requeue_on_offline,
            hours,
        })
    }
}

/// `"mon-fri 09:00-17:00; sat 10:00-14:00"` as business hours (the server checks the
/// times and the zone).
fn parse_hours(text: &str, time_zone: String) -> anyhow::Result<BusinessHours> {
    let day = |name: &str| {
        Weekday::ALL
            .into_iter()
            .find(|d| serde_json::to_value(d).is_ok_and(|v| v == name.trim()))
            .with_context(|| format!("{name:?} is not a day (mon, tue, … sun)"))
    };
    let mut weekly = Vec::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (days, span) =
            entry.split_once(' ').with_context(|| format!("{entry:?}: give days, then HH:MM-HH:MM"))?;
        let (open, close) =
            span.trim().split_once('-').with_context(|| format!("{span:?}: give HH:MM-HH:MM"))?;
        let (first, last) = match days.split_once('-') {
            Some((a, b)) => (day(a)?, day(b)?),
            None => (day(days)?, day(days)?),
        };
        anyhow::ensure!(first <= last, "{days:?}: a range of days runs from Monday towards Sunday");
        for d in Weekday::ALL.into_iter().filter(|d| (first..=last).contains(d)) {
            weekly.push(OpeningSpan { day: d, open: open.trim().into(), close: close.trim().into() });
        }
    }
    Ok(BusinessHours { time_zone, weekly })
}

/// Departments.
#[derive(Debug, Subcommand)]
pub enum DepartmentCommand {
    /// Create a department and print it.
    Create {
        /// Name: a-z 0-9 - _ (visitors name it in `start_chat`).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(flatten)]
        target: Target,
    },
    /// List departments: id, name, mode, members.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Rename a department or change its routing settings.
    Update {
        /// The department's id.
        id: u64,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Add an agent to a department.
    AddAgent {
        id: u64,
        agent: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Remove an agent from a department.
    RemoveAgent {
        id: u64,
        agent: u64,
        #[command(flatten)]
        target: Target,
    },
}

/// Run a department subcommand.
pub fn run(command: DepartmentCommand) -> anyhow::Result<()> {
    let none: Option<&()> = None;
    let shown: DepartmentSummary = match command {
        DepartmentCommand::Create { name, settings: s, target } => {
            let body = s.changes(Some(name))?;
            admin::call(&target, Method::POST, "/api/v1/departments", Some(&body))?
        }
        DepartmentCommand::List { target } => {
            let all: Vec<DepartmentSummary> = admin::call(&target, Method::GET, "/api/v1/departments", none)?;
            for d in all {
                println!("{}", line(&d));
            }
            return Ok(());
        }
        DepartmentCommand::Update { id, name, settings: s, target } => {
            let body = s.changes(name)?;
            admin::call(&target, Method::PATCH, &format!("/api/v1/departments/{id}"), Some(&body))?
        }
        DepartmentCommand::AddAgent { id, agent, target } => {
            admin::call(&target, Method::PUT, &format!("/api/v1/departments/{id}/agents/{agent}"), none)?
        }
        DepartmentCommand::RemoveAgent { id, agent, target } => {
            admin::call(&target, Method::DELETE, &format!("/api/v1/departments/{id}/agents/{agent}"), none)
                .context("removing the agent")?
        }
    };
    println!("{}", line(&shown));
    Ok(())
}

/// One tab-separated line: id, name, mode, members (comma-separated), hours.
fn line(d: &DepartmentSummary) -> String {
    let mode = match (d.automatic, d.auto_accept) {
        (false, _) => "manual".to_string(),
        (true, false) => format!("automatic (offers {} ms)", d.offer_timeout_ms),
        (true, true) => "automatic (auto-accept)".to_string(),
    };
    let members: Vec<String> = d.agents.iter().map(u64::to_string).collect();
    let hours = match &d.hours {
        None => "always open".to_string(),
        Some(h) => {
            let spans: Vec<String> = h
                .weekly
                .iter()
                .map(|s| {
                    format!(
                        "{} {}-{}",
                        serde_json::to_value(s.day).unwrap_or_default().as_str().unwrap_or("?"),
                        s.open,
                        s.close
                    )
                })
                .collect();
            format!("{}: {}", h.time_zone, if spans.is_empty() { "closed".into() } else { spans.join(", ") })
        }
    };
    format!("{}\t{}\t{}\t{}\t{}", d.department_id, d.name, mode, members.join(","), hours)
}
