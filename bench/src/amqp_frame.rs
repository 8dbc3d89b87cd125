//! AMQP 0-9-1 frames, as far as the driver's hot path needs them: writing the methods a
//! publisher and a consumer send (into one buffer, so a batch is one `write`), and reading
//! the frames RabbitMQ sends back into the few events they care about (a delivery with its
//! body, a returned message, a publisher confirm, the broker closing the channel or the
//! connection). Nothing here touches a socket.

/// Frame types (spec 4.2.3).
const METHOD: u8 = 1;
const HEADER: u8 = 2;
const BODY: u8 = 3;
/// Every frame ends with this octet.
const FRAME_END: u8 = 0xCE;
/// Frame type, channel, payload size.
const FRAME_HEAD: usize = 7;

/// `(class, method)` ids used here.
pub mod id {
    /// connection.start / start-ok / tune / tune-ok / open / open-ok / close / close-ok
    pub const START: (u16, u16) = (10, 10);
    /// connection.start-ok
    pub const START_OK: (u16, u16) = (10, 11);
    /// connection.tune
    pub const TUNE: (u16, u16) = (10, 30);
    /// connection.tune-ok
    pub const TUNE_OK: (u16, u16) = (10, 31);
    /// connection.open
    pub const OPEN: (u16, u16) = (10, 40);
    /// connection.open-ok
    pub const OPEN_OK: (u16, u16) = (10, 41);
    /// connection.close
    pub const CLOSE: (u16, u16) = (10, 50);
    /// connection.close-ok
    pub const CLOSE_OK: (u16, u16) = (10, 51);
    /// channel.open
    pub const CHANNEL_OPEN: (u16, u16) = (20, 10);
    /// channel.open-ok
    pub const CHANNEL_OPEN_OK: (u16, u16) = (20, 11);
    /// channel.close
    pub const CHANNEL_CLOSE: (u16, u16) = (20, 40);
    /// basic.qos
    pub const QOS: (u16, u16) = (60, 10);
    /// basic.qos-ok
    pub const QOS_OK: (u16, u16) = (60, 11);
    /// basic.consume
    pub const CONSUME: (u16, u16) = (60, 20);
    /// basic.consume-ok
    pub const CONSUME_OK: (u16, u16) = (60, 21);
    /// basic.cancel (from the server: the queue went away)
    pub const CANCEL: (u16, u16) = (60, 30);
    /// basic.publish
    pub const PUBLISH: (u16, u16) = (60, 40);
    /// basic.return
    pub const RETURN: (u16, u16) = (60, 50);
    /// basic.deliver
    pub const DELIVER: (u16, u16) = (60, 60);
    /// basic.ack
    pub const ACK: (u16, u16) = (60, 80);
    /// basic.nack
    pub const NACK: (u16, u16) = (60, 120);
    /// confirm.select
    pub const SELECT: (u16, u16) = (85, 10);
    /// confirm.select-ok
    pub const SELECT_OK: (u16, u16) = (85, 11);
}

/// Appends frames to a buffer.
#[derive(Debug, Default)]
pub struct Out {
    /// The bytes to write.
    pub buf: Vec<u8>,
}

impl Out {
    fn begin(&mut self, kind: u8, ch: u16) -> usize {
        self.buf.push(kind);
        self.buf.extend_from_slice(&ch.to_be_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.len()
    }

    fn end(&mut self, at: usize) {
        let len = u32::try_from(self.buf.len() - at).unwrap_or(u32::MAX);
        self.buf[at - 4..at].copy_from_slice(&len.to_be_bytes());
        self.buf.push(FRAME_END);
    }

    /// A method frame; `args` writes its arguments.
    pub fn method(&mut self, ch: u16, (class, method): (u16, u16), args: impl FnOnce(&mut Args)) {
        let at = self.begin(METHOD, ch);
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&method.to_be_bytes());
        args(&mut Args(&mut self.buf));
        self.end(at);
    }

