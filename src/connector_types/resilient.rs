//! `.resilient`: IBM Resilient (QRadar SOAR) incidents, a sub-action connector with
//! Kibana's case push (`pushToService`) and three look-ups (`incidentTypes`,
//! `severity`, `getFields`).

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{
    BoxFuture, Connector, ConnectorType, ErrorSource, ExecuteError, ExecutionContext, License,
    Schemas, TypeInfo, ValidationContext,
    case_connector::{self, CaseService, Pushed, strictly_equal},
    itsm,
    js::{template_text, text as js_text, truthy},
    outbound::Answer,
    subaction,
};
use crate::schema::{Schema, SchemaError, any, array, nullable, number, object, record, string};

const NAME: &str = "IBM Resilient";
const MAX_ADDITIONAL_FIELDS: usize = 50;
/// The incident's own params, which `additionalFields` may not name.
const INCIDENT_KEYS: &[&str] = &[
    "name",
    "description",
    "externalId",
    "incidentTypes",
    "severityCode",
    "additionalFields",
];

pub struct Resilient {
    schemas: Schemas,
    push: Schema,
    no_params: Schema,
}

impl Resilient {
    pub fn new() -> Self {
        Self {
            schemas: Schemas {
                config: object([("apiUrl", string()), ("orgId", string())]),
                secrets: object([("apiKeyId", string()), ("apiKeySecret", string())]),
                params: subaction::params_schema(),
            },
            push: push_schema(),
            no_params: object([]),
        }
    }
}

/// `pushToService`'s params: the incident fields in Kibana's order, `externalId` last
/// (the case framework adds it to the type's own fields).
fn push_schema() -> Schema {
    object([
        (
            "incident",
            object([
                ("name", string()),
                ("description", nullable(string())),
                ("incidentTypes", nullable(array(number()))),
                ("severityCode", nullable(number())),
                ("additionalFields", nullable(record(any()))),
                ("externalId", nullable(string())),
            ]),
        ),
        ("comments", itsm::comments_schema()),
    ])
}

/// Kibana's limits on `additionalFields` (a forbidden key, then the key count), worded
/// as config-schema words a failed `nullable(recordOf(...))`.
fn check_additional_fields(params: &Value) -> Result<(), SchemaError> {
    let Some(fields) = params["incident"]["additionalFields"].as_object() else {
        return Ok(());
    };
    let refused = fields
        .keys()
        .find(|key| INCIDENT_KEYS.contains(&key.as_str()));
    let failure = match refused {
        Some(key) => itsm::check_extra_fields(
            &json!({ key.as_str(): null }),
            "additionalFields",
            MAX_ADDITIONAL_FIELDS,
            INCIDENT_KEYS,
        )
        .err()
        .map(|message| format!("[incident.additionalFields.0.key(\"{key}\")]: {message}")),
        None => itsm::check_extra_fields(
            &params["incident"]["additionalFields"],
            "additionalFields",
            MAX_ADDITIONAL_FIELDS,
            &[],
        )
        .err()
        .map(|message| format!("[incident.additionalFields.0]: {message}")),
    };
    match failure {
        None => Ok(()),
        Some(first) => Err(SchemaError::new(
            &["incident".to_owned(), "additionalFields".to_owned()],
            format!(
                "types that failed validation:\n- {first}\n- [incident.additionalFields.1]: expected value to equal [null]"
            ),
        )),
    }
}

/// Kibana's text for a failed Resilient call.
fn failure(answer: &Answer) -> ExecuteError {
    let status = answer.status.as_u16();
    let message = if status == 401 {
        "Unauthorized API Error".to_owned()
    } else if let Some(message) = answer.body.as_object().and_then(|it| it.get("message")) {
        format!("API Error: {}", js_text(message))
    } else {
        format!("API Error: {}", answer.status_text())
    };
    subaction::call_failed(Some(status), &message)
}

