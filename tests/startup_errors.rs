//! A start that cannot succeed says why, naming the address or path, and leaves nothing
//! behind: a taken address, a corrupt settings file, an unwritable or full data directory,
//! a database that will not open. And a disk that fills while serving: clear errors, the
//! node reports not ready, nothing acknowledged is lost, an accept it refuses leaves the
//! chat in line.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_protocol::{ErrorCode, Request, ServerFrame};

use crate::support::*;

/// Run `switchboard serve` with `args`; it must fail within a few seconds. Returns stderr.
pub(crate) fn failed_start(args: &[&str], data_dir: &Path) -> String {
    let mut child = Command::new(binary())
        .args(["serve", "--log", "info"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started although it should not have");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "a failed start exits non-zero");
    stderr
}

/// Free ports on loopback for flags that must not collide with the one under test.
const ANY: [&str; 4] = ["--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0"];

#[test]
fn a_taken_http_address_is_named_and_nothing_is_created() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let stderr = failed_start(&["--http-addr", &addr, "--quic-addr", "127.0.0.1:0"], &data);
    assert!(stderr.contains(&format!("binding the HTTP listener on {addr}")), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(!data.exists(), "a failed start created {}", data.display());
}

#[test]
fn a_taken_quic_address_is_named_and_nothing_is_created() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let stderr = failed_start(&["--http-addr", "127.0.0.1:0", "--quic-addr", &addr], &data);
    assert!(stderr.contains(&format!("binding the QUIC (UDP) socket on {addr}")), "{stderr}");
    assert!(!data.exists(), "a failed start created {}", data.display());
}

#[test]
fn a_corrupt_or_unknown_setting_in_the_file_is_named() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let config = root.path().join("switchboard.toml");
    std::fs::write(&config, "http_addr = \"127.0.0.1:0\"\nthis is not toml = = \n").unwrap();
    let config_arg = config.to_str().unwrap();
    let stderr = failed_start(&[&ANY[..], &["--config", config_arg]].concat(), &data);
    assert!(stderr.contains(&format!("parsing the settings file {config_arg}")), "{stderr}");
    std::fs::write(&config, "htp_addr = \"127.0.0.1:0\"\n").unwrap();
    let stderr = failed_start(&[&ANY[..], &["--config", config_arg]].concat(), &data);
    assert!(stderr.contains("unknown field `htp_addr`"), "{stderr}");
    let stderr = failed_start(&[&ANY[..], &["--config", "/nonexistent/switchboard.toml"]].concat(), &data);
    assert!(stderr.contains("reading the settings file /nonexistent/switchboard.toml"), "{stderr}");
    assert!(!data.exists());
}

/// A tmpfs mounted for one test, unmounted when dropped. Needs root (CI runs as root).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs ({options}) failed: these tests need root");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the filesystem, leaving about `keep` bytes free.
    fn fill(&self, keep: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let stat = nix_statvfs(self.path());
        let size = stat.saturating_sub(keep);
        let status = Command::new("fallocate").args(["-l", &size.to_string()]).arg(&filler).status().unwrap();
        assert!(status.success());
        filler
    }
}

/// Free bytes on the filesystem holding `path` (`df`, to avoid a libc dependency).
fn nix_statvfs(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn an_unwritable_data_directory_is_named() {
    let mount = Tmpfs::mount("size=4m,ro");
    let data = mount.path().join("data");
    let stderr = failed_start(&ANY, &data);
    assert!(stderr.contains(&format!("creating the data directory {}", data.display())), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
}

#[test]
fn a_full_disk_at_start_is_named_and_what_the_start_created_is_removed() {
    let mount = Tmpfs::mount("size=4m");
    mount.fill(8 * 1024);
    let data = mount.path().join("data");
    let stderr = failed_start(&ANY, &data);
    assert!(stderr.contains(&format!("opening the database in {}", data.join("db").display())), "{stderr}");
    assert!(stderr.to_lowercase().contains("no space left"), "{stderr}");
    assert!(!data.exists(), "a failed start left {} behind", data.display());
}

#[test]
fn a_database_that_will_not_open_is_named_and_the_existing_directory_is_kept() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("db"), "a file where the database should be").unwrap();
    let stderr = failed_start(&ANY, root.path());
    assert!(
        stderr.contains(&format!("opening the database in {}", root.path().join("db").display())),
        "{stderr}"
    );
    let mut left: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["db"], "nothing was added next to what was there");
}

