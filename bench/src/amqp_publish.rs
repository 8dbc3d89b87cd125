//! A producer's AMQP connection: channel `CH` in confirm mode, a due batch written as one
//! buffer (`mandatory`, persistent when the run has a `broker-crash`), and a reader thread
//! that settles publisher confirms as they come (one `multiple` ack covers many) and counts
//! the messages returned as unroutable. Confirms are pipelined: a batch waits for its own
//! only when a broker-crash may take unconfirmed messages with it.

use crate::amqp_conn::{CH, Conn, OP_TIMEOUT, Wire, closed};
use crate::amqp_frame::{Event, Out, id};
use crate::driver::{Ctx, Publisher};
use crate::schedule::Send;
use crate::wire;
use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A message's publisher confirm, as far as it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Confirm {
    Waiting,
    Acked,
    Nacked,
}

/// What the reader thread learned, shared with the producer.
#[derive(Debug, Default)]
struct Confirms {
    /// The delivery tag of `waiting`'s first entry (tags count from 1 per channel).
    base: u64,
    /// Every message from `base` on, in tag order, and its confirm so far.
    waiting: VecDeque<(Send, Confirm)>,
    /// Messages the broker refused (a full `reject-publish` queue).
    nacked: Vec<Send>,
    /// Messages returned with a body of ours: no binding matched.
    returned: Vec<Send>,
    /// The connection failed or was closed by the broker.
    err: Option<String>,
    /// connection.close-ok came.
    closed: bool,
}