    /// basic.publish with its content: the header (only `delivery-mode` when `persistent`)
    /// and the body, split at `frame_max`.
    pub fn publish(
        &mut self,
        ch: u16,
        to: (&str, &str),
        mandatory: bool,
        persistent: bool,
        body: &[u8],
        frame_max: u32,
    ) {
        self.method(ch, id::PUBLISH, |a| {
            a.u16(0).short(to.0).short(to.1).u8(u8::from(mandatory));
        });
        let at = self.begin(HEADER, ch);
        self.buf.extend_from_slice(&60u16.to_be_bytes());
        self.buf.extend_from_slice(&0u16.to_be_bytes());
        self.buf
            .extend_from_slice(&(body.len() as u64).to_be_bytes());
        if persistent {
            // Property flags: bit 12 is delivery-mode; 2 is persistent.
            self.buf.extend_from_slice(&0x1000u16.to_be_bytes());
            self.buf.push(2);
        } else {
            self.buf.extend_from_slice(&0u16.to_be_bytes());
        }
        self.end(at);
        let chunk = (frame_max as usize).saturating_sub(FRAME_HEAD + 1).max(1);
        for part in body.chunks(chunk) {
            let at = self.begin(BODY, ch);
            self.buf.extend_from_slice(part);
            self.end(at);
        }
    }
}

/// Writes a method's arguments.
pub struct Args<'a>(&'a mut Vec<u8>);

impl Args<'_> {
    /// An octet (also a set of packed bits).
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// A short.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A long.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A long long.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A short string (at most 255 bytes; longer is cut).
    pub fn short(&mut self, s: &str) -> &mut Self {
        let b = &s.as_bytes()[..s.len().min(255)];
        self.0.push(b.len() as u8);
        self.0.extend_from_slice(b);
        self
    }
    /// A long string.
    pub fn long(&mut self, b: &[u8]) -> &mut Self {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
        self
    }
    /// An empty field table.
    pub fn table(&mut self) -> &mut Self {
        self.u32(0)
    }
}

/// Reads a method's arguments; a short read gives zeros and empty strings (the frame was
/// checked whole; a malformed one is the server's bug, not a reason to panic).
pub struct In<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> In<'a> {
    /// Over a method's arguments.
    #[must_use]
    pub fn new(b: &'a [u8]) -> In<'a> {
        In { b, at: 0 }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = (self.at + n).min(self.b.len());
        let s = &self.b[self.at.min(end)..end];
        self.at = end;
        s
    }
    fn int<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let s = self.take(N);
        out[..s.len()].copy_from_slice(s);
        out
    }
    /// An octet.
    pub fn u8(&mut self) -> u8 {
        self.int::<1>()[0]
    }
    /// A short.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.int())
    }
    /// A long.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.int())
    }
    /// A long long.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.int())
    }
    /// A short string.
    pub fn short(&mut self) -> String {
        let n = usize::from(self.u8());
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
    /// A long string (or a table, skipped the same way).
    pub fn long(&mut self) -> &'a [u8] {
        let n = self.u32() as usize;
        self.take(n)
    }
}

/// What a frame (or a method with its content) means to the driver.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A method without content: its ids and arguments.
    Method((u16, u16), Vec<u8>),
    /// basic.deliver with its body.
    Deliver {
        /// The delivery tag, to acknowledge it by.
        tag: u64,
        /// The message.
        body: Vec<u8>,
    },
    /// basic.return (a `mandatory` publish no queue took) with its body.
    Return(Vec<u8>),
    /// basic.ack or basic.nack from the server: a publisher confirm.
    Confirm {
        /// Up to (with `multiple`) or exactly this tag.
        tag: u64,
        /// Every outstanding tag up to `tag`.
        multiple: bool,
        /// basic.ack (true) or basic.nack.
        ack: bool,
    },
}

/// Assembles frames read from a socket into events: content (a header and body frames)
/// is joined to the method it follows.
#[derive(Debug, Default)]
pub struct Reader {
    /// A deliver or return waiting for its content: (tag or `None` for a return, size,
    /// body so far).
    pending: Option<(Option<u64>, u64, Vec<u8>)>,
}

impl Reader {
    /// Takes every whole frame at the front of `buf`, calling `on` with each event;
    /// returns how many bytes it used. A frame that breaks the format is an error.
    ///
    /// # Errors
    /// A malformed frame.
    pub fn feed(&mut self, buf: &[u8], on: &mut impl FnMut(Event)) -> Result<usize, String> {
        let mut used = 0;
        while let Some(head) = buf.get(used..used + FRAME_HEAD) {
            let len = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
            let Some(end) = buf.get(used + FRAME_HEAD + len) else {
                break;
            };
            if *end != FRAME_END {
                return Err(format!("malformed AMQP frame (type {})", head[0]));
            }
            let payload = &buf[used + FRAME_HEAD..used + FRAME_HEAD + len];
            used += FRAME_HEAD + len + 1;
            self.frame(head[0], payload, on);
        }
        Ok(used)
    }

