//! The web console (`/app/connectors`): one page, its script, style and icon, all
//! compiled into the binary (no CDN, nothing fetched), and the session routes it
//! signs in with, at Kibana's paths.

use std::net::{IpAddr, Ipv4Addr};

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::{
        HeaderMap, HeaderValue, StatusCode,
        header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE},
    },
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    AppState,
    auth::{Caller, SESSION_COOKIE, session_cookie},
    error::ApiError,
    extract::{ConnectorId, ParsedBody, Space, check_body},
};
use crate::{
    listener::ClientAddr,
    schema::{Schema, object, string},
    security::{AuthError, Operation},
};

/// Kibana's login body (its basic provider). `params` is free-form in Kibana and
/// checked by the provider; here it is the one shape the basic provider reads.
pub(super) static LOGIN_BODY: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(|| {
    object([
        ("providerType", string()),
        ("providerName", string()),
        ("currentURL", string()),
        (
            "params",
            object([("username", string()), ("password", string())]),
        ),
    ])
});

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");
const ICON: &[u8] = include_bytes!("console/icon.svg");

/// Only this server's own files run, nothing inline, nothing from elsewhere; the page
/// may not be framed (clickjacking).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // The files change with the binary; a stale script against a new server is worse
    // than fetching a few kilobytes again.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The page, at the root or under `/s/{space_id}` (404 for a space that does not
/// exist). The script reads the space from the address.
pub async fn page(_space: Space) -> Response {
    let mut response = asset("text/html; charset=utf-8", PAGE);
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

pub async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

/// Kibana's address of its connectors page sends browsers to this one.
pub async fn kibana_page(Space(space): Space) -> Response {
    let location = if space == "default" {
        "/app/connectors".to_owned()
    } else {
        format!("/s/{space}/app/connectors")
    };
    (
        StatusCode::FOUND,
        [(
            LOCATION,
            HeaderValue::from_str(&location).expect("a space id is ASCII"),
        )],
    )
        .into_response()
}

/// Kibana's `POST /internal/security/login`: `{providerType, providerName,
/// currentURL, params: {username, password}}`. Answers `{location}` and sets the
/// session cookie.
pub async fn login(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let extensions = request.extensions();
    let client = extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |it| it.0.0.ip());
    if !state.security.enabled() {
        // As in Kibana with security off: there is nothing to sign in to.
        return Err(ApiError::RouteNotFound);
    }
    let body = extensions
        .get::<ParsedBody>()
        .and_then(|it| it.0.clone())
        .unwrap_or(Value::Null);
    let body = check_body(&LOGIN_BODY, &body)?;
    let text = |name: &str| body["params"][name].as_str().unwrap_or_default().to_owned();
    let (username, password) = (text("username"), text("password"));
    let (id, principal) = match state.security.login(&username, &password, client).await {
        Ok(signed_in) => signed_in,
        Err(AuthError::Store(error)) => return Err(ApiError::Store(error)),
        Err(_) => {
            // No Basic challenge: a browser would answer it with its own password prompt.
            let mut response = ApiError::Unauthorized.into_response();
            response
                .headers_mut()
                .remove(axum::http::header::WWW_AUTHENTICATE);
            return Ok(response);
        }
    };
    tracing::info!(user = %principal.username, "Signed in to the console.");
    let location = body["currentURL"]
        .as_str()
        .filter(|it| it.starts_with('/') && !it.starts_with("//"))
        .unwrap_or("/app/connectors");
    let mut response = Json(json!({ "location": location })).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&state, &id, false));
    Ok(response)
}

fn cookie(state: &AppState, id: &str, clear: bool) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let expiry = if clear { "; Max-Age=0" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}{expiry}"
    ))
    .expect("the id is base64url")
}

/// Signs out: the session ends on the server and the cookie is cleared. `GET` (as
/// Kibana's) sends the browser back to the page, `POST` answers 204.
pub async fn logout(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = session_cookie(&headers) {
        state.security.logout(&id);
    }
    let mut response = if method == axum::http::Method::GET {
        (
            StatusCode::FOUND,
            [(LOCATION, HeaderValue::from_static("/app/connectors"))],
        )
            .into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&state, "", true));
    response
}

/// Kibana's `GET /internal/security/me`.
pub async fn me(State(state): State<AppState>, Caller(principal): Caller) -> Json<Value> {
    let realm = json!({ "name": "native", "type": "native" });
    Json(json!({
        "username": principal.username,
        "roles": principal.roles,
        "full_name": null,
        "email": null,
        "metadata": {},
        "enabled": true,
        "authentication_realm": if principal.api_key_id.is_some() {
            json!({ "name": "_es_api_key", "type": "_es_api_key" })
        } else { realm.clone() },
        "lookup_realm": realm,
        "authentication_provider": { "type": "basic", "name": "basic" },
        "authentication_type": if principal.api_key_id.is_some() { "api_key" } else { "realm" },
        "security_enabled": state.security.enabled(),
    }))
}

/// What the caller may do in this space, in the names of Kibana's UI capabilities
/// (`actions.show/execute/save/delete`), for the page to hide what would be refused.
pub async fn capabilities(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Space(space): Space,
) -> Json<Value> {
    let may = |operation| principal.may(&space, operation);
    Json(json!({
        "space": space,
        "username": principal.username,
        "security_enabled": state.security.enabled(),
        "actions": {
            "show": may(Operation::Get),
            "execute": may(Operation::Execute),
            "save": may(Operation::Create) && may(Operation::Update),
            "delete": may(Operation::Delete),
        },
        "spaces": { "manage": principal.manages_spaces() },
    }))
}

/// The JSON Schema of a type's config, secrets and params, for the console to build
/// its forms from. 404 for a type that is not registered.
pub async fn type_form(
    State(state): State<AppState>,
    Space(_space): Space,
    _caller: Caller,
    ConnectorId(id): ConnectorId,
) -> Result<Json<Value>, ApiError> {
    let schemas = state
        .service
        .type_schemas(&id)
        .ok_or_else(|| ApiError::NotFound(format!("Action type \"{id}\" is not registered.")))?;
    Ok(Json(json!({
        "id": id,
        "config": schemas.config.to_json_schema(),
        "secrets": schemas.secrets.to_json_schema(),
        "params": schemas.params.to_json_schema(),
    })))
}
