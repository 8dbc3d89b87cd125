//! A blocking AMQP 0-9-1 connection with one channel, for the driver's hot path (a
//! producer's publishes and confirms, a consumer's deliveries and acks): the handshake
//! (PLAIN login, no heartbeats), synchronous calls, one `read` per wake-up that takes every
//! frame already there, and one `write` per batch. lapin, the field's standard Rust client,
//! cost the driver as much CPU per message as RabbitMQ itself (an I/O-loop thread and
//! tokio tasks per connection, a hand-off to them per operation); on a plain socket owned
//! by the thread that uses it a message costs a few microseconds. Declarations and the
//! end-of-run reads stay on lapin (`amqp.rs`), where a round trip's cost does not matter.

use crate::amqp_frame::{Event, Out, Reader, close_reason, id};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The channel every connection here uses.
pub const CH: u16 = 1;
/// Any single synchronous call taking longer than this means the broker is gone.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// What a read asks of the socket at once (many deliveries per system call).
const READ_CHUNK: usize = 256 * 1024;

/// The reading half: the socket, the bytes read but not yet framed, the events framed but
/// not yet taken.
#[derive(Debug)]
pub struct Wire {
    sock: TcpStream,
    buf: Vec<u8>,
    filled: usize,
    reader: Reader,
    wait: Option<Duration>,
    /// Events read, in order, not yet taken.
    pub events: VecDeque<Event>,
}

impl Wire {
    fn new(sock: TcpStream) -> Wire {
        Wire {
            sock,
            buf: vec![0; READ_CHUNK],
            filled: 0,
            reader: Reader::default(),
            wait: None,
            events: VecDeque::new(),
        }
    }

    /// One read, waiting up to `wait` (`None`: until something comes); every whole frame
    /// becomes an event. False when nothing came in time.
    ///
    /// # Errors
    /// The connection failed or was closed, or a frame was malformed.
    pub fn read(&mut self, wait: Option<Duration>) -> Result<bool, String> {
        if self.wait != wait {
            // A zero timeout means "block" to the OS; the least wait is a microsecond.
            let w = wait.map(|w| w.max(Duration::from_micros(1)));
            self.sock.set_read_timeout(w).map_err(|e| e.to_string())?;
            self.wait = wait;
        }
        if self.filled == self.buf.len() {
            // A frame larger than the buffer (a big body): make room for it.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = loop {
            match self.sock.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Err("the broker closed the connection".into()),
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(false);
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        self.filled += n;
        let events = &mut self.events;
        let used = self
            .reader
            .feed(&self.buf[..self.filled], &mut |e| events.push_back(e))?;
        self.buf.copy_within(used..self.filled, 0);
        self.filled -= used;
        Ok(true)
    }

    /// Reads until the method `want` arrives on the channel (other events stay queued);
    /// the server closing the channel or the connection is an error that says why.
    ///
    /// # Errors
    /// As `read`, a close, or no answer within `OP_TIMEOUT`.
    pub fn expect(&mut self, what: &str, want: (u16, u16)) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + OP_TIMEOUT;
        loop {
            let mut found = None;
            for (i, e) in self.events.iter().enumerate() {
                if let Event::Method(ids, args) = e {
                    if *ids == want {
                        found = Some(i);
                        break;
                    }
                    if let Some(why) = closed(*ids, args) {
                        return Err(format!("{what}: {why}"));
                    }
                }
            }
            if let Some(i) = found {
                let Some(Event::Method(_, args)) = self.events.remove(i) else {
                    unreachable!("found a method at {i}");
                };
                return Ok(args);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{what}: no answer within {}s",
                    OP_TIMEOUT.as_secs()
                ));
            }
            self.read(Some(left)).map_err(|e| format!("{what}: {e}"))?;
        }
    }
}

/// `Some(why)` when the method is the server closing the channel or the connection, or
/// cancelling a consumer.
#[must_use]
pub fn closed(ids: (u16, u16), args: &[u8]) -> Option<String> {
    match ids {
        id::CLOSE => Some(format!(
            "the broker closed the connection: {}",
            close_reason(args)
        )),
        id::CHANNEL_CLOSE => Some(format!(
            "the broker closed the channel: {}",
            close_reason(args)
        )),
        id::CANCEL => Some("the broker cancelled the consumer".into()),
        _ => None,
    }
}

/// An open connection with channel `CH` open.
#[derive(Debug)]
pub struct Conn {
    /// The writing half (the same socket).
    pub sock: TcpStream,
    /// The reading half.
    pub wire: Wire,
    /// The negotiated largest frame.
    pub frame_max: u32,
    out: Out,
}

/// `amqp://HOST:PORT/VHOST` (the form the driver builds) into an address and a vhost.
fn parse(uri: &str) -> Result<(String, String), String> {
    let rest = uri
        .strip_prefix("amqp://")
        .ok_or_else(|| format!("{uri}: expected amqp://HOST:PORT/VHOST"))?;
    let (addr, vhost) = rest.split_once('/').unwrap_or((rest, ""));
    let vhost = match vhost {
        "" | "%2f" | "%2F" => "/".to_string(),
        v => v.to_string(),
    };
    Ok((addr.to_string(), vhost))
}

