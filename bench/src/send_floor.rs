//! The physical anchor for `fanout`, as `pgbench` is for reads: what the machine charges for
//! the least a delivery can be, one small message written to one loopback TCP socket, with
//! the same number of sockets and the same rate as the fan-out just measured.
//!
//! A sender thread in this process writes `MESSAGE_BYTES` to each of `sockets` connections per
//! tick (`rate` ticks a second) with one `write` each, as the server does per delivery, and
//! measures its own CPU time. A child process (this binary with `--floor-reader`, so it has an
//! open-files limit of its own) holds the other ends and reads until they close, and reports
//! its CPU time too. On loopback the kernel runs the receiving side's TCP input inside the
//! sender's `write`, so the sender's time is the floor a server's CPU per delivery cannot go
//! under, whatever it does in user space.

use crate::error::{Context as _, Error, Result};
use crate::procfs;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;

/// About the size of a nested-selection `next` message with its websocket frame header.
const MESSAGE_BYTES: usize = 240;
/// Files kept free beside the floor's sockets (the HTTP client, the server's pipes, logs).
const SPARE_FILES: u64 = 256;
/// What the reader prints, last, for the sender to read its CPU time from.
const READER_TICKS: &str = "floor-reader ticks ";

pub(crate) struct Floor {
    sends: u64,
    sender_us_per_send: f64,
    reader_us_per_send: f64,
}

impl Floor {
    pub(crate) fn detail(&self) -> Value {
        json!({
            "message_bytes": MESSAGE_BYTES,
            "sends": self.sends,
            "sender_cpu_us_per_send": self.sender_us_per_send,
            "reader_cpu_us_per_send": self.reader_us_per_send,
        })
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{} writes of {MESSAGE_BYTES} bytes, sender {:.1} µs CPU per write (the floor under the server's CPU per delivery), reader {:.1} µs",
            self.sends, self.sender_us_per_send, self.reader_us_per_send
        )
    }
}

/// Runs the floor for `seconds` at `rate` writes per second to each of `sockets` sockets.
pub(crate) fn measure(sockets: usize, rate: u32, seconds: u64) -> Result<Floor> {
    wait_for_free_files(sockets)?;
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the floor's listener")?;
    let address = listener
        .local_addr()
        .context("the floor listener's address")?;
    let exe = std::env::current_exe().context("finding the bench executable")?;
    let mut reader = Command::new(exe)
        .args([
            "--floor-reader",
            &address.to_string(),
            "--subscribers",
            &sockets.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the floor's reader process")?;
    let mut streams = Vec::with_capacity(sockets);
    while streams.len() < sockets {
        let (stream, _) = listener.accept().context("accepting a floor connection")?;
        // As the server's sockets: no Nagle delay, each write goes out at once.
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        streams.push(stream);
    }
    let message = vec![b'x'; MESSAGE_BYTES];
    let tick = Duration::from_secs(1) / rate;
    let ticks_per_second = procfs::clock_ticks_per_second();
    let before = procfs::own_thread_cpu_ticks()?;
    let started = Instant::now();
    let mut sends = 0_u64;
    for round in 0..u64::from(rate) * seconds {
        for stream in &mut streams {
            stream
                .write_all(&message)
                .context("writing to a floor socket")?;
            sends += 1;
        }
        let next = started + tick * u32::try_from(round + 1).unwrap_or(u32::MAX);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let sender_ticks = procfs::own_thread_cpu_ticks()? - before;
    drop(streams);
    let stdout = reader
        .stdout
        .take()
        .ok_or_else(|| Error::msg("the floor reader has no stdout"))?;
    let reader_ticks = BufReader::new(stdout)
        .lines()
        .map_while(std::result::Result::ok)
        .find_map(|line| line.strip_prefix(READER_TICKS)?.trim().parse::<u64>().ok())
        .ok_or_else(|| Error::msg("the floor reader did not report its CPU time"))?;
    let status = reader.wait().context("waiting for the floor reader")?;
    if !status.success() {
        return Err(Error::msg(format!("the floor reader failed: {status}")));
    }
    let per_send = |ticks: u64| ticks as f64 * 1e6 / ticks_per_second as f64 / sends as f64;
    Ok(Floor {
        sends,
        sender_us_per_send: per_send(sender_ticks),
        reader_us_per_send: per_send(reader_ticks),
    })
}

/// The fan-out's subscriber sockets close as their tasks end, after it returns: wait until
/// this process has room for the floor's sockets under its open-files limit.
fn wait_for_free_files(sockets: usize) -> Result<()> {
    let Some(limit) = procfs::open_files_limit() else {
        return Ok(());
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open = std::fs::read_dir("/proc/self/fd")
            .context("listing /proc/self/fd")?
            .count() as u64;
        if open + sockets as u64 + SPARE_FILES <= limit {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::msg(format!(
                "{open} files are still open and the limit is {limit}: no room for {sockets} sockets"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The child's side: connects `sockets` times, reads every socket until it closes, then
/// prints its own CPU time (`READER_TICKS`).
pub(crate) async fn read(address: SocketAddr, sockets: usize) -> Result<()> {
    let mut connections = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let stream = TcpStream::connect(address).context("connecting to the floor sender")?;
        stream.set_nonblocking(true).context("non-blocking")?;
        connections.push(tokio::net::TcpStream::from_std(stream).context("registering")?);
    }
    let readers: Vec<_> = connections
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut buffer = vec![0_u8; 4096];
                while matches!(stream.read(&mut buffer).await, Ok(read) if read > 0) {}
            })
        })
        .collect();
    for reader in readers {
        reader.await.context("a floor reader task")?;
    }
    let ticks = procfs::cpu_ticks(std::process::id())?;
    println!("{READER_TICKS}{ticks}");
    Ok(())
}
