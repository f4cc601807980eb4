//! `assign`: fair assignment against the real server. A fresh automatic department; agents
//! that accept each offer after a random think time and close each chat after a random
//! service time; visitors arriving open-loop. Measures how many chats are assigned per
//! second, how long visitors wait (start to accepted, seen by the visitor), how evenly the
//! agents are loaded (Jain's index over each agent's time-averaged load), and checks the
//! invariants: no chat assigned twice, no agent over capacity, no chat left waiting.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use rand::Rng;
use switchboard_protocol::{Request, ServerFrame, SessionState};

use crate::cpu::CpuWindow;
use crate::report::Summary;
use crate::setup::{Dialer, Server, Target};

/// `loadtest assign` options.
#[derive(Debug, Args)]
pub struct AssignArgs {
    #[command(flatten)]
    pub target: Target,
    /// Agents in the department.
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
    /// Each agent's `max_concurrent_chats`.
    #[arg(long, default_value_t = 3)]
    pub capacity: u32,
    /// Visitors arriving per second (open loop).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds of arrivals.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Agents accept an offer after a uniformly random think time up to this many ms.
    #[arg(long, default_value_t = 500)]
    pub think_ms: u64,
    /// Agents close a chat after a uniformly random service time up to this many ms.
    #[arg(long, default_value_t = 4000)]
    pub service_ms: u64,
}

/// How long, after the last arrival, chats may still take to be assigned before they count
/// as starved.
const DRAIN: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Ledger {
    /// Session → agents that got `accepted` for it.
    assigned: HashMap<u64, Vec<u64>>,
    /// Agent → chats held now, and ∫ held dt (ms) with the time it last changed.
    held: HashMap<u64, (u32, f64, Instant)>,
    overshoots: u64,
    waits_ms: Vec<u64>,
}

impl Ledger {
    fn change(&mut self, agent: u64, delta: i32, capacity: u32, start: Instant) {
        let now = Instant::now();
        let entry = self.held.entry(agent).or_insert((0, 0.0, start));
        entry.1 += f64::from(entry.0) * now.duration_since(entry.2).as_secs_f64() * 1000.0;
        entry.2 = now;
        entry.0 = entry.0.saturating_add_signed(delta);
        if entry.0 > capacity {
            self.overshoots += 1;
        }
    }
}

