//! Reading the execution log: `GET /api/actions/executions/{execution_id}` and
//! `GET /api/actions/connector/{id}/_execution_log` (Switchboard's), and Kibana's
//! `POST /internal/actions/_global_connector_execution_logs` and `_kpi`.

use std::{
    collections::HashMap,
    sync::LazyLock,
    time::{Duration, SystemTime},
};

use axum::{
    Json,
    extract::{Query, RawPathParams, State},
};
use serde_json::{Map, Value, json};
use time::{
    Date, OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339,
    macros::format_description,
};

use super::{
    AppState,
    auth::Caller,
    error::ApiError,
    extract::{ConnectorId, JsonBody, Space, check_body},
};
use crate::{
    execution_log::{kql, view},
    schema::{Schema, SchemaError, array, literal, maybe, number, object, one_of, string},
    security::Operation,
    store::{LogQuery, LogSort},
    timestamp::epoch_millis,
};

/// What Kibana adds to every filter; named in its syntax error.
const ACTION_FILTER: &str = "event.provider: actions AND NOT event.action: execute-start";

/// Kibana's `parseDate`: what `Date.parse` reads (here: RFC 3339, a date and time
/// without zone as UTC, or a date), else `<n>s|m|h|d` meaning that long ago.
fn parse_date(text: &str, parameter: &str, now: SystemTime) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::BadRequest(format!(
            "Invalid date for parameter {parameter}: \"{text}\""
        ))
    };
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(millis_of(at));
    }
    let local = format_description!(
        version = 2,
        "[year]-[month]-[day][first [T] [ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    if let Ok(at) = PrimitiveDateTime::parse(text, &local) {
        return Ok(millis_of(at.assume_utc()));
    }
    if let Ok(day) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Ok(millis_of(day.midnight().assume_utc()));
    }
    let unit = match text.chars().last() {
        Some('s') => 1_000,
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        _ => return Err(invalid()),
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|it| it.is_ascii_digit())
    {
        return Err(invalid());
    }
    let amount: u64 = digits.parse().map_err(|_| invalid())?;
    let ago = Duration::from_millis(amount.saturating_mul(unit));
    Ok(epoch_millis(
        now.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH),
    ))
}

fn millis_of(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `date_start` / `date_end` (default now) as a range.
fn date_range(body: &Value) -> Result<(Option<i64>, i64), ApiError> {
    let now = SystemTime::now();
    let from = body["date_start"]
        .as_str()
        .map(|text| parse_date(text, "dateStart", now))
        .transpose()?;
    let to = match body["date_end"].as_str() {
        Some(text) => parse_date(text, "dateEnd", now)?,
        None => epoch_millis(now),
    };
    Ok((from, to))
}

/// A KQL filter as Kibana reads it, with Kibana's message when it cannot.
fn filter(body: &Value) -> Result<Option<crate::store::LogFilter>, ApiError> {
    body["filter"]
        .as_str()
        .map(|text| {
            kql::parse(text).map_err(|kql::NotKql| {
                ApiError::BadRequest(format!(
                    "Invalid kuery syntax for filter {text} AND ({ACTION_FILTER})"
                ))
            })
        })
        .transpose()
}

/// Kibana's `min` check on a number, as config-schema words it.
fn at_least_one(body: &Value, key: &str, namespace: &str) -> Result<i64, ApiError> {
    let value = body[key].as_f64().unwrap_or(1.0);
    if value < 1.0 {
        return Err(ApiError::Invalid(
            SchemaError::new(
                &[key.to_owned()],
                "Value must be equal to or greater than [1].",
            )
            .in_namespace(namespace),
        ));
    }
    Ok(value as i64)
}

pub async fn execution(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    path: RawPathParams,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&space, Operation::Get, None)?;
    let id = path
        .iter()
        .find(|(key, _)| *key == "execution_id")
        .map(|(_, id)| id.to_owned())
        .unwrap_or_default();
    let queued = state
        .store
        .execution(&space, &id)
        .await
        .map_err(ApiError::Store)?;
    let (_, attempts) = state
        .store
        .read_log(&LogQuery {
            space_ids: vec![space.clone()],
            execution_id: Some(id.clone()),
            sort: vec![(LogSort::Timestamp, false)],
            limit: 1000,
            ..LogQuery::default()
        })
        .await
        .map_err(ApiError::Store)?;
    if queued.is_none() && attempts.is_empty() {
        return Err(ApiError::NotFound(format!("Execution [{id}] not found")));
    }
    // Oldest attempt first (the query breaks ties newest first).
    let mut attempts = attempts;
    attempts.sort_by_key(|it| it.attempt);
    Ok(Json(view::execution(queued.as_ref(), &attempts)))
}