/// `[Action][IBM Resilient]: <what>. Error: <cause>.`, how every call's failure reads.
fn wrapped(what: String) -> impl FnOnce(ExecuteError) -> ExecuteError {
    move |error| {
        let cause = error
            .service_message()
            .unwrap_or(error.message())
            .to_owned();
        ExecuteError::thrown(format!("[Action][{NAME}]: {what}. Error: {cause}."))
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |it| u64::try_from(it.as_millis()).unwrap_or(u64::MAX))
}

/// One connector's calls to Resilient.
struct Client<'a> {
    cx: &'a ExecutionContext,
    api_url: &'a str,
    org: String,
    auth: String,
}

impl<'a> Client<'a> {
    fn new(cx: &'a ExecutionContext, connector: &Connector<'a>) -> Self {
        let api_url = connector.config["apiUrl"].as_str().unwrap_or_default();
        let org_id = connector.config["orgId"].as_str().unwrap_or_default();
        let secret = |key: &str| connector.secrets[key].as_str().unwrap_or_default();
        Self {
            cx,
            api_url,
            org: format!("{api_url}/rest/orgs/{org_id}"),
            auth: itsm::basic_auth(secret("apiKeyId"), secret("apiKeySecret")),
        }
    }

    fn fields_url(&self) -> String {
        format!("{}/types/incident/fields", self.org)
    }

    fn view_url(&self, id: &str) -> String {
        let base = self.api_url.strip_suffix('/').unwrap_or(self.api_url);
        format!("{base}/#incidents/{id}")
    }

    /// Sends a request; a non-2xx answer is a failure in Kibana's words.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, ExecuteError> {
        let headers = [("authorization", self.auth.as_str())];
        let answer = subaction::request(self.cx, method, url, &headers, body, |_| {
            "Unknown API Error".to_owned()
        })
        .await?;
        if !answer.status.is_success() {
            return Err(failure(&answer));
        }
        Ok(answer.body)
    }

    async fn get_fields(&self) -> Result<Vec<Value>, ExecuteError> {
        let fetch = async {
            let body = self.send(Method::GET, &self.fields_url(), None).await?;
            check_fields_answer(&body)?;
            Ok(body
                .as_array()
                .into_iter()
                .flatten()
                .map(field_summary)
                .collect())
        };
        fetch
            .await
            .map_err(wrapped("Unable to get fields".to_owned()))
    }

    async fn get_incident(&self, id: &str) -> Result<Value, ExecuteError> {
        let fetch = async {
            let url = format!(
                "{}/incidents/{id}?text_content_output_format=objects_convert",
                self.org
            );
            let body = self.send(Method::GET, &url, None).await?;
            case_connector::check_fields(
                &body,
                &[("id", "number"), ("inc_last_modified_date", "number")],
            )?;
            Ok(body)
        };
        fetch
            .await
            .map_err(wrapped(format!("Unable to get incident with id {id}")))
    }

    /// `incidentTypes` and `severity`: a field's `values` as `[{id, name}]`.
    async fn get_values(&self, field: &str, what: &str) -> Result<Value, ExecuteError> {
        let fetch = async {
            let url = format!("{}/{field}", self.fields_url());
            let body = self.send(Method::GET, &url, None).await?;
            check_values_answer(&body)?;
            let values: Vec<Value> = body["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|it| json!({ "id": js_text(&it["value"]), "name": it["label"] }))
                .collect();
            Ok(Value::Array(values))
        };
        fetch
            .await
            .map_err(wrapped(format!("Unable to get {what}")))
    }

    async fn create(&self, incident: &Value) -> Result<Pushed, ExecuteError> {
        let mut data = create_body(incident, now_millis());
        if let Some(extra) = incident["additionalFields"].as_object() {
            let fields = self.get_fields().await?;
            let prepared =
                prepare_additional_fields(&fields, extra).map_err(ExecuteError::thrown)?;
            let properties = prepared.get("properties").cloned();
            for (key, value) in prepared {
                if key != "properties" {
                    data.insert(key, value);
                }
            }
            if let Some(properties) = properties {
                data.insert("properties".to_owned(), properties);
            }
        }
        let url = format!(
            "{}/incidents?text_content_output_format=objects_convert",
            self.org
        );
        let body = self
            .send(Method::POST, &url, Some(&Value::Object(data)))
            .await?;
        case_connector::check_fields(&body, &[("id", "number"), ("create_date", "number")])?;
        let id = js_text(&body["id"]);
        let pushed_date =
            case_connector::iso_from_millis(&body["create_date"]).map_err(ExecuteError::thrown)?;
        Ok(Pushed {
            url: self.view_url(&id),
            title: Value::String(id.clone()),
            id,
            pushed_date,
        })
    }

    async fn update(&self, id: &str, incident: &Value) -> Result<Pushed, ExecuteError> {
        let latest = self.get_incident(id).await?;
        let fields = self.get_fields().await?;
        // Nulls are left out: a null would empty the field in Resilient.
        let changes: Map<String, Value> = incident
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let changes = format_update(&latest, &changes, &fields).map_err(ExecuteError::thrown)?;
        let url = format!("{}/incidents/{id}", self.org);
        let body = self.send(Method::PATCH, &url, Some(&changes)).await?;
        case_connector::check_fields(&body, &[("success", "boolean"), ("message", "?string")])?;
        if body["success"] != Value::Bool(true) {
            let message = template_text(body.get("message"));
            return Err(ExecuteError::thrown(format!(
                "Error while updating incident: {message}"
            )));
        }
        let updated = self.get_incident(id).await?;
        let updated_id = js_text(&updated["id"]);
        let pushed_date = case_connector::iso_from_millis(&updated["inc_last_modified_date"])
            .map_err(ExecuteError::thrown)?;
        Ok(Pushed {
            url: self.view_url(&updated_id),
            title: Value::String(updated_id.clone()),
            id: updated_id,
            pushed_date,
        })
    }
}