impl Confirms {
    fn settle(&mut self, tag: u64, multiple: bool, ack: bool) {
        let to = if ack { Confirm::Acked } else { Confirm::Nacked };
        let Some(at) = tag.checked_sub(self.base) else {
            return;
        };
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        if multiple {
            for (_, c) in self.waiting.iter_mut().take(at.saturating_add(1)) {
                if *c == Confirm::Waiting {
                    *c = to;
                }
            }
        } else if let Some((_, c)) = self.waiting.get_mut(at) {
            *c = to;
        }
        while let Some(&(s, c)) = self.waiting.front() {
            if c == Confirm::Waiting {
                break;
            }
            if c == Confirm::Nacked {
                self.nacked.push(s);
            }
            self.waiting.pop_front();
            self.base += 1;
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<Confirms>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Confirms> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `done` holds or the connection fails, up to `limit`.
    fn wait(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Confirms) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut st = self.lock();
        loop {
            if let Some(e) = &st.err {
                return Err(format!("{what}: {e}"));
            }
            if done(&st) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("{what}: no answer within {}s", limit.as_secs()));
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Reads the broker's answers until the connection ends.
fn read_confirms(mut wire: Wire, shared: &Shared) {
    loop {
        let read = wire.read(None);
        let mut st = shared.lock();
        for e in wire.events.drain(..) {
            match e {
                Event::Confirm { tag, multiple, ack } => st.settle(tag, multiple, ack),
                Event::Return(body) => st.returned.extend(wire::decode(&body)),
                Event::Method(id::CLOSE_OK, _) => st.closed = true,
                Event::Method(ids, args) => {
                    if let Some(why) = closed(ids, &args) {
                        st.err.get_or_insert(why);
                    }
                }
                Event::Deliver { .. } => {}
            }
        }
        if let Err(e) = read {
            st.err.get_or_insert(e);
        }
        let over = st.err.is_some() || st.closed;
        drop(st);
        shared.changed.notify_all();
        if over {
            return;
        }
    }
}

/// One connection of a producer.
struct Line {
    sock: TcpStream,
    frame_max: u32,
    shared: Arc<Shared>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Line {
    fn open(uri: &str) -> Result<Line, String> {
        let mut conn = Conn::open(uri)?;
        conn.call("confirm.select", id::SELECT_OK, |o| {
            o.method(CH, id::SELECT, |a| {
                a.u8(0);
            });
        })?;
        let (sock, wire, frame_max) = conn.split();
        let shared = Arc::new(Shared::default());
        shared.lock().base = 1;
        let s2 = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("amqp-confirms".into())
            .spawn(move || read_confirms(wire, &s2))
            .map_err(|e| e.to_string())?;
        Ok(Line {
            sock,
            frame_max,
            shared,
            reader: Some(reader),
        })
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let mut out = Out::default();
        out.method(0, id::CLOSE, |a| {
            a.u16(200).short("done").u16(0).u16(0);
        });
        if self.sock.write_all(&out.buf).is_ok() {
            let _ = self
                .shared
                .wait("connection.close", Duration::from_secs(2), |st| st.closed);
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// A producer publishing to one exchange.
pub(crate) struct AmqpPublisher {
    uri: String,
    line: Line,
    exchange: String,
    keys: Vec<String>,
    /// A run with a `broker-crash`: persistent messages, and each batch's confirms awaited
    /// before it counts as taken (an unconfirmed message may die with the broker; it is
    /// resent, not counted as lost).
    durable: bool,
    /// What earlier connections (before a broker restart) had refused and returned.
    nacked: Vec<Send>,
    returned: Vec<Send>,
    out: Out,
}

impl AmqpPublisher {
    /// Connects; publishes go to `exchange` with the producer's routing `keys`.
    pub(crate) fn open(
        uri: &str,
        exchange: String,
        keys: Vec<String>,
        durable: bool,
    ) -> Result<Self, String> {
        Ok(AmqpPublisher {
            uri: uri.to_string(),
            line: Line::open(uri)?,
            exchange,
            keys,
            durable,
            nacked: Vec::new(),
            returned: Vec::new(),
            out: Out::default(),
        })
    }
}

impl Publisher for AmqpPublisher {
    fn publish(&mut self, batch: &[(Send, Vec<u8>)]) -> Result<Vec<bool>, String> {
        let last = {
            let mut st = self.line.shared.lock();
            if let Some(e) = &st.err {
                return Err(format!("basic.publish: {e}"));
            }
            // Registered before they are written: a confirm may come back at once.
            st.waiting
                .extend(batch.iter().map(|(s, _)| (*s, Confirm::Waiting)));
            st.base + st.waiting.len() as u64 - 1
        };
        self.out.buf.clear();
        for (s, payload) in batch {
            let key = self.keys[s.route as usize].as_str();
            let to = (self.exchange.as_str(), key);
            self.out
                .publish(CH, to, true, self.durable, payload, self.line.frame_max);
        }
        self.line
            .sock
            .write_all(&self.out.buf)
            .map_err(|e| format!("basic.publish: {e}"))?;
        if self.durable {
            self.line
                .shared
                .wait("publisher confirm", OP_TIMEOUT, |st| st.base > last)?;
        }
        Ok(vec![true; batch.len()])
    }

    fn finish(&mut self, ctx: &Ctx) -> Result<(), String> {
        let shared = &self.line.shared;
        shared.wait("publisher confirms", Duration::from_secs(60), |st| {
            st.waiting.is_empty()
        })?;
        let (returned, nacked) = {
            let mut st = shared.lock();
            (
                std::mem::take(&mut st.returned),
                std::mem::take(&mut st.nacked),
            )
        };
        let returned = std::mem::take(&mut self.returned)
            .into_iter()
            .chain(returned);
        let nacked = std::mem::take(&mut self.nacked).into_iter().chain(nacked);
        crate::amqp::refused(ctx, returned, nacked);
        Ok(())
    }

    fn reconnect(&mut self) -> Result<(), String> {
        let line = Line::open(&self.uri)?;
        let old = std::mem::replace(&mut self.line, line);
        let mut st = old.shared.lock();
        self.returned.append(&mut st.returned);
        self.nacked.append(&mut st.nacked);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Confirm, Confirms};
    use crate::schedule::Send;

    fn msg(id: u32) -> Send {
        Send {
            at_ns: 0,
            producer: 0,
            topic: 0,
            id,
            key: 0,
            seq: id,
            route: 0,
            partition: 0,
            poison: false,
        }
    }

    #[test]
    fn confirms_settle_in_tag_order_and_nacks_are_kept() {
        let mut c = Confirms {
            base: 1,
            ..Confirms::default()
        };
        c.waiting.extend((0..5).map(|i| (msg(i), Confirm::Waiting)));
        // Tag 3 alone first: nothing before it is settled, so nothing leaves.
        c.settle(3, false, false);
        assert_eq!((c.base, c.waiting.len()), (1, 5));
        // A multiple ack up to 4 settles 1, 2 and 4; 3 stays nacked.
        c.settle(4, true, true);
        assert_eq!((c.base, c.waiting.len()), (5, 1));
        assert_eq!(c.nacked.iter().map(|s| s.id).collect::<Vec<_>>(), vec![2]);
        // A stale tag changes nothing.
        c.settle(2, false, true);
        assert_eq!((c.base, c.waiting.len()), (5, 1));
        c.settle(5, true, true);
        assert!(c.waiting.is_empty());
    }
}