pub(super) static CONNECTOR_LOG_QUERY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("date_start", maybe(string())),
        ("date_end", maybe(string())),
        (
            "outcome",
            maybe(one_of([literal("success"), literal("failure")])),
        ),
        ("filter", maybe(string())),
        ("page", number().default(1)),
        ("per_page", number().default(10)),
        (
            "sort_field",
            one_of([literal("timestamp"), literal("duration")]).default("timestamp"),
        ),
        (
            "sort_order",
            one_of([literal("desc"), literal("asc")]).default("desc"),
        ),
    ])
});

/// The most entries one page may hold.
const PER_PAGE_MAX: i64 = 1000;

pub async fn connector_log(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    ConnectorId(id): ConnectorId,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query: Map<String, Value> = query
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let query = CONNECTOR_LOG_QUERY
        .validate(&Value::Object(query))
        .map_err(|error| ApiError::Invalid(error.in_namespace("request query")))?;
    let page = at_least_one(&query, "page", "request query")?;
    let per_page = at_least_one(&query, "per_page", "request query")?;
    if per_page > PER_PAGE_MAX {
        return Err(ApiError::Invalid(
            SchemaError::new(
                &["per_page".to_owned()],
                format!("Value must be equal to or lower than [{PER_PAGE_MAX}]."),
            )
            .in_namespace("request query"),
        ));
    }
    let now = SystemTime::now();
    let date = |key: &str, parameter: &str| {
        query[key]
            .as_str()
            .map(|text| parse_date(text, parameter, now))
            .transpose()
    };
    let from = date("date_start", "dateStart")?;
    let to = date("date_end", "dateEnd")?;
    caller.authorize(&space, Operation::Get, None)?;
    let sort = match query["sort_field"].as_str() {
        Some("duration") => LogSort::Duration,
        _ => LogSort::Timestamp,
    };
    let (total, rows) = state
        .store
        .read_log(&LogQuery {
            space_ids: vec![space],
            connector_id: Some(id),
            from,
            to,
            outcome: query["outcome"].as_str().map(str::to_owned),
            filter: filter(&query)?,
            sort: vec![(sort, query["sort_order"] != "asc")],
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
            ..LogQuery::default()
        })
        .await
        .map_err(ApiError::Store)?;
    Ok(Json(json!({
        "page": page,
        "per_page": per_page,
        "total": total,
        "data": rows.iter().map(view::entry).collect::<Vec<_>>(),
    })))
}

fn sort_option(key: &'static str) -> Schema {
    object([(
        key,
        object([("order", one_of([literal("asc"), literal("desc")]))]),
    )])
}

pub(super) static GLOBAL_LOGS_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("date_start", string()),
        ("date_end", maybe(string())),
        ("filter", maybe(string())),
        ("per_page", number().default(10)),
        ("page", number().default(1)),
        (
            "sort",
            array(one_of([
                sort_option("timestamp"),
                sort_option("execution_duration"),
                sort_option("schedule_delay"),
            ]))
            .default(json!([{ "timestamp": { "order": "desc" } }])),
        ),
        ("namespaces", maybe(array(string()))),
    ])
});

pub(super) static GLOBAL_KPI_BODY: LazyLock<Schema> = LazyLock::new(|| {
    object([
        ("date_start", string()),
        ("date_end", maybe(string())),
        ("filter", maybe(string())),
        ("namespaces", maybe(array(string()))),
    ])
});

