//! The load generator itself, run briefly against a server it starts: it must measure real
//! traffic and find nothing lost, duplicated or reordered.

use std::path::PathBuf;
use std::process::Command;

fn loadtest() -> PathBuf {
    let server = PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
    server.with_file_name("loadtest")
}

fn run(args: &[&str]) -> serde_json::Value {
    let binary = loadtest();
    assert!(binary.exists(), "build the workspace first: {} is missing", binary.display());
    let output = Command::new(&binary)
        .args(args)
        .args(["--json", "--spawn-server", env!("CARGO_BIN_EXE_switchboard")])
        .output()
        .expect("run loadtest");
    assert!(output.status.success(), "loadtest failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON summary on stdout")
}

#[test]
fn the_chat_scenario_delivers_every_acknowledged_message_once_in_order() {
    for transport in ["ws", "quic"] {
        let summary =
            run(&["chat", "--transport", transport, "--pairs", "4", "--rate", "400", "--duration", "1"]);
        assert_eq!(summary["scenario"], "chat");
        assert_eq!(summary["transport"], transport);
        assert!(summary["acked"].as_u64().unwrap() > 300, "{summary}");
        assert_eq!(summary["acked"], summary["delivered"], "{summary}");
        for field in ["lost", "duplicates", "out_of_order", "errors"] {
            assert_eq!(summary[field], 0, "{field}: {summary}");
        }
        assert!(summary["p99_ms"].as_f64().unwrap() > 0.0);
        assert!(summary["server_rss_bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn the_reconnect_scenario_misses_nothing() {
    let summary = run(&[
        "reconnect",
        "--pairs",
        "5",
        "--rate",
        "200",
        "--duration",
        "2",
        "--drop-after",
        "0.5",
        "--offline",
        "0.5",
    ]);
    assert!(summary["acked"].as_u64().unwrap() > 100, "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["duplicates"], 0, "{summary}");
}

#[test]
fn the_connections_scenario_reports_memory_per_connection() {
    let summary = run(&["connections", "--connections", "200", "--hold", "1"]);
    assert_eq!(summary["connections"], 200, "{summary}");
    assert!(summary["server_rss_per_connection_bytes"].as_u64().is_some(), "{summary}");
}

#[test]
fn the_assign_scenario_serves_every_visitor_once_within_capacity() {
    let summary = run(&[
        "assign",
        "--agents",
        "5",
        "--capacity",
        "2",
        "--rate",
        "10",
        "--duration",
        "2",
        "--think-ms",
        "100",
        "--service-ms",
        "500",
    ]);
    assert_eq!(summary["scenario"], "assign");
    assert!(summary["assignments_per_s"].as_f64().unwrap() > 0.0, "{summary}");
    for field in ["double_assignments", "capacity_overshoots", "starved"] {
        assert_eq!(summary[field], 0.0, "{field}: {summary}");
    }
    assert!(summary["jain_index"].as_f64().unwrap() > 0.5, "{summary}");
}

#[test]
fn the_fanout_scenario_delivers_every_post_to_every_fast_member_despite_a_slow_one() {
    let summary = run(&[
        "fanout",
        "--members",
        "8",
        "--rate",
        "50",
        "--duration",
        "1",
        "--slow",
        "--slow-read-ms",
        "200",
    ]);
    assert_eq!(summary["scenario"], "fanout");
    assert_eq!(summary["acked"], 50, "{summary}");
    assert_eq!(summary["delivered"], 50 * 6, "every fast member got every post: {summary}");
    for field in ["lost", "out_of_order", "errors"] {
        assert_eq!(summary[field], 0, "{field}: {summary}");
    }
    assert!(summary["server_cpu_us_per_delivery"].as_f64().unwrap() > 0.0, "{summary}");
}