#[tokio::test]
async fn a_disk_that_fills_while_serving_gives_clear_errors_and_loses_nothing_acknowledged() {
    let mount = Tmpfs::mount("size=64m");
    let data = tempfile::Builder::new().prefix("data").tempdir_in(mount.path()).unwrap();
    let mut server =
        TestServer::start_in(data, &["--visitor-rate-per-s", "1000000", "--visitor-burst", "1000000"], false);
    let (agent, _, token) = server.agent("Ann").await;
    let (visitor, sid, _) = server.visitor("Vera", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    let filler = mount.fill(256 * 1024);
    let text = "x".repeat(4000);
    let mut acked = Vec::new();
    let mut failure = None;
    for i in 0..5000 {
        match visitor.request(say(sid, &format!("m{i}"), &text)).await.unwrap() {
            ServerFrame::MessageAck { seq, .. } => acked.push(seq),
            ServerFrame::Error { code, message, .. } => {
                failure = Some((code, message));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let (code, message) = failure.expect("the disk never filled");
    assert_eq!(code, ErrorCode::StorageError, "{message}");
    assert!(message.to_lowercase().contains("no space left"), "{message}");
    // Still alive; not ready; the error counted.
    let health = reqwest::get(format!("{}/healthz", server.http_url())).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{}/readyz", server.http_url())).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("storage"), "{body}");
    let metrics = reqwest::get(format!("{}/metrics", server.http_url())).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchboard_ready 0"), "{metrics}");
    let write_errors = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_storage_write_errors_total "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(write_errors.is_some_and(|n| n > 0.0), "{metrics}");

    // Space comes back; after a restart every acknowledged message is there, once.
    std::fs::remove_file(filler).unwrap();
    drop((agent, visitor));
    server.kill9();
    server.restart();
    let agent = server.agent_with_token(&token).await;
    let stored = transcript(&agent, sid).await;
    let seqs: Vec<u64> = stored.iter().map(|(s, _)| *s).collect();
    for seq in &acked {
        assert!(seqs.contains(seq), "acknowledged seq {seq} lost");
    }
    assert!(!acked.is_empty());
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(unique, seqs, "no duplicates");
    drop(agent);
    drop(server);
    drop(mount);
}

#[tokio::test]
async fn an_offer_accepted_on_a_full_disk_is_refused_and_the_chat_is_offered_again() {
    let mount = Tmpfs::mount("size=64m");
    let data = tempfile::Builder::new().prefix("data").tempdir_in(mount.path()).unwrap();
    let mut server =
        TestServer::start_in(data, &["--visitor-rate-per-s", "1000000", "--visitor-burst", "1000000"], false);
    let (mut agent, _, token) = server.agent("Ann").await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/departments/1", server.http_url());
    let changed = http
        .patch(url)
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"automatic": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let (visitor, sid, _) = server.visitor("Vera", None).await;
    let offered =
        |f: &ServerFrame| matches!(f, ServerFrame::Offer { session, .. } if session.session_id == sid);
    wait_for(&mut agent, |f| offered(f).then_some(())).await;
    // Fill the disk until a write fails (the waiting visitor's messages).
    let filler = mount.fill(256 * 1024);
    let text = "x".repeat(4000);
    for i in 0.. {
        match visitor.request(say(sid, &format!("m{i}"), &text)).await.unwrap() {
            ServerFrame::MessageAck { .. } => assert!(i < 5000, "the disk never filled"),
            ServerFrame::Error { code: ErrorCode::StorageError, .. } => break,
            other => panic!("{other:?}"),
        }
    }
    // The accept cannot be made durable: refused, and the chat is not lost to routing —
    // it is offered again at once.
    let reply = agent.request(Request::AcceptOffer { session_id: sid }).await.unwrap();
    assert!(matches!(reply, ServerFrame::Error { code: ErrorCode::StorageError, .. }), "{reply:?}");
    wait_for(&mut agent, |f| offered(f).then_some(())).await;
    // With space back and the server restarted, the chat waits and is offered and accepted.
    std::fs::remove_file(filler).unwrap();
    drop((agent, visitor));
    server.kill9();
    server.restart();
    let mut agent = server.agent_with_token(&token).await;
    wait_for(&mut agent, |f| offered(f).then_some(())).await;
    let reply = agent.call(Request::AcceptOffer { session_id: sid }).await.unwrap();
    assert!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
    drop(agent);
    drop(server);
    drop(mount);
}