/// The spaces a global query reads: `namespaces`, else the request's space; an empty
/// list means every space. Kibana checks only the request's space; here the spaces
/// the caller may not read are left out (403 when none remains).
async fn spaces(
    state: &AppState,
    body: &Value,
    space: &str,
    caller: &Caller,
) -> Result<Vec<String>, ApiError> {
    let listed: Vec<String> = match body["namespaces"].as_array() {
        Some(listed) if listed.is_empty() => state
            .store
            .spaces()
            .await
            .map_err(ApiError::Store)?
            .into_iter()
            .map(|it| it.id)
            .collect(),
        Some(listed) => listed
            .iter()
            .filter_map(|it| it.as_str().map(str::to_owned))
            .collect(),
        None => vec![space.to_owned()],
    };
    let readable: Vec<String> = listed
        .into_iter()
        .filter(|it| caller.0.may(it, Operation::Get))
        .collect();
    if readable.is_empty() {
        return Err(ApiError::Forbidden(Operation::Get.refusal(None)));
    }
    Ok(readable)
}

async fn global_query(
    state: &AppState,
    body: &Value,
    space: &str,
    caller: &Caller,
) -> Result<LogQuery, ApiError> {
    let (from, to) = date_range(body)?;
    let filter = filter(body)?;
    Ok(LogQuery {
        space_ids: spaces(state, body, space, caller).await?,
        from,
        to: Some(to),
        filter,
        ..LogQuery::default()
    })
}

pub async fn global_logs(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = check_body(&GLOBAL_LOGS_BODY, &body)?;
    let per_page = at_least_one(&body, "per_page", "request body")?;
    let page = at_least_one(&body, "page", "request body")?;
    caller.authorize(&space, Operation::Get, None)?;
    let sort = body["sort"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|option| {
            let (key, order) = option.as_object()?.iter().next()?;
            let key = match key.as_str() {
                "execution_duration" => LogSort::Duration,
                "schedule_delay" => LogSort::ScheduleDelay,
                _ => LogSort::Timestamp,
            };
            Some((key, order["order"] == "desc"))
        })
        .collect();
    let query = LogQuery {
        sort,
        offset: (page - 1).saturating_mul(per_page),
        limit: per_page.min(PER_PAGE_MAX),
        ..global_query(&state, &body, &space, &caller).await?
    };
    let (total, rows) = state
        .store
        .read_log(&query)
        .await
        .map_err(ApiError::Store)?;
    Ok(Json(json!({
        "total": total,
        "data": rows.iter().map(view::kibana_log_item).collect::<Vec<_>>(),
    })))
}

pub async fn global_kpi(
    State(state): State<AppState>,
    Space(space): Space,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = check_body(&GLOBAL_KPI_BODY, &body)?;
    caller.authorize(&space, Operation::Get, None)?;
    let query = global_query(&state, &body, &space, &caller).await?;
    let counts = state
        .store
        .count_log_outcomes(&query)
        .await
        .map_err(ApiError::Store)?;
    Ok(Json(json!({
        "success": counts.success,
        "unknown": 0,
        "failure": counts.failure,
        "warning": 0,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dates_as_kibana_does() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |text| parse_date(text, "dateStart", now).ok();
        assert_eq!(at("2023-11-14T22:13:20.123Z"), Some(1_700_000_000_123));
        assert_eq!(at("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
        assert_eq!(at("2023-11-14T22:13:20"), Some(1_700_000_000_000));
        assert_eq!(at("2023-11-14"), Some(1_699_920_000_000));
        assert_eq!(at("1d"), Some(1_700_000_000_000 - 86_400_000));
        assert_eq!(at("15m"), Some(1_700_000_000_000 - 900_000));
        for invalid in [
            "now-1d",
            "0d",
            "01d",
            "1w",
            "",
            "foo",
            "1.5h",
            "1700000000000",
        ] {
            assert_eq!(at(invalid), None, "{invalid}");
        }
        let Err(ApiError::BadRequest(message)) = parse_date("nope", "dateEnd", now) else {
            panic!("expected a refusal");
        };
        assert_eq!(message, "Invalid date for parameter dateEnd: \"nope\"");
    }
}
