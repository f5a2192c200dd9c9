//! The calls of a push: create or update the case, read its title back, add the
//! comments. Failures read as Kibana's: each step adds `[Action][Webhook - Case
//! Management]: <what>. Error: <cause>. <answer body> <Reason: status text>`, and a
//! failed read of the title inside a create or an update is wrapped twice.

use reqwest::{
    Method,
    header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
};
use serde_json::Value;

use super::{
    NAME,
    templates::{
        body_view, case_view, check_answer, check_json, checked_url, render, text_at, url_view,
        view_url_view,
    },
};
use crate::connector_types::{
    ExecuteError, ExecutionContext, itsm, js,
    outbound::{Answer, TlsOverrides, TransportFailure},
    webhook::{self, AUTH_BASIC, AUTH_SSL},
};

/// A failed step: Kibana's text so far, and the vendor's answer when there was one
/// (each wrapping step shows it again).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    answer: Option<(Value, &'static str)>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            answer: None,
        }
    }

    /// Kibana's `addServiceMessageToError`: the answer's body only when it is truthy
    /// in JavaScript, the reason only when there was an answer.
    fn wrap(self, what: &str) -> Self {
        let (body, reason) = match &self.answer {
            Some((body, status_text)) => {
                let body = if js::truthy(body) {
                    body.to_string()
                } else {
                    String::new()
                };
                (body, format!("Reason: {status_text}"))
            }
            None => (String::new(), String::new()),
        };
        Self {
            message: format!(
                "[Action][{NAME}]: {what}. Error: {}. {body} {reason}",
                self.message
            ),
            answer: self.answer,
        }
    }
}

/// A config string, `None` when absent or empty (falsy in JavaScript).
fn text(config: &Value, key: &str) -> Option<String> {
    config[key]
        .as_str()
        .filter(|it| !it.is_empty())
        .map(str::to_owned)
}

fn method(config: &Value, key: &str) -> Method {
    let name = config[key].as_str().unwrap_or("post").to_ascii_uppercase();
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::POST)
}

/// A case as pushed: the external id and title, its view URL and when.
struct Pushed {
    id: String,
    title: String,
    url: String,
    pushed_date: String,
}

/// One connector's view of the external system.
pub struct Service<'a> {
    cx: &'a ExecutionContext,
    config: &'a Value,
    secrets: &'a Value,
    headers: HeaderMap,
}

impl<'a> Service<'a> {
    /// Checks what Kibana checks before any call: complete credentials for the chosen
    /// authentication and the four URLs that every push needs.
    ///
    /// # Errors
    /// `[Action]Webhook - Case Management: Wrong configuration.`, or a header that
    /// cannot be sent.
    pub fn new(
        cx: &'a ExecutionContext,
        config: &'a Value,
        secrets: &'a Value,
    ) -> Result<Self, ExecuteError> {
        let wrong = || ExecuteError::thrown(format!("[Action]{NAME}: Wrong configuration."));
        let has_auth = config["hasAuth"] != false;
        let auth_type = config["authType"].as_str();
        let basic = has_auth && auth_type.is_none_or(|it| it == AUTH_BASIC);
        if basic && (text(secrets, "user").is_none() || text(secrets, "password").is_none()) {
            return Err(wrong());
        }
        let has_certificate = has_auth
            && (text(secrets, "pfx").is_some()
                || (text(secrets, "crt").is_some() && text(secrets, "key").is_some()));
        let overrides_tls =
            text(config, "verificationMode").is_some() || text(config, "ca").is_some();
        if auth_type == Some(AUTH_SSL) && !has_certificate && !overrides_tls {
            return Err(wrong());
        }
        let urls = [
            "getIncidentUrl",
            "createIncidentUrl",
            "viewIncidentUrl",
            "updateIncidentUrl",
        ];
        if urls.iter().any(|key| text(config, key).is_none()) {
            return Err(wrong());
        }
        let headers = request_headers(config, secrets).map_err(ExecuteError::thrown)?;
        Ok(Self {
            cx,
            config,
            secrets,
            headers,
        })
    }

    fn uses_certificate(&self) -> bool {
        self.config["hasAuth"] != false && self.config["authType"] == AUTH_SSL
    }