impl CaseService for Client<'_> {
    async fn create_incident(&self, incident: &Value) -> Result<Pushed, ExecuteError> {
        self.create(incident)
            .await
            .map_err(wrapped("Unable to create incident".to_owned()))
    }

    async fn update_incident(&self, id: &str, incident: &Value) -> Result<Pushed, ExecuteError> {
        self.update(id, incident)
            .await
            .map_err(wrapped(format!("Unable to update incident with id {id}")))
    }

    async fn add_comment(&self, incident_id: &str, comment: &str) -> Result<(), ExecuteError> {
        let add = async {
            let url = format!("{}/incidents/{incident_id}/comments", self.org);
            let body = json!({ "text": { "format": "text", "content": comment } });
            let answer = self.send(Method::POST, &url, Some(&body)).await?;
            case_connector::check_fields(&answer, &[])
        };
        add.await.map_err(wrapped(format!(
            "Unable to create comment at incident with id {incident_id}"
        )))
    }
}

/// The create body before additional fields: `name`, `discovered_date` (now), and the
/// optional fields Kibana sends only when they are truthy.
fn create_body(incident: &Value, now: u64) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("name".to_owned(), incident["name"].clone());
    data.insert("discovered_date".to_owned(), json!(now));
    if truthy(&incident["description"]) {
        data.insert(
            "description".to_owned(),
            json!({ "format": "html", "content": incident["description"] }),
        );
    }
    if let Some(types) = incident["incidentTypes"].as_array() {
        let ids: Vec<Value> = types.iter().map(|id| json!({ "id": id })).collect();
        data.insert("incident_type_ids".to_owned(), Value::Array(ids));
    }
    if truthy(&incident["severityCode"]) {
        data.insert(
            "severity_code".to_owned(),
            json!({ "id": incident["severityCode"] }),
        );
    }
    data
}

/// Every field as `getFields` reports it: the keys Kibana keeps, when present.
fn field_summary(field: &Value) -> Value {
    let kept = [
        "name",
        "input_type",
        "read_only",
        "required",
        "text",
        "prefix",
        "values",
    ];
    Value::Object(
        kept.iter()
            .filter_map(|key| {
                field
                    .get(*key)
                    .map(|value| ((*key).to_owned(), value.clone()))
            })
            .collect(),
    )
}

