//! A real local HTTP receiver for webhook tests: a TCP listener on `127.0.0.1:0` that reads
//! each HTTP/1.1 request whole, records it, and answers as the test's rule says (a status,
//! or no answer at all). One request per connection (`Connection: close`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request the receiver reads: a ticket's description is at most 1 MiB.
const REQUEST_BYTES_MAX: usize = 4 * 1024 * 1024;
/// How long a hanging answer waits: far beyond any timeout the server is given in tests.
const HANG: Duration = Duration::from_secs(120);

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The status it was answered with (`None`: it was left hanging).
    pub status: Option<u16>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn key(&self) -> String {
        self.header("idempotency-key").unwrap_or_default().to_string()
    }
}

/// How to answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// This status after this many milliseconds.
    Delayed(u64, u16),
    /// Read it, never answer.
    Hang,
}

/// The rule: given the request and how many requests with its idempotency key came before
/// it (0 for the first), how to answer.
pub type Rule = Arc<dyn Fn(&Received, usize) -> Answer + Send + Sync>;

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    log: Arc<Mutex<Vec<Received>>>,
    rule: Arc<Mutex<Rule>>,
}

impl Receiver {
    /// Start one that answers by `rule`.
    pub async fn start(rule: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hooks/tickets", listener.local_addr().unwrap());
        let receiver = Receiver { url, log: Arc::default(), rule: Arc::new(Mutex::new(Arc::new(rule))) };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        receiver
    }

    /// Answer by another rule from now on.
    pub fn set_rule(&self, rule: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) {
        *self.rule.lock().unwrap() = Arc::new(rule);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The idempotency keys answered with a 2xx at least once.
    pub fn delivered(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .received()
            .iter()
            .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
            .map(Received::key)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Wait (bounded) until `done` holds of the requests received.
    pub async fn wait_until(&self, what: &str, mut done: impl FnMut(&[Received]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done(&self.received()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for: {what}; got {:?}",
                self.summary()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (key, status) of every request, for failure messages.
    pub fn summary(&self) -> Vec<(String, Option<u16>)> {
        self.received().iter().map(|r| (r.key(), r.status)).collect()
    }

    async fn serve(self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else { return };
        let before = self.received().iter().filter(|r| r.key() == request.key()).count();
        let rule = self.rule.lock().unwrap().clone();
        let answer = rule(&request, before);
        let index = {
            let mut log = self.log.lock().unwrap();
            log.push(request.clone());
            log.len() - 1
        };
        let status = match answer {
            Answer::Hang => return tokio::time::sleep(HANG).await,
            Answer::Status(status) => status,
            Answer::Delayed(ms, status) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                status
            }
        };
        let head = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        if stream.write_all(head.as_bytes()).await.is_ok() && stream.flush().await.is_ok() {
            self.log.lock().unwrap()[index].status = Some(status);
        }
    }
}

/// Read one request: headers up to the blank line, then `Content-Length` bytes of body.
async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buffer.len() > REQUEST_BYTES_MAX {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length.min(REQUEST_BYTES_MAX) {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received { headers, body, status: None })
}
