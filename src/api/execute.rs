//! `POST /api/actions/connector/{id}/_execute`: runs a connector now and answers with
//! Kibana's result object (200 even when the run fails). The run is logged; its
//! execution id is in the `x-execution-id` header, for `GET /api/actions/executions/{id}`.
//!
//! A client that sends `Accept: text/event-stream` and asks for a streamed answer
//! (`.gen-ai`'s `stream` with `stream: true`, `invokeStream` of `.gen-ai`, `.bedrock`
//! and `.gemini`, `.bedrock`'s `converseStream`) gets the vendor's events as they arrive, then `event: result` with the run's result
//! (its `data` holds the token usage). The run is logged when the stream ends.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::State,
    http::{
        HeaderMap, HeaderValue,
        header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE},
    },
    response::{IntoResponse, Response},
};
use tokio::sync::mpsc;

use super::{
    AppState,
    auth::Caller,
    error::ApiError,
    extract::{ConnectorId, JsonBody, Space, check_body},
};
use crate::{
    connector_types::streaming,
    execution_log::{self, Attempt, Requester, Source},
    executor::{self, Run, Started, StreamingRun},
    schema::{Schema, any, object, record},
};

pub(super) static EXECUTE_BODY: LazyLock<Schema> =
    LazyLock::new(|| object([("params", record(any()))]));

/// How many chunks may wait for a slow client before the vendor is read no further.
const STREAM_BUFFER: usize = 16;

pub async fn execute(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
    request_headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body = check_body(&EXECUTE_BODY, &body)?;
    caller.authorize_execute(&state, &space, &id).await?;
    let started = executor::start(
        &state.service,
        &space,
        &id,
        &body["params"],
        caller.0.as_ref(),
        accepts_event_stream(&request_headers),
    )
    .await?;
    let execution_id = uuid::Uuid::new_v4().to_string();
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&execution_id) {
        headers.insert("x-execution-id", value);
    }
    let ran = Ran {
        state,
        space,
        id,
        requester: caller.requester(),
        execution_id,
    };
    match started {
        Started::Done(run) => {
            ran.record(&run);
            Ok((headers, Json(run.result)).into_response())
        }
        Started::Streaming(streaming) => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
            tokio::spawn(forward(streaming, sender, ran));
            Ok((headers, Body::new(EventBody(receiver))).into_response())
        }
    }
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|it| it.to_str().ok())
        .flat_map(|it| it.split(','))
        .any(|it| {
            it.split(';')
                .next()
                .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// A run done over HTTP, to be counted and logged once it has ended.
struct Ran {
    state: AppState,
    space: String,
    id: String,
    requester: Requester,
    execution_id: String,
}

impl Ran {
    fn record(&self, run: &Run) {
        self.state.metrics.observe_execution(
            &run.type_id,
            Source::HttpRequest.as_str(),
            run.result.status == executor::Status::Ok,
            run.duration,
        );
        self.state.recorder.log(execution_log::entry(
            &Attempt {
                execution_id: &self.execution_id,
                number: 1,
                space_id: &self.space,
                connector_id: &self.id,
                source: Source::HttpRequest,
                schedule_delay: None,
                requester: &self.requester,
            },
            run,
        ));
    }
}

/// Passes the vendor's chunks on as they come, then the result event; logs the run.
async fn forward(streaming: StreamingRun, sender: mpsc::Sender<Bytes>, ran: Ran) {
    let StreamingRun {
        mut streamed,
        ending,
    } = streaming;
    let mut ends_cleanly = true;
    let mut total = 0;
    let mut shutdown = ran.state.shutdown.clone();
    let outcome = loop {
        // A client that leaves while the vendor is silent ends the run now, not at the
        // vendor's next chunk; a server told to stop does not wait for the vendor
        // either (it waits for open connections, and this is one).
        let next = tokio::select! {
            next = streamed.source.next_chunk() => next,
            () = sender.closed() => {
                break Err("the client closed the stream before it ended".to_owned());
            }
            _ = shutdown.wait_for(|stopping| *stopping) => {
                break Err("the server is shutting down".to_owned());
            }
        };
        match next {
            Ok(Some(chunk)) => {
                if let Err(message) = streaming::count_chunk(&mut total, &chunk) {
                    break Err(message);
                }
                streamed.summary.observe(&chunk);
                ends_cleanly = chunk.ends_with(b"\n\n") || (chunk.is_empty() && ends_cleanly);
                if sender.send(Bytes::from(chunk)).await.is_err() {
                    break Err("the client closed the stream before it ended".to_owned());
                }
            }
            Ok(None) => break Ok(streamed.summary.finish()),
            Err(message) => break Err(message),
        }
    };
    let run = ending.finish(outcome);
    let separator = if ends_cleanly { "" } else { "\n\n" };
    let result = serde_json::to_string(&run.result).unwrap_or_default();
    let _ = sender
        .send(Bytes::from(format!(
            "{separator}event: result\ndata: {result}\n\n"
        )))
        .await;
    ran.record(&run);
}

/// A response body fed from a channel, chunk by chunk.
struct EventBody(mpsc::Receiver<Bytes>);

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }
}