/// The fields answer: an array of field descriptions.
fn check_fields_answer(body: &Value) -> Result<(), ExecuteError> {
    let Some(items) = body.as_array() else {
        return Err(subaction::response_invalid(&format!(
            "expected value of type [array] but got [{}]",
            crate::schema::type_name(body)
        )));
    };
    let shape = [
        ("input_type", "string"),
        ("name", "string"),
        ("read_only", "boolean"),
        ("required", "?string"),
        ("text", "string"),
        ("prefix", "?string"),
        ("values", "?array"),
    ];
    items
        .iter()
        .enumerate()
        .find_map(|(index, item)| case_connector::field_error(&format!("{index}."), item, &shape))
        .map_or(Ok(()), |message| Err(subaction::response_invalid(&message)))
}

/// The incident types and severities answer: `{values: [{value: number, label: string}]}`.
fn check_values_answer(body: &Value) -> Result<(), ExecuteError> {
    case_connector::check_fields(body, &[("values", "array")])?;
    body["values"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .find_map(|(index, item)| {
            case_connector::field_error(
                &format!("values.{index}."),
                item,
                &[("value", "number"), ("label", "string")],
            )
        })
        .map_or(Ok(()), |message| Err(subaction::response_invalid(&message)))
}

/// The field descriptions by name.
fn by_name(fields: &[Value]) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|field| Some((field["name"].as_str()?.to_owned(), field.clone())))
        .collect()
}

/// A field's prefix (`properties` for custom fields), when it has one.
fn prefix(meta: &Value) -> Option<&str> {
    meta["prefix"].as_str().filter(|it| !it.is_empty())
}

