//! Streamed runs: a sub-action whose vendor answers piece by piece (OpenAI's
//! `stream`/`invokeStream`, Bedrock's and Gemini's `invokeStream`, Bedrock's
//! `converseStream`) hands back a [`Streamed`]
//! instead of a result. `_execute` forwards its chunks to a client that accepts
//! `text/event-stream` as they arrive; for any other caller the executor reads it to
//! the end ([`collect`]) and the run's `data` is the summary.
//!
//! A type adopts this with [`super::ConnectorType::streams`] and
//! [`super::ConnectorType::execute_stream`], a [`ChunkSource`] (usually
//! [`ResponseChunks`]) and a [`StreamSummary`] (for SSE vendors, [`SseLines`] does the
//! framing; the type only reads each event's JSON).

use std::time::Duration;

use serde_json::{Value, json};

use super::{BoxFuture, outbound::Outbound};

/// Where a streamed answer's bytes come from.
pub trait ChunkSource: Send {
    /// The next piece, `None` at the end. `Err` is the failure's text (no secrets).
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, String>>;
}

/// Watches every chunk that goes by and says what the run amounted to.
pub trait StreamSummary: Send {
    fn observe(&mut self, chunk: &[u8]);

    /// The run's `data` once the stream has ended (e.g. `{message, usage}`).
    fn finish(self: Box<Self>) -> Value;
}

/// A vendor's answer that is still arriving.
pub struct Streamed {
    pub source: Box<dyn ChunkSource>,
    pub summary: Box<dyn StreamSummary>,
}

/// The most a streamed answer may send in all. Summaries keep what they read (the
/// generated text), so an endless stream must end somewhere; this is far beyond any
/// model's output.
pub const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;

/// Counts a chunk against [`MAX_STREAM_BYTES`].
///
/// # Errors
/// axios's words for an answer over its limit.
pub fn count_chunk(total: &mut usize, chunk: &[u8]) -> Result<(), String> {
    *total = total.saturating_add(chunk.len());
    if *total > MAX_STREAM_BYTES {
        return Err(format!(
            "maxContentLength size of {MAX_STREAM_BYTES} exceeded"
        ));
    }
    Ok(())
}

/// Reads a streamed answer to its end; the summary is the run's `data`.
///
/// # Errors
/// The source's failure text, or the stream was longer than [`MAX_STREAM_BYTES`].
pub async fn collect(mut streamed: Streamed) -> Result<Value, String> {
    let mut total = 0;
    while let Some(chunk) = streamed.source.next_chunk().await? {
        count_chunk(&mut total, &chunk)?;
        streamed.summary.observe(&chunk);
    }
    Ok(streamed.summary.finish())
}

/// The body of an HTTP answer, chunk by chunk. Each wait for a chunk may last at
/// most `idle` (an inactivity timeout, as axios's is, rather than a limit on the
/// whole answer: a long generation that keeps talking is not cut off).
pub struct ResponseChunks {
    pub response: reqwest::Response,
    pub http: Outbound,
    pub idle: Duration,
    /// The failure text for a chunk that does not come in time or breaks off.
    pub describe: fn(&super::outbound::TransportFailure) -> String,
}

impl ChunkSource for ResponseChunks {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            match tokio::time::timeout(self.idle, self.response.chunk()).await {
                Ok(Ok(chunk)) => Ok(chunk.map(|it| it.to_vec())),
                Ok(Err(error)) => Err((self.describe)(&self.http.describe(&error))),
                Err(_) => Err((self.describe)(&timed_out(self.idle))),
            }
        })
    }
}

/// Node.js's words for a call that took longer than `limit`.
pub fn timed_out(limit: Duration) -> super::outbound::TransportFailure {
    super::outbound::TransportFailure {
        code: Some("ECONNABORTED"),
        message: format!("timeout of {}ms exceeded", limit.as_millis()),
    }
}

/// Splits a server-sent-events byte stream into the JSON of its `data:` lines,
/// whatever the chunk boundaries. `data: [DONE]` and lines that are not JSON are
/// skipped.
/// A line longer than [`MAX_LINE_BYTES`] is skipped rather than kept in memory.
#[derive(Default)]
pub struct SseLines {
    /// The start of a line whose end has not come yet.
    pending: Vec<u8>,
    /// Inside a line that grew past the limit: dropped up to its end.
    skipping: bool,
}

/// The longest `data:` line read; a model's chunk is a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

impl SseLines {
    /// Feeds a chunk; calls `event` with each complete `data:` line's JSON. Each byte
    /// is looked at once, whatever the chunk boundaries.
    pub fn feed(&mut self, chunk: &[u8], mut event: impl FnMut(&Value)) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|byte| *byte == b'\n') {
            if !self.skipping {
                self.pending.extend_from_slice(&rest[..end]);
                emit(&self.pending, &mut event);
            }
            self.pending.clear();
            self.skipping = false;
            rest = &rest[end + 1..];
        }
        if self.skipping {
            return;
        }
        if self.pending.len() + rest.len() > MAX_LINE_BYTES {
            self.pending.clear();
            self.skipping = true;
        } else {
            self.pending.extend_from_slice(rest);
        }
    }
}

/// One complete line: its JSON, if it is a `data:` line that holds some.
fn emit(line: &[u8], event: &mut impl FnMut(&Value)) {
    let line = String::from_utf8_lossy(line);
    let Some(data) = line.trim_end().strip_prefix("data:") else {
        return;
    };
    if let Ok(value) = serde_json::from_str::<Value>(data.trim()) {
        event(&value);
    }
}

/// Token counts as OpenAI names them, the shape every type's final event uses.
pub fn usage(prompt: &Value, completion: &Value, total: &Value) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_survive_any_chunk_boundary() {
        let stream = b"data: {\"a\":1}\n\ndata: {\"a\":2}\r\n\r\ndata: [DONE]\n\n";
        for split in 0..stream.len() {
            let mut lines = SseLines::default();
            let mut seen = Vec::new();
            lines.feed(&stream[..split], |it| seen.push(it.clone()));
            lines.feed(&stream[split..], |it| seen.push(it.clone()));
            assert_eq!(
                seen,
                vec![json!({"a": 1}), json!({"a": 2})],
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_line_without_end_is_not_kept() {
        let mut lines = SseLines::default();
        let mut seen = Vec::new();
        let endless = vec![b'x'; 64 * 1024];
        for _ in 0..(MAX_LINE_BYTES / endless.len() + 2) {
            lines.feed(&endless, |it| seen.push(it.clone()));
        }
        assert!(lines.pending.len() <= MAX_LINE_BYTES);
        lines.feed(b"\ndata: {\"a\":1}\n", |it| seen.push(it.clone()));
        assert_eq!(
            seen,
            vec![json!({"a": 1})],
            "the long line is dropped, the next read"
        );
    }
}