    fn frame(&mut self, kind: u8, payload: &[u8], on: &mut impl FnMut(Event)) {
        match kind {
            METHOD => {
                let mut a = In::new(payload);
                let ids = (a.u16(), a.u16());
                self.method(ids, a, payload, on);
            }
            HEADER => {
                let mut a = In::new(payload);
                let (_class, _weight, size) = (a.u16(), a.u16(), a.u64());
                if let Some(p) = self.pending.as_mut() {
                    p.1 = size;
                    p.2.reserve(usize::try_from(size).unwrap_or(0));
                }
                self.complete(on);
            }
            BODY => {
                if let Some(p) = self.pending.as_mut() {
                    p.2.extend_from_slice(payload);
                }
                self.complete(on);
            }
            // Heartbeats (none are asked for) and anything else: nothing to do.
            _ => {}
        }
    }

    fn method(&mut self, ids: (u16, u16), mut a: In, payload: &[u8], on: &mut impl FnMut(Event)) {
        match ids {
            id::DELIVER => {
                let _consumer_tag = a.short();
                let tag = a.u64();
                self.pending = Some((Some(tag), u64::MAX, Vec::new()));
            }
            id::RETURN => self.pending = Some((None, u64::MAX, Vec::new())),
            id::ACK | id::NACK => {
                let tag = a.u64();
                let bits = a.u8();
                on(Event::Confirm {
                    tag,
                    multiple: bits & 1 == 1,
                    ack: ids == id::ACK,
                });
            }
            _ => on(Event::Method(ids, payload[4..].to_vec())),
        }
    }

    /// Emits the pending message once its body is whole.
    fn complete(&mut self, on: &mut impl FnMut(Event)) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.2.len() as u64 >= p.1)
            && let Some((tag, _, body)) = self.pending.take()
        {
            on(match tag {
                Some(tag) => Event::Deliver { tag, body },
                None => Event::Return(body),
            });
        }
    }
}

/// The reply text of a connection.close or channel.close, for an error message.
#[must_use]
pub fn close_reason(args: &[u8]) -> String {
    let mut a = In::new(args);
    let code = a.u16();
    let text = a.short();
    format!("{code} {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(bytes: &[u8]) -> (Vec<Event>, usize) {
        let mut out = Vec::new();
        let used = Reader::default()
            .feed(bytes, &mut |e| out.push(e))
            .expect("well formed");
        (out, used)
    }

    #[test]
    fn a_publish_split_at_frame_max_reads_back_as_one_delivery_body() {
        // A publish is what a deliver carries too: method, header, body frames. Rewrite the
        // method as a deliver and the reader must join the three body frames.
        let body: Vec<u8> = (0..250u8).collect();
        let mut out = Out::default();
        out.method(1, id::DELIVER, |a| {
            a.short("c").u64(7).u8(0).short("ex").short("key");
        });
        let mut content = Out::default();
        content.publish(1, ("ex", "key"), true, true, &body, 108);
        // Skip the publish method frame of `content`: keep its header and body frames.
        let skip =
            FRAME_HEAD + u32::from_be_bytes(content.buf[3..7].try_into().expect("4")) as usize + 1;
        out.buf.extend_from_slice(&content.buf[skip..]);
        let (ev, used) = events(&out.buf);
        assert_eq!(used, out.buf.len());
        assert_eq!(ev, vec![Event::Deliver { tag: 7, body }]);
    }

    #[test]
    fn a_partial_frame_is_left_for_the_next_read() {
        let mut out = Out::default();
        out.method(1, id::ACK, |a| {
            a.u64(41).u8(1);
        });
        let whole = out.buf.len();
        out.method(1, id::NACK, |a| {
            a.u64(42).u8(0);
        });
        let (ev, used) = events(&out.buf[..out.buf.len() - 1]);
        assert_eq!(used, whole);
        assert_eq!(
            ev,
            vec![Event::Confirm {
                tag: 41,
                multiple: true,
                ack: true
            }]
        );
        let (ev, _) = events(&out.buf[whole..]);
        assert_eq!(
            ev,
            vec![Event::Confirm {
                tag: 42,
                multiple: false,
                ack: false
            }]
        );
    }

    #[test]
    fn a_frame_without_its_end_octet_is_an_error() {
        let mut out = Out::default();
        out.method(0, id::CLOSE_OK, |_| {});
        let last = out.buf.len() - 1;
        out.buf[last] = 0;
        assert!(Reader::default().feed(&out.buf, &mut |_| {}).is_err());
    }
}