pub async fn run(args: AssignArgs) -> anyhow::Result<Summary> {
    let server = Server::open(&args.target)?;
    let dialer = Arc::new(Dialer::new(&args.target, &server)?);
    let http = reqwest::Client::new();
    let name = format!("assign-{}", std::process::id());
    let department: serde_json::Value = admin(
        &http,
        &server,
        reqwest::Method::POST,
        "/api/v1/departments",
        serde_json::json!({"name": name, "automatic": true, "ramp_max": 1000, "ramp_window_ms": 1000}),
    )
    .await?;
    let department_id = department["department_id"].as_u64().unwrap_or(0);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let start = Instant::now();
    let mut agent_tasks = Vec::new();
    for i in 0..args.agents {
        let token = server.create_agent(&http, &format!("assign agent {i}"), args.capacity).await?;
        let (id, _) = token.split_once('.').unwrap_or(("0", ""));
        let id: u64 = id.parse()?;
        let path = format!("/api/v1/departments/{department_id}/agents/{id}");
        admin(&http, &server, reqwest::Method::PUT, &path, serde_json::json!({})).await?;
        let mut client = dialer.agent(&token).await?;
        let mut events = client.take_events();
        let client = Arc::new(client);
        let (ledger, think, service, capacity) =
            (ledger.clone(), args.think_ms, args.service_ms, args.capacity);
        agent_tasks.push(tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let ServerFrame::Offer { session, .. } = event else { continue };
                let (client, ledger) = (client.clone(), ledger.clone());
                tokio::spawn(async move {
                    let pause = rand::thread_rng().gen_range(0..=think);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    let sid = session.session_id;
                    if let Ok(ServerFrame::Accepted { .. }) =
                        client.call(Request::AcceptOffer { session_id: sid }).await
                    {
                        {
                            let mut l = ledger.lock().unwrap();
                            l.assigned.entry(sid).or_default().push(id);
                            l.change(id, 1, capacity, start);
                        }
                        let hold = rand::thread_rng().gen_range(0..=service);
                        tokio::time::sleep(Duration::from_millis(hold)).await;
                        if client.call(Request::Close { session_id: sid }).await.is_ok() {
                            ledger.lock().unwrap().change(id, -1, capacity, start);
                        }
                    }
                });
            }
        }));
    }
    let cpu = CpuWindow::start(server.pid);
    let started = Instant::now();
    let visitors = (args.rate * args.duration).round() as usize;
    let mut visitor_tasks = Vec::with_capacity(visitors);
    for n in 0..visitors {
        // Open loop: each arrival at its scheduled time, whatever happened before.
        let due = started + Duration::from_secs_f64(n as f64 / args.rate);
        tokio::time::sleep_until(due.into()).await;
        let (dialer, ledger, name) = (dialer.clone(), ledger.clone(), name.clone());
        visitor_tasks.push(tokio::spawn(async move {
            let mut visitor = dialer.connect().await?;
            let request = Request::StartChat {
                name: Some(format!("visitor {n}")),
                email: None,
                page_url: None,
                first_message: None,
                client_msg_id: None,
                department: Some(name),
            };
            let asked = Instant::now();
            let ServerFrame::ChatStarted { session, .. } = visitor.call(request).await? else {
                bail!("start_chat")
            };
            let deadline = Instant::now() + DRAIN + Duration::from_secs(5);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match visitor.next_event(left).await {
                    Ok(ServerFrame::SessionUpdated { session: s })
                        if s.session_id == session.session_id && s.state != SessionState::Waiting =>
                    {
                        ledger.lock().unwrap().waits_ms.push(asked.elapsed().as_millis() as u64);
                        return Ok(true);
                    }
                    Ok(_) => continue,
                    Err(_) => return Ok(false),
                }
            }
        }));
    }
    let mut served = 0u64;
    let mut errors = 0u64;
    for task in visitor_tasks {
        match task.await? {
            Ok(true) => served += 1,
            Ok(false) => {}
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu.finish(served);
    for task in agent_tasks {
        task.abort();
    }
    let l = ledger.lock().unwrap();
    let doubles = l.assigned.values().filter(|agents| agents.len() > 1).count() as u64;
    let assigned: HashSet<&u64> = l.assigned.keys().collect();
    let starved = (visitors as u64).saturating_sub(served).saturating_sub(errors);
    let mut waits = l.waits_ms.clone();
    waits.sort_unstable();
    let pct =
        |p: f64| waits.get(((waits.len() as f64 * p) as usize).min(waits.len().saturating_sub(1))).copied();
    let total_ms = start.elapsed().as_secs_f64() * 1000.0;
    let ratios: Vec<f64> = l
        .held
        .values()
        .map(|(held, area, at)| {
            let area = area + f64::from(*held) * at.elapsed().as_secs_f64() * 1000.0;
            area / (f64::from(args.capacity) * total_ms)
        })
        .collect();
    let (sum, squares) = ratios.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
    let jain = if squares > 0.0 { sum * sum / (args.agents as f64 * squares) } else { 0.0 };
    let mut summary = Summary {
        scenario: "assign".into(),
        transport: args.target.transport.name().into(),
        connections: (args.agents + visitors) as u64,
        offered_rate: args.rate,
        duration_s: args.duration,
        errors,
        json: args.target.json,
        ..Summary::default()
    };
    summary.set_cpu(&cpu);
    let figures = [
        ("assignments_per_s", assigned.len() as f64 / elapsed),
        ("wait_ms_p50", pct(0.5).unwrap_or(0) as f64),
        ("wait_ms_p99", pct(0.99).unwrap_or(0) as f64),
        ("wait_ms_max", waits.last().copied().unwrap_or(0) as f64),
        ("jain_index", (jain * 10_000.0).round() / 10_000.0),
        ("double_assignments", doubles as f64),
        ("capacity_overshoots", l.overshoots as f64),
        ("starved", starved as f64),
    ];
    summary.figures.extend(figures.iter().map(|(k, v)| (k.to_string(), *v)));
    Ok(summary)
}

async fn admin(
    http: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let response = http
        .request(method, format!("{}{path}", server.http_url))
        .bearer_auth(&server.admin_token)
        .json(&body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("{path}: {} {}", response.status(), response.text().await.unwrap_or_default());
    }
    Ok(response.json().await?)
}
