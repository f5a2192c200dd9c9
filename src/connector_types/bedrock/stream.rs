//! Bedrock's streamed answers: the AWS event-stream binary framing
//! (`application/vnd.amazon.eventstream`) decoded into server-sent events, and the
//! summary (text and token usage) of a streamed run.
//!
//! A frame is: total length (u32), headers length (u32), CRC32 of those 8 bytes,
//! the headers, the payload, and the CRC32 of everything before it (all big-endian).
//! `invoke-with-response-stream` payloads are `{"bytes": "<base64 of the model's
//! chunk JSON>"}`; Converse stream payloads are the event's JSON itself, named by
//! the `:event-type` header. Each event is forwarded as one `data: <json>` line; a
//! Converse event is wrapped as `{"<event-type>": payload}`, as the AWS SDK yields it.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use super::super::{
    BoxFuture,
    streaming::{self, ChunkSource, ResponseChunks, SseLines, StreamSummary},
};

/// The shortest frame: prelude (12 bytes) and message CRC (4), no headers or payload.
const MIN_FRAME: usize = 16;

/// AWS allows 16 MiB of payload and 128 KiB of headers per message.
const MAX_FRAME: usize = 16 * 1024 * 1024 + 128 * 1024 + MIN_FRAME;

/// Which streaming API answered, so which payload shape to expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `invoke-with-response-stream`: base64 model chunks.
    Invoke,
    /// `converse-stream`: JSON events named by `:event-type`.
    Converse,
}

/// One decoded frame: its string headers and its payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Frame {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// CRC-32 (IEEE 802.3, as zlib computes it), the checksum of the framing.
pub fn crc32(bytes: &[u8]) -> u32 {
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    CRC32.checksum(bytes)
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word)
}

/// Splits a byte stream into frames, whatever the chunk boundaries.
#[derive(Default)]
pub struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// Adds bytes; returns the frames now complete.
    ///
    /// # Errors
    /// A frame whose lengths or checksums are wrong: the stream cannot be trusted
    /// past it.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Frame>, String> {
        self.pending.extend_from_slice(chunk);
        let mut frames = Vec::new();
        while self.pending.len() >= 12 {
            let total = be_u32(&self.pending) as usize;
            let headers_len = be_u32(&self.pending[4..]) as usize;
            if crc32(&self.pending[..8]) != be_u32(&self.pending[8..]) {
                return Err("invalid event stream frame: prelude checksum mismatch".to_owned());
            }
            if !(MIN_FRAME..=MAX_FRAME).contains(&total) || headers_len > total - MIN_FRAME {
                return Err(format!(
                    "invalid event stream frame: length {total} with {headers_len} bytes of headers"
                ));
            }
            if self.pending.len() < total {
                break;
            }
            let frame: Vec<u8> = self.pending.drain(..total).collect();
            if crc32(&frame[..total - 4]) != be_u32(&frame[total - 4..]) {
                return Err("invalid event stream frame: message checksum mismatch".to_owned());
            }
            frames.push(Frame {
                headers: parse_headers(&frame[12..12 + headers_len])?,
                payload: frame[12 + headers_len..total - 4].to_vec(),
            });
        }
        Ok(frames)
    }

    /// Whether bytes of an unfinished frame are waiting.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// The headers block: name length (u8), name, value type (u8), value. Only string
/// values are kept; the others are skipped by their size.
fn parse_headers(mut bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let bad = || "invalid event stream frame: malformed headers".to_owned();
    let take = |bytes: &mut &[u8], count: usize| -> Result<Vec<u8>, String> {
        if bytes.len() < count {
            return Err(bad());
        }
        let (head, rest) = bytes.split_at(count);
        *bytes = rest;
        Ok(head.to_vec())
    };
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name_len = usize::from(take(&mut bytes, 1)?[0]);
        let name = String::from_utf8(take(&mut bytes, name_len)?).map_err(|_| bad())?;
        let kind = take(&mut bytes, 1)?[0];
        let fixed = match kind {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return Err(bad()),
        };
        if let Some(size) = fixed {
            take(&mut bytes, size)?;
            continue;
        }
        let length = take(&mut bytes, 2)?;
        let value = take(
            &mut bytes,
            usize::from(u16::from_be_bytes([length[0], length[1]])),
        )?;
        if kind == 7 {
            headers.push((name, String::from_utf8(value).map_err(|_| bad())?));
        }
    }
    Ok(headers)
}

