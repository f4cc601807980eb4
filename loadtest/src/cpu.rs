//! CPU accounting and pinning for the load generator.
//!
//! A run's CPU window opens at the start of traffic (after connecting, authenticating and
//! starting chats) and closes after the drain. Over that window it reads the server's
//! utime + stime from `/proc/PID/stat` (fields 14 and 15, in clock ticks; all threads of
//! the process) and the generator's own from `getrusage(RUSAGE_SELF)`. The generator's
//! utilisation is taken over the busy part of the window (start of traffic to the last
//! acknowledgement, [`CpuWindow::mark_busy_end`]) so the quiet drain tail does not dilute
//! it, and is a fraction of the CPUs in its affinity mask. Its threads' run-queue wait
//! (`/proc/self/task/*/schedstat`, field 2) over the same part says how much more CPU it
//! wanted and did not get (a generator sharing its CPUs with the server, or with other
//! work, is starved long before it uses 80 % of them). Use above [`SATURATION_UTIL`]:
//! saturated, the result measures the generator, not the server. Use plus wait above it:
//! starved, latencies include the generator's own scheduling delays.
//!
//! Linux only (`/proc`, `sched_setaffinity`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Utilisation of its allowed CPUs above which the generator counts as saturated: past
/// this, scheduling delays in the generator itself show up as server latency (NOTES.md).
pub const SATURATION_UTIL: f64 = 0.8;

/// Highest CPU number a list may name (`CPU_SETSIZE` of glibc's `cpu_set_t`).
const CPU_SETSIZE: usize = 1024;

/// CPU time of another process (all its threads), from `/proc/PID/stat`.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat, clock_ticks_per_s())
}

/// utime + stime from a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may contain spaces, so fields are counted after the last `)`.
fn parse_stat_cpu(stat: &str, ticks_per_s: u64) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the `)`, the first field is field 3 (state): field 14 is at index 11.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_micros(ticks * 1_000_000 / ticks_per_s.max(1)))
}

fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// CPU time of this process (user + system, all threads).
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage writes only the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(us(usage.ru_utime) + us(usage.ru_stime))
}

/// Time this process's threads spent runnable but waiting for a CPU (all live threads;
/// zero where the kernel keeps no scheduler statistics).
pub fn self_runqueue_wait() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    let ns: u64 = tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum();
    Duration::from_nanos(ns)
}

/// How many CPUs this process may run on (its affinity mask).
pub fn allowed_cpus() -> usize {
    // SAFETY: sched_getaffinity writes only the set we pass; CPU_COUNT reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        (libc::CPU_COUNT(&set) as usize).max(1)
    }
}

/// Parse a `taskset -c` style list: `1`, `0-1`, `0,2-3`.
pub fn parse_cpu_list(list: &str) -> anyhow::Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (low, high) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>()?, b.trim().parse::<usize>()?),
            None => {
                let cpu = part.parse::<usize>().with_context(|| format!("CPU list `{list}`"))?;
                (cpu, cpu)
            }
        };
        if low > high || high >= CPU_SETSIZE {
            bail!("bad CPU range `{part}` in `{list}`");
        }
        cpus.extend(low..=high);
    }
    if cpus.is_empty() {
        bail!("empty CPU list `{list}`");
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Pin every thread of this process to `cpus`. Call it before the runtime starts, so the
/// worker threads inherit the mask; threads already running are set one by one.
pub fn pin_process(cpus: &[usize]) -> anyhow::Result<()> {
    // SAFETY: CPU_ZERO/CPU_SET write only the local set; sched_setaffinity reads it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    };
    let tids: Vec<libc::pid_t> = std::fs::read_dir("/proc/self/task")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for tid in tids {
        // SAFETY: as above; a thread id of this process.
        let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            bail!("sched_setaffinity({cpus:?}): {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One snapshot of both processes' CPU.
#[derive(Clone, Copy)]
struct Snapshot {
    at: Instant,
    client: Duration,
    client_wait: Duration,
    server: Option<Duration>,
}

impl Snapshot {
    fn take(server_pid: Option<u32>) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            client: self_cpu(),
            client_wait: self_runqueue_wait(),
            server: server_pid.and_then(process_cpu),
        }
    }
}

/// CPU used between the start of traffic and the end of the drain.
pub struct CpuWindow {
    server_pid: Option<u32>,
    start: Snapshot,
    busy_end: Option<Snapshot>,
}

/// What a [`CpuWindow`] measured; `None` where the server's PID is unknown or nothing was
/// delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuReport {
    pub window_s: f64,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_us_per_msg: Option<f64>,
    pub client_cpu_s: f64,
    pub client_cpu_us_per_msg: Option<f64>,
    pub client_cpu_util: f64,
    /// Run-queue wait over the busy part, as a fraction of the allowed CPUs' time.
    pub client_cpu_wait: f64,
    pub client_cpus: usize,
    pub client_saturated: bool,
    pub client_starved: bool,
}

impl CpuWindow {
    /// Open the window now (call it right before the traffic starts).
    pub fn start(server_pid: Option<u32>) -> CpuWindow {
        CpuWindow { server_pid, start: Snapshot::take(server_pid), busy_end: None }
    }

    /// The busy part ends now (every sender finished): utilisation is measured up to here.
    pub fn mark_busy_end(&mut self) {
        self.busy_end = Some(Snapshot::take(None));
    }

    /// Close the window; `messages` is what the server relayed (delivered messages).
    pub fn finish(self, messages: u64) -> CpuReport {
        let end = Snapshot::take(self.server_pid);
        let busy = self.busy_end.unwrap_or(end);
        let cpus = allowed_cpus();
        let per_msg = |cpu: Duration| (messages > 0).then(|| cpu.as_secs_f64() * 1e6 / messages as f64);
        let server = match (self.start.server, end.server) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let client = end.client.saturating_sub(self.start.client);
        let busy_wall = busy.at.duration_since(self.start.at).as_secs_f64().max(1e-9);
        let of_cpus = |d: Duration| d.as_secs_f64() / (busy_wall * cpus as f64);
        let util = of_cpus(busy.client.saturating_sub(self.start.client));
        let wait = of_cpus(busy.client_wait.saturating_sub(self.start.client_wait));
        CpuReport {
            window_s: end.at.duration_since(self.start.at).as_secs_f64(),
            server_cpu_s: server.map(|d| d.as_secs_f64()),
            server_cpu_us_per_msg: server.and_then(per_msg),
            client_cpu_s: client.as_secs_f64(),
            client_cpu_us_per_msg: per_msg(client),
            client_cpu_util: util,
            client_cpu_wait: wait,
            client_cpus: cpus,
            client_saturated: util > SATURATION_UTIL,
            client_starved: util + wait > SATURATION_UTIL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_14_and_15_after_the_command_name() {
        // A command name with spaces and a `)` inside; utime 250, stime 50 ticks.
        let stat = "1234 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 200 300";
        assert_eq!(parse_stat_cpu(stat, 100), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat_cpu("garbage", 100), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("0-1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("3,0-1,1").unwrap(), vec![0, 1, 3]);
        assert!(parse_cpu_list("2-1").is_err());
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("x").is_err());
    }

    #[test]
    fn own_cpu_is_readable_both_ways() {
        let busy = Instant::now();
        while busy.elapsed() < Duration::from_millis(30) {}
        assert!(self_cpu() > Duration::ZERO);
        assert!(process_cpu(std::process::id()).is_some());
        assert!(allowed_cpus() >= 1);
        let _ = self_runqueue_wait(); // zero without scheduler statistics; never fails
    }
}
