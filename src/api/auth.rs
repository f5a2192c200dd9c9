//! Authentication for every route (first, as Kibana's security plugin does before
//! anything else), and the per-space privilege checks the handlers make after their
//! body is validated (Kibana's actions client checks after validation).

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{header::AUTHORIZATION, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{AppState, elasticsearch::EsError, error::ApiError};
use crate::{
    execution_log::Requester,
    listener::ClientAddr,
    security::{AuthError, Operation, Principal},
};

/// The authenticated caller of a request.
#[derive(Clone)]
pub struct Caller(pub Arc<Principal>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        // The authentication layer runs before every route; without it nobody is let in.
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

impl Caller {
    /// Kibana's feature privilege check for an operation in a space.
    ///
    /// # Errors
    /// 403 with Kibana's text, naming the connector type when it is known.
    pub fn authorize(
        &self,
        space: &str,
        operation: Operation,
        type_id: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.0.may(space, operation) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(operation.refusal(type_id)))
        }
    }
}

impl Caller {
    /// Kibana's check before running a connector: the refusal names the connector's
    /// type when it can be found.
    ///
    /// # Errors
    /// 403 with Kibana's text.
    pub async fn authorize_execute(
        &self,
        state: &AppState,
        space: &str,
        connector_id: &str,
    ) -> Result<(), ApiError> {
        if self.0.may(space, Operation::Execute) {
            return Ok(());
        }
        let type_id = state.service.type_of(space, connector_id).await;
        Err(ApiError::Forbidden(
            Operation::Execute.refusal(type_id.as_deref()),
        ))
    }

    /// Who is asking, as the execution log records it.
    pub fn requester(&self) -> Requester {
        Requester {
            username: Some(self.0.username.clone()),
            api_key_id: self.0.api_key_id.clone(),
        }
    }
}

/// Lets a request in only with valid credentials (unless security is off). Answers
/// in Elasticsearch's error shape under `/_security`, Kibana's elsewhere.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |it| it.0.0.ip());
    let header = request.headers().get(AUTHORIZATION).cloned();
    let presented = header.as_ref().map(axum::http::HeaderValue::as_bytes);
    // The console's session cookie stands in for credentials only when none are sent,
    // and not on Elasticsearch's routes: they have no `kbn-xsrf` rule to stop a
    // forged cross-site write riding on the cookie.
    let session = session_cookie(request.headers())
        .filter(|_| header.is_none() && !request.uri().path().starts_with("/_security"));
    let outcome = match session {
        Some(id) => state.security.authenticate_session(&id).await,
        None => state.security.authenticate(presented, client).await,
    };
    let from_browser_page = request
        .headers()
        .get("x-elastic-internal-origin")
        .is_some_and(|it| it.as_bytes().eq_ignore_ascii_case(b"kibana"));
    match outcome {
        Ok(principal) => {
            request.extensions_mut().insert(Caller(principal));
            next.run(request).await
        }
        Err(error) => {
            let for_elasticsearch = request.uri().path().starts_with("/_security");
            match error {
                AuthError::Store(error) if for_elasticsearch => {
                    EsError::store(error).into_response()
                }
                AuthError::Store(error) => ApiError::Store(error).into_response(),
                _ if for_elasticsearch => {
                    EsError::unauthenticated(request.uri().path(), &error).into_response()
                }
                _ => {
                    let mut response = ApiError::Unauthorized.into_response();
                    // Kibana's own pages send this header. A challenge would make the
                    // browser pop up its password prompt over the console's sign-in form.
                    if from_browser_page {
                        response
                            .headers_mut()
                            .remove(axum::http::header::WWW_AUTHENTICATE);
                    }
                    response
                }
            }
        }
    }
}

/// The console's cookie name, as Kibana's.
pub const SESSION_COOKIE: &str = "sid";

/// The `sid` cookie's value, if the request carries one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|it| it.to_str().ok())
        .flat_map(|it| it.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}