/// The JSON event a frame carries, or the failure it reports.
///
/// # Errors
/// An `exception`/`error` frame, or a payload that is not what the API sends.
pub fn event(frame: &Frame, kind: Kind) -> Result<Option<Value>, String> {
    match frame.header(":message-type") {
        Some("exception") => {
            let name = frame.header(":exception-type").unwrap_or("exception");
            let payload: Value = serde_json::from_slice(&frame.payload).unwrap_or(Value::Null);
            let message = payload["message"]
                .as_str()
                .or(payload["Message"].as_str())
                .unwrap_or_default();
            return Err(format!("API Error: {name} - {message}"));
        }
        Some("error") => {
            let code = frame.header(":error-code").unwrap_or("error");
            let message = frame.header(":error-message").unwrap_or_default();
            return Err(format!("API Error: {code} - {message}"));
        }
        _ => {}
    }
    let payload: Value = serde_json::from_slice(&frame.payload)
        .map_err(|_| "invalid event stream payload: not JSON".to_owned())?;
    match kind {
        Kind::Invoke => {
            let Some(encoded) = payload["bytes"].as_str() else {
                return Ok(None);
            };
            let decoded = STANDARD
                .decode(encoded)
                .map_err(|_| "invalid event stream payload: bad base64".to_owned())?;
            serde_json::from_slice(&decoded)
                .map(Some)
                .map_err(|_| "invalid event stream payload: chunk is not JSON".to_owned())
        }
        Kind::Converse => Ok(frame
            .header(":event-type")
            .map(|name| json!({ name: payload }))),
    }
}

/// A Bedrock answer's frames as server-sent events, one `data:` line per event.
pub struct EventStreamChunks {
    inner: ResponseChunks,
    decoder: FrameDecoder,
    kind: Kind,
}

impl EventStreamChunks {
    pub fn new(inner: ResponseChunks, kind: Kind) -> Self {
        Self {
            inner,
            decoder: FrameDecoder::default(),
            kind,
        }
    }

    /// The SSE text of a vendor chunk's complete frames (empty if none completed).
    fn translate(&mut self, chunk: &[u8]) -> Result<Vec<u8>, String> {
        let failed = |message: String| format!("Status code: undefined. Message: {message}");
        let mut out = Vec::new();
        for frame in self.decoder.feed(chunk).map_err(failed)? {
            if let Some(event) = event(&frame, self.kind).map_err(failed)? {
                out.extend_from_slice(format!("data: {event}\n\n").as_bytes());
            }
        }
        Ok(out)
    }
}

impl ChunkSource for EventStreamChunks {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            loop {
                let Some(chunk) = self.inner.next_chunk().await? else {
                    if self.decoder.has_pending() {
                        return Err("Status code: undefined. Message: \
                                    the event stream ended inside a frame"
                            .to_owned());
                    }
                    return Ok(None);
                };
                let out = self.translate(&chunk)?;
                // A chunk that completed no frame is not worth passing on.
                if !out.is_empty() {
                    return Ok(Some(out));
                }
            }
        })
    }
}

/// What a streamed run amounted to: the text, and the token counts Bedrock sends
/// last (`amazon-bedrock-invocationMetrics` of `message_stop`, or Converse's
/// `metadata.usage`); `usage` is `null` when none came.
#[derive(Default)]
pub struct Summary {
    lines: SseLines,
    message: String,
    usage: Option<Value>,
}

impl Summary {
    fn event(message: &mut String, usage: &mut Option<Value>, event: &Value) {
        // Anthropic's `content_block_delta` with a `text_delta`.
        if event["type"] == "content_block_delta"
            && let Some(text) = event["delta"]["text"].as_str()
        {
            message.push_str(text);
        }
        if let Some(text) = event["contentBlockDelta"]["delta"]["text"].as_str() {
            message.push_str(text);
        }
        let metrics = &event["amazon-bedrock-invocationMetrics"];
        if event["type"] == "message_stop" && metrics.is_object() {
            let (input, output) = (&metrics["inputTokenCount"], &metrics["outputTokenCount"]);
            let total = match (input.as_u64(), output.as_u64()) {
                (Some(input), Some(output)) => json!(input + output),
                _ => Value::Null,
            };
            *usage = Some(streaming::usage(input, output, &total));
        }
        let converse = &event["metadata"]["usage"];
        if converse.is_object() {
            *usage = Some(streaming::usage(
                &converse["inputTokens"],
                &converse["outputTokens"],
                &converse["totalTokens"],
            ));
        }
    }
}

impl StreamSummary for Summary {
    fn observe(&mut self, chunk: &[u8]) {
        let (message, usage) = (&mut self.message, &mut self.usage);
        self.lines
            .feed(chunk, |event| Self::event(message, usage, event));
    }