    /// Creates or updates the case, then adds the comments that have text.
    ///
    /// # Errors
    /// The first failed step, in Kibana's words.
    pub async fn push(&self, sub_params: &Value) -> Result<Value, Failure> {
        let incident = &sub_params["incident"];
        let external_id = incident["externalId"].as_str();
        let tls =
            webhook::connector_tls(self.cx, self.config, self.secrets, self.uses_certificate())
                .await
                .map_err(|message| {
                    let what = external_id.map_or_else(
                        || "Unable to create case".to_owned(),
                        |id| format!("Unable to update case with id {id}"),
                    );
                    Failure::new(message).wrap(&what)
                })?;
        let pushed = match external_id {
            Some(id) => self
                .update(&tls, id, incident)
                .await
                .map_err(|failure| failure.wrap(&format!("Unable to update case with id {id}")))?,
            None => self
                .create(&tls, incident)
                .await
                .map_err(|failure| failure.wrap("Unable to create case"))?,
        };
        let comments = itsm::comments(sub_params);
        let pushed_comments = if comments.is_empty() {
            None
        } else {
            Some(self.push_comments(&tls, &pushed, comments).await?)
        };
        Ok(itsm::push_result(
            pushed.id,
            pushed.title,
            &pushed.pushed_date,
            &pushed.url,
            pushed_comments,
        ))
    }

    /// Sends the comments that have text; returns those reported as pushed.
    async fn push_comments(
        &self,
        tls: &TlsOverrides,
        pushed: &Pushed,
        comments: &[Value],
    ) -> Result<Vec<Value>, Failure> {
        let mut list = Vec::new();
        for comment in comments {
            let text = comment["comment"].as_str().unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            let sent = self
                .comment(tls, &pushed.id, text)
                .await
                .map_err(|failure| {
                    failure.wrap(&format!(
                        "Unable to create comment at case with id {}",
                        pushed.id
                    ))
                })?;
            // Kibana reports a comment as pushed even when the connector has no
            // comment config and nothing was sent; Switchboard does not.
            if sent {
                list.push(itsm::pushed_comment(comment, &pushed.pushed_date));
            }
        }
        Ok(list)
    }

    async fn create(&self, tls: &TlsOverrides, incident: &Value) -> Result<Pushed, Failure> {
        let config = self.config;
        let url = text(config, "createIncidentUrl").unwrap_or_default();
        let url = url.strip_suffix('/').unwrap_or(&url);
        let url = checked_url(self.cx, url, "Create case URL").map_err(Failure::new)?;
        let view = serde_json::json!({ "case": case_view(incident) });
        let body = render(
            config["createIncidentJson"].as_str().unwrap_or_default(),
            &view,
        );
        check_json(&body, "Create case JSON body").map_err(Failure::new)?;
        let method = method(config, "createIncidentMethod");
        let answer = self.send(tls, method.clone(), &url, Some(body)).await?;
        let key = config["createIncidentResponseKey"]
            .as_str()
            .unwrap_or_default();
        check_answer(&answer, &method, &url, &[key]).map_err(Failure::new)?;
        let id = text_at(&answer.body, key);
        self.read_back(tls, id).await
    }

    async fn update(
        &self,
        tls: &TlsOverrides,
        external_id: &str,
        incident: &Value,
    ) -> Result<Pushed, Failure> {
        let config = self.config;
        let template = config["updateIncidentUrl"].as_str().unwrap_or_default();
        let url = render(template, &url_view(external_id));
        let url = checked_url(self.cx, &url, "Update case URL").map_err(Failure::new)?;
        let view = body_view(Some(case_view(incident)), external_id);
        let body = render(
            config["updateIncidentJson"].as_str().unwrap_or_default(),
            &view,
        );
        check_json(&body, "Update case JSON body").map_err(Failure::new)?;
        let method = method(config, "updateIncidentMethod");
        let answer = self.send(tls, method.clone(), &url, Some(body)).await?;
        check_answer(&answer, &method, &url, &[]).map_err(Failure::new)?;
        self.read_back(tls, external_id.to_owned()).await
    }