/// Kibana's check of select and multiselect values against the field's options
/// (strict equality), with its message.
fn validate_values(meta: &Value, given: &[Value]) -> Result<(), String> {
    let Some(options) = meta["values"].as_array() else {
        return Ok(());
    };
    let known = |value: &Value| {
        options
            .iter()
            .any(|option| strictly_equal(&option["value"], value))
    };
    if given.iter().all(known) {
        return Ok(());
    }
    let pretty = serde_json::to_string_pretty(given).unwrap_or_default();
    let accepted: Vec<String> = options
        .iter()
        .map(|option| {
            format!(
                "{} (for \"{}\")",
                template_text(option.get("value")),
                template_text(option.get("label"))
            )
        })
        .collect();
    Err(format!(
        "Invalid values provided to {}: {pretty}. Accepted values: {}",
        template_text(meta.get("name")),
        accepted.join(",")
    ))
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// `additionalFields` of a create: `properties` flattened with the rest, select values
/// checked, and each field put under its prefix when its metadata has one.
fn prepare_additional_fields(
    fields: &[Value],
    extra: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut flattened = extra
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in extra {
        if key != "properties" {
            flattened.insert(key.clone(), value.clone());
        }
    }
    let metadata = by_name(fields);
    let mut data = Map::new();
    for (key, value) in flattened {
        let meta = metadata.get(&key);
        if let Some(meta) = meta
            && matches!(meta["input_type"].as_str(), Some("select" | "multiselect"))
        {
            validate_values(meta, &as_list(&value))?;
        }
        match meta.and_then(prefix) {
            Some(prefix) => {
                let group = data
                    .entry(prefix.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(group) = group.as_object_mut() {
                    group.insert(key, value);
                }
            }
            None => {
                data.insert(key, value);
            }
        }
    }
    Ok(data)
}

/// What an incident's current value reads as, by the field's input type.
fn old_field_value(meta: &Value, value: &Value) -> Value {
    match meta["input_type"].as_str() {
        Some(
            "textarea" | "multiselect" | "select" | "datetimepicker" | "datepicker" | "boolean"
            | "number" | "text",
        ) => value.clone(),
        _ => Value::Null,
    }
}

/// A value in the shape Resilient's `changes` take for the field's input type.
fn value_shape(meta: &Value, value: &Value, old: &Value) -> Result<Value, String> {
    Ok(match meta["input_type"].as_str().unwrap_or_default() {
        "textarea" => match value {
            Value::Null => json!({ "textarea": null }),
            Value::Object(text) if text.contains_key("format") && text.contains_key("content") => {
                json!({ "textarea": value })
            }
            _ => {
                let format = old
                    .as_object()
                    .and_then(|it| it.get("format"))
                    .cloned()
                    .unwrap_or_else(|| json!("text"));
                json!({ "textarea": { "format": format, "content": value } })
            }
        },
        "multiselect" if value.is_null() => json!({}),
        "multiselect" => {
            let ids = as_list(value);
            validate_values(meta, &ids)?;
            json!({ "ids": ids })
        }
        "select" if value.is_null() => json!({}),
        "select" => {
            validate_values(meta, std::slice::from_ref(value))?;
            json!({ "id": value })
        }
        "datetimepicker" | "datepicker" if value.is_number() => json!({ "date": value }),
        "boolean" if value.is_boolean() => json!({ "boolean": value }),
        "number" if value.is_number() => json!({ "object": value }),
        "text" if value.is_string() => json!({ "text": value }),
        _ => json!({}),
    })
}

/// The param name → Resilient field name.
fn field_name(key: &str) -> &str {
    match key {
        "incidentTypes" => "incident_type_ids",
        "severityCode" => "severity_code",
        other => other,
    }
}

/// The `{changes: [...]}` of an update: additional fields first, then the incident's
/// own (which win), each with its old and new value shaped by the field's metadata.
fn format_update(
    old: &Value,
    incident: &Map<String, Value>,
    fields: &[Value],
) -> Result<Value, String> {
    let mut updates = incident
        .get("additionalFields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in incident {
        if key != "additionalFields" {
            updates.insert(key.clone(), value.clone());
        }
    }
    let metadata = by_name(fields);
    let mut changes = Vec::with_capacity(updates.len());
    for key in updates.keys() {
        let name = field_name(key);
        let meta = metadata
            .get(name)
            .ok_or_else(|| format!("No metadata found for field {name}"))?;
        let mut old_value = if truthy(&old[name]) {
            &old[name]
        } else {
            &old[key.as_str()]
        };
        if let Some(prefix) = prefix(meta) {
            old_value = if truthy(&old[prefix]) {
                &old[prefix][key.as_str()]
            } else {
                &Value::Null
            };
        }
        let new_value = match updates.get(name) {
            Some(value) if truthy(value) => value,
            _ => &updates[key],
        };
        changes.push(json!({
            "field": { "name": name },
            "old_value": value_shape(meta, &old_field_value(meta, old_value), &Value::Null)?,
            "new_value": value_shape(meta, new_value, old_value)?,
        }));
    }
    Ok(json!({ "changes": changes }))
}

impl ConnectorType for Resilient {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: ".resilient",
            name: NAME,
            minimum_license: License::Platinum,
            supported_feature_ids: super::ALERTING_CASES_SIEM,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        subaction::check_url_config(&config["apiUrl"], cx)
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let client = Client::new(cx, &connector);
            let sub_params = &params["subActionParams"];
            let data = match params["subAction"].as_str().unwrap_or_default() {
                "pushToService" => {
                    let push = subaction::validate(&self.push, sub_params)?;
                    check_additional_fields(&push).map_err(|error| {
                        // The framework's wording for a sub-action's invalid params.
                        ExecuteError::thrown(format!("Request validation failed (Error: {error})"))
                            .with_source(ErrorSource::User)
                    })?;
                    case_connector::push_to_service(&client, &push).await?
                }
                "incidentTypes" => {
                    subaction::validate(&self.no_params, sub_params)?;
                    client
                        .get_values("incident_type_ids", "incident types")
                        .await?
                }
                "severity" => {
                    subaction::validate(&self.no_params, sub_params)?;
                    client.get_values("severity_code", "severity").await?
                }
                "getFields" => {
                    subaction::validate(&self.no_params, sub_params)?;
                    Value::Array(client.get_fields().await?)
                }
                other => return Err(subaction::not_registered(other, connector.id, self.info())),
            };
            Ok(Some(data))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<Value> {
        vec![
            json!({ "name": "name", "input_type": "text" }),
            json!({ "name": "description", "input_type": "textarea" }),
            json!({ "name": "severity_code", "input_type": "select",
                    "values": [{ "value": 5, "label": "Low" }, { "value": 6, "label": "Medium" }] }),
            json!({ "name": "incident_type_ids", "input_type": "multiselect",
                    "values": [{ "value": 12, "label": "Malware" }, { "value": 16, "label": "Phishing" }] }),
            json!({ "name": "test_number", "input_type": "number", "prefix": "properties" }),
            json!({ "name": "test_text_area", "input_type": "textarea", "prefix": "properties" }),
            json!({ "name": "test_select", "input_type": "select", "prefix": "properties",
                    "values": [{ "value": 100, "label": "Option 1" }] }),
        ]
    }

    #[test]
    fn create_bodies_send_only_truthy_optional_fields() {
        let incident = json!({ "name": "n", "description": "", "incidentTypes": [12],
                               "severityCode": 0, "additionalFields": null });
        assert_eq!(
            Value::Object(create_body(&incident, 7)),
            json!({ "name": "n", "discovered_date": 7, "incident_type_ids": [{ "id": 12 }] })
        );
    }

    #[test]
    fn additional_fields_go_under_their_prefix() {
        let extra = json!({ "properties": { "test_number": 1 }, "test_select": 100,
                            "resolution_summary": "x" });
        let prepared = prepare_additional_fields(&fields(), extra.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(prepared),
            json!({ "properties": { "test_number": 1, "test_select": 100 },
                    "resolution_summary": "x" })
        );
        let bad = json!({ "test_select": 1337 });
        assert_eq!(
            prepare_additional_fields(&fields(), bad.as_object().unwrap()).unwrap_err(),
            "Invalid values provided to test_select: [\n  1337\n]. Accepted values: 100 (for \"Option 1\")"
        );
    }

    #[test]
    fn updates_shape_values_by_input_type() {
        let old = json!({ "name": "old", "description": { "format": "html", "content": "d" },
                          "severity_code": 5, "incident_type_ids": [12],
                          "properties": { "test_text_area": "t" } });
        let incident = json!({ "additionalFields": { "test_number": 3, "test_text_area": "u" },
                               "name": "new", "description": "d2", "incidentTypes": [12, 16],
                               "severityCode": 6 });
        let changes = format_update(&old, incident.as_object().unwrap(), &fields()).unwrap();
        assert_eq!(
            changes,
            json!({ "changes": [
                { "field": { "name": "test_number" }, "old_value": {}, "new_value": { "object": 3 } },
                { "field": { "name": "test_text_area" },
                  "old_value": { "textarea": { "format": "text", "content": "t" } },
                  "new_value": { "textarea": { "format": "text", "content": "u" } } },
                { "field": { "name": "name" }, "old_value": { "text": "old" }, "new_value": { "text": "new" } },
                { "field": { "name": "description" },
                  "old_value": { "textarea": { "format": "html", "content": "d" } },
                  "new_value": { "textarea": { "format": "html", "content": "d2" } } },
                { "field": { "name": "incident_type_ids" }, "old_value": { "ids": [12] },
                  "new_value": { "ids": [12, 16] } },
                { "field": { "name": "severity_code" }, "old_value": { "id": 5 }, "new_value": { "id": 6 } },
            ] })
        );
        let unknown = json!({ "other": 1 });
        assert_eq!(
            format_update(&old, unknown.as_object().unwrap(), &fields()).unwrap_err(),
            "No metadata found for field other"
        );
    }
}