    fn finish(self: Box<Self>) -> Value {
        json!({ "message": self.message, "usage": self.usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_header(name: &str, value: &str) -> Vec<u8> {
        let mut out = vec![name.len() as u8];
        out.extend_from_slice(name.as_bytes());
        out.push(7);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
        out
    }

    fn frame(headers: &[u8], payload: &[u8]) -> Vec<u8> {
        let total = (MIN_FRAME + headers.len() + payload.len()) as u32;
        let mut out = total.to_be_bytes().to_vec();
        out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32(&out).to_be_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(payload);
        out.extend_from_slice(&crc32(&out).to_be_bytes());
        out
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn frames_survive_any_chunk_boundary() {
        let mut headers = string_header(":event-type", "chunk");
        // A non-string header (an int) is skipped.
        headers.extend_from_slice(&[3, b'n', b'u', b'm', 4, 0, 0, 0, 7]);
        let one = frame(&headers, b"{\"a\":1}");
        let two = frame(&[], b"");
        let stream = [one.clone(), two].concat();
        for split in 0..stream.len() {
            let mut decoder = FrameDecoder::default();
            let mut frames = decoder.feed(&stream[..split]).unwrap();
            frames.extend(decoder.feed(&stream[split..]).unwrap());
            assert!(!decoder.has_pending());
            assert_eq!(frames.len(), 2, "split at {split}");
            assert_eq!(
                frames[0].headers,
                vec![(":event-type".to_owned(), "chunk".to_owned())]
            );
            assert_eq!(frames[0].payload, b"{\"a\":1}");
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let good = frame(&string_header(":event-type", "chunk"), b"{}");
        let mut flipped = good.clone();
        let last = flipped.len() - 5;
        flipped[last] ^= 1;
        let mut huge = u32::MAX.to_be_bytes().to_vec();
        huge.extend_from_slice(&0u32.to_be_bytes());
        huge.extend_from_slice(&crc32(&huge).to_be_bytes());
        let mut header_overrun = 20u32.to_be_bytes().to_vec();
        header_overrun.extend_from_slice(&10u32.to_be_bytes());
        header_overrun.extend_from_slice(&crc32(&header_overrun).to_be_bytes());
        let truncated_header = frame(&[5, b'a'], b"");
        for (bad, expected) in [
            (
                &flipped,
                "invalid event stream frame: message checksum mismatch",
            ),
            (
                &good[..11].iter().chain(&[0]).copied().collect(),
                "invalid event stream frame: prelude checksum mismatch",
            ),
            (
                &huge,
                "invalid event stream frame: length 4294967295 with 0 bytes of headers",
            ),
            (
                &header_overrun,
                "invalid event stream frame: length 20 with 10 bytes of headers",
            ),
            (
                &truncated_header,
                "invalid event stream frame: malformed headers",
            ),
        ] {
            assert_eq!(FrameDecoder::default().feed(bad).unwrap_err(), expected);
        }
        // Arbitrary bytes never panic.
        for seed in 0u32..2000 {
            let bytes: Vec<u8> = (0..40u32)
                .map(|i| (seed.wrapping_mul(2_654_435_761).wrapping_add(i * 97) >> 3) as u8)
                .collect();
            let _ = FrameDecoder::default().feed(&bytes);
        }
    }

    #[test]
    fn events_of_both_apis() {
        let chunk = json!({ "type": "content_block_delta", "delta": { "type": "text_delta", "text": "Hi" } });
        let payload = json!({ "bytes": STANDARD.encode(chunk.to_string()) });
        let invoke = Frame {
            headers: vec![(":event-type".into(), "chunk".into())],
            payload: payload.to_string().into_bytes(),
        };
        assert_eq!(event(&invoke, Kind::Invoke), Ok(Some(chunk)));
        let converse = Frame {
            headers: vec![(":event-type".into(), "messageStop".into())],
            payload: br#"{"stopReason":"end_turn"}"#.to_vec(),
        };
        assert_eq!(
            event(&converse, Kind::Converse),
            Ok(Some(json!({ "messageStop": { "stopReason": "end_turn" } })))
        );
        let exception = Frame {
            headers: vec![
                (":message-type".into(), "exception".into()),
                (":exception-type".into(), "throttlingException".into()),
            ],
            payload: br#"{"message":"Too many requests"}"#.to_vec(),
        };
        assert_eq!(
            event(&exception, Kind::Converse),
            Err("API Error: throttlingException - Too many requests".to_owned())
        );
    }
}
