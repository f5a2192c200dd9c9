//! Streamed runs: a sub-action whose vendor answers piece by piece (OpenAI's
//! `stream`/`invokeStream`, later Bedrock's and Gemini's) hands back a [`Streamed`]
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

/// Reads a streamed answer to its end; the summary is the run's `data`.
///
/// # Errors
/// The source's failure text.
pub async fn collect(mut streamed: Streamed) -> Result<Value, String> {
    while let Some(chunk) = streamed.source.next_chunk().await? {
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
#[derive(Default)]
pub struct SseLines {
    pending: Vec<u8>,
}

impl SseLines {
    /// Feeds a chunk; calls `event` with each complete `data:` line's JSON.
    pub fn feed(&mut self, chunk: &[u8], mut event: impl FnMut(&Value)) {
        self.pending.extend_from_slice(chunk);
        while let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            if let Ok(value) = serde_json::from_str::<Value>(data.trim()) {
                event(&value);
            }
        }
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
}