    /// Reads the title of a created or updated case and renders its view URL.
    async fn read_back(&self, tls: &TlsOverrides, id: String) -> Result<Pushed, Failure> {
        let title = self
            .title(tls, &id)
            .await
            .map_err(|failure| failure.wrap(&format!("Unable to get case with id {id}")))?;
        let template = self.config["viewIncidentUrl"].as_str().unwrap_or_default();
        let url = render(template, &view_url_view(&id, &title));
        let url = checked_url(self.cx, &url, "View case URL").map_err(Failure::new)?;
        Ok(Pushed {
            id,
            title,
            url,
            pushed_date: itsm::now_iso(),
        })
    }

    async fn title(&self, tls: &TlsOverrides, id: &str) -> Result<String, Failure> {
        let config = self.config;
        let template = config["getIncidentUrl"].as_str().unwrap_or_default();
        let url = render(template, &url_view(id));
        let url = checked_url(self.cx, &url, "Get case URL").map_err(Failure::new)?;
        let method = method(config, "getIncidentMethod");
        let body = match (&method, text(config, "getIncidentJson")) {
            (&Method::POST, Some(template)) => {
                let body = render(&template, &body_view(None, id));
                check_json(&body, "Get case JSON body").map_err(Failure::new)?;
                Some(body)
            }
            _ => None,
        };
        let answer = self.send(tls, method.clone(), &url, body).await?;
        let key = config["getIncidentResponseExternalTitleKey"]
            .as_str()
            .unwrap_or_default();
        check_answer(&answer, &method, &url, &[key]).map_err(Failure::new)?;
        Ok(text_at(&answer.body, key))
    }

    /// Sends one comment; `false` when the connector has no complete comment config
    /// (nothing is sent then).
    async fn comment(&self, tls: &TlsOverrides, id: &str, comment: &str) -> Result<bool, Failure> {
        let config = self.config;
        let (Some(url), Some(template), Some(_)) = (
            text(config, "createCommentUrl"),
            text(config, "createCommentJson"),
            text(config, "createCommentMethod"),
        ) else {
            return Ok(false);
        };
        let url = render(&url, &url_view(id));
        let url = checked_url(self.cx, &url, "Create comment URL").map_err(Failure::new)?;
        let mut view = body_view(None, id);
        view["case"] =
            serde_json::json!({ "comment": Value::String(comment.to_owned()).to_string() });
        let body = render(&template, &view);
        check_json(&body, "Create comment JSON body").map_err(Failure::new)?;
        let method = method(config, "createCommentMethod");
        let answer = self.send(tls, method.clone(), &url, Some(body)).await?;
        check_answer(&answer, &method, &url, &[]).map_err(Failure::new)?;
        Ok(true)
    }

    /// One call with the connector's headers and TLS; the body goes as rendered. A
    /// non-2xx answer is a failure that keeps the answer, as with axios.
    async fn send(
        &self,
        tls: &TlsOverrides,
        method: Method,
        url: &str,
        body: Option<String>,
    ) -> Result<Answer, Failure> {
        let http = &self.cx.http;
        let mut request = http.request(method, url).headers(self.headers.clone());
        if let Some(body) = body {
            request = request.body(body);
        }
        let no_answer = |failure: TransportFailure| Failure::new(failure.message);
        let response = http.send(request, tls).await.map_err(no_answer)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = http.read_body(response).await.map_err(no_answer)?;
        if status.is_success() {
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
        Err(Failure {
            message: format!("Request failed with status code {}", status.as_u16()),
            answer: Some((body, status.canonical_reason().unwrap_or_default())),
        })
    }
}

/// Every request's headers, later ones winning: `content-type: application/json`,
/// basic auth, the configured headers, then the secret headers.
fn request_headers(config: &Value, secrets: &Value) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in webhook::request_headers(config, secrets)? {
        if let Some(name) = name {
            headers.insert(name, value);
        }
    }
    for (name, value) in secrets["secretHeaders"].as_object().into_iter().flatten() {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("Header name must be a valid HTTP token [\"{name}\"]"))?;
        let mut header_value = HeaderValue::from_str(value.as_str().unwrap_or_default())
            .map_err(|_| format!("Invalid character in header content [\"{name}\"]"))?;
        header_value.set_sensitive(true);
        headers.insert(header_name, header_value);
    }
    Ok(headers)
}