impl Conn {
    /// Connects as RabbitMQ's default user (`guest`, which may log in over loopback) and
    /// opens channel `CH`.
    ///
    /// # Errors
    /// Refused, not an AMQP server, or a refused login.
    pub fn open(uri: &str) -> Result<Conn, String> {
        let (addr, vhost) = parse(uri)?;
        let to = addr
            .to_socket_addrs()
            .map_err(|e| format!("connect {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("connect {addr}: no address"))?;
        let sock = TcpStream::connect_timeout(&to, OP_TIMEOUT)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        // A broker that stops reading (a memory alarm) must not hang a writer forever.
        sock.set_write_timeout(Some(OP_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let wire = Wire::new(sock.try_clone().map_err(|e| e.to_string())?);
        let mut c = Conn {
            sock,
            wire,
            frame_max: 0,
            out: Out::default(),
        };
        c.handshake(&vhost)?;
        Ok(c)
    }

    fn handshake(&mut self, vhost: &str) -> Result<(), String> {
        self.write_raw(b"AMQP\x00\x00\x09\x01")?;
        let start = self.wire.expect("connection.start", id::START)?;
        let mut a = crate::amqp_frame::In::new(&start);
        let (_major, _minor, _props) = (a.u8(), a.u8(), a.long());
        let mechanisms = String::from_utf8_lossy(a.long()).into_owned();
        if !mechanisms.split(' ').any(|m| m == "PLAIN") {
            return Err(format!("the server offers no PLAIN login ({mechanisms})"));
        }
        self.send(|o| {
            o.method(0, id::START_OK, |a| {
                a.table()
                    .short("PLAIN")
                    .long(b"\0guest\0guest")
                    .short("en_US");
            });
        })?;
        let tune = self.wire.expect("connection.tune", id::TUNE)?;
        let mut a = crate::amqp_frame::In::new(&tune);
        let (channels, frame_max) = (a.u16(), a.u32());
        self.frame_max = if frame_max == 0 { 131_072 } else { frame_max };
        let frame_max = self.frame_max;
        self.send(|o| {
            // Heartbeat 0: none (runs are short, and a partitioned consumer must not be
            // dropped for not reading).
            o.method(0, id::TUNE_OK, |a| {
                a.u16(channels).u32(frame_max).u16(0);
            });
            o.method(0, id::OPEN, |a| {
                a.short(vhost).short("").u8(0);
            });
        })?;
        self.wire.expect("connection.open", id::OPEN_OK)?;
        self.call("channel.open", id::CHANNEL_OPEN_OK, |o| {
            o.method(CH, id::CHANNEL_OPEN, |a| {
                a.short("");
            });
        })
        .map(|_| ())
    }

    fn write_raw(&mut self, b: &[u8]) -> Result<(), String> {
        self.sock.write_all(b).map_err(|e| e.to_string())
    }

    /// Writes what `f` puts in the buffer, in one system call.
    ///
    /// # Errors
    /// The connection failed.
    pub fn send(&mut self, f: impl FnOnce(&mut Out)) -> Result<(), String> {
        self.out.buf.clear();
        f(&mut self.out);
        let buf = std::mem::take(&mut self.out.buf);
        let r = self.write_raw(&buf);
        self.out.buf = buf;
        r
    }

    /// Sends what `f` writes and waits for the method `reply`.
    ///
    /// # Errors
    /// As `send` and `Wire::expect`.
    pub fn call(
        &mut self,
        what: &str,
        reply: (u16, u16),
        f: impl FnOnce(&mut Out),
    ) -> Result<Vec<u8>, String> {
        self.send(f).map_err(|e| format!("{what}: {e}"))?;
        self.wire.expect(what, reply)
    }

    /// basic.ack (`multiple`: every delivery up to `tag`).
    ///
    /// # Errors
    /// The connection failed.
    pub fn ack(&mut self, tag: u64, multiple: bool) -> Result<(), String> {
        self.send(|o| {
            o.method(CH, id::ACK, |a| {
                a.u64(tag).u8(u8::from(multiple));
            });
        })
        .map_err(|e| format!("basic.ack: {e}"))
    }

    /// The writing half, the reading half and the negotiated largest frame, for a
    /// connection whose reading goes to its own thread.
    #[must_use]
    pub fn split(self) -> (TcpStream, Wire, u32) {
        (self.sock, self.wire, self.frame_max)
    }

    /// Closes the connection (the broker requeues whatever was unacked), waiting up to
    /// 2 s for its answer; a broken connection is simply dropped.
    pub fn close(mut self, code: u16, why: &str) {
        let sent = self.send(|o| {
            o.method(0, id::CLOSE, |a| {
                a.u16(code).short(why).u16(0).u16(0);
            });
        });
        if sent.is_ok() {
            let deadline = Instant::now() + Duration::from_secs(2);
            'wait: while let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|l| !l.is_zero())
            {
                if !matches!(self.wire.read(Some(left)), Ok(true)) {
                    break;
                }
                for e in self.wire.events.drain(..) {
                    if matches!(e, Event::Method(id::CLOSE_OK, _)) {
                        break 'wait;
                    }
                }
            }
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_default_vhost_is_slash() {
        assert_eq!(
            parse("amqp://127.0.0.1:5672/%2f").expect("ok"),
            ("127.0.0.1:5672".to_string(), "/".to_string())
        );
        assert_eq!(parse("amqp://h:1").expect("ok").1, "/");
        assert!(parse("redis://h:1").is_err());
    }
}
