//! The incident sub-actions of `.servicenow` and `.servicenow-sir`: push (create or
//! update, comments as work notes, SecOps observables), get and close.

use serde_json::{Map, Value, json};

use super::service::{Service, SnError};
use crate::connector_types::js::text as js_text;

/// The four SecOps observable fields, in the order of the params.
const OBSERVABLE_FIELDS: [&str; 4] = ["dest_ip", "malware_hash", "malware_url", "source_ip"];

/// `pushToService`: creates the incident (with the connector's user as caller) or
/// updates it, then re-sends it once per comment with the comment as its work note.
pub async fn push(service: &Service<'_>, params: &Value) -> Result<Value, SnError> {
    let mut incident = params["incident"].as_object().cloned().unwrap_or_default();
    let sir = incident.contains_key("dest_ip");
    let observables = sir.then(|| incident.clone());
    if sir {
        prepare_observables(&mut incident, service.uses_table_api());
    }
    let external_id = incident.shift_remove("externalId").unwrap_or(Value::Null);
    let mut result = if external_id.is_null() {
        let mut created = incident.clone();
        created.insert("caller_id".to_owned(), service.username().clone());
        created.insert("opened_by".to_owned(), service.username().clone());
        service.create_incident(&created).await?
    } else {
        service
            .update_incident(&js_text(&external_id), &incident)
            .await?
    };
    let comments = super::super::itsm::comments(params);
    if !comments.is_empty() {
        let id = js_text(&result["id"]);
        let pushed_date = result["pushedDate"].as_str().unwrap_or_default().to_owned();
        let mut pushed = Vec::with_capacity(comments.len());
        for comment in comments {
            let mut noted = incident.clone();
            noted.insert("work_notes".to_owned(), comment["comment"].clone());
            service.update_incident(&id, &noted).await?;
            pushed.push(super::super::itsm::pushed_comment(comment, &pushed_date));
        }
        result["comments"] = Value::Array(pushed);
    }
    if let Some(original) = observables.filter(|_| !service.uses_table_api()) {
        add_observables(service, &original, &js_text(&result["id"])).await?;
    }
    Ok(result)
}

/// SecOps observables in the incident itself: joined with `,` for the Table API;
/// left out (`null`) for the Import Set API, which takes them in a call of their own.
fn prepare_observables(incident: &mut Map<String, Value>, uses_table_api: bool) {
    for field in OBSERVABLE_FIELDS {
        let Some(value) = incident.get_mut(field) else {
            continue;
        };
        *value = match (uses_table_api, &*value) {
            (false, _) => Value::Null,
            (true, Value::Array(items)) => {
                let texts: Vec<String> = items.iter().map(js_text).collect();
                json!(texts.join(","))
            }
            (true, other) => other.clone(),
        };
    }
}

/// A string of observables is split on spaces, commas, pipes and line breaks; a list
/// is taken as it is.
fn observable_values(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => text
            .split([' ', ',', '|', '\r', '\n', '\t'])
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => items.iter().map(js_text).collect(),
        _ => Vec::new(),
    }
}

/// `[{value, type}]`: IPs (destination then source), SHA256 hashes, URLs; each type
/// without duplicates or empty values.
fn observables(incident: &Map<String, Value>) -> Vec<Value> {
    let field = |name: &str| observable_values(incident.get(name).unwrap_or(&Value::Null));
    let mut ips = field("dest_ip");
    ips.extend(field("source_ip"));
    let mut all = Vec::new();
    for (values, kind) in [
        (ips, "ipv4-addr"),
        (field("malware_hash"), "SHA256"),
        (field("malware_url"), "URL"),
    ] {
        let mut seen = Vec::new();
        for value in values {
            if !value.is_empty() && !seen.contains(&value) {
                seen.push(value);
            }
        }
        all.extend(
            seen.into_iter()
                .map(|value| json!({ "value": value, "type": kind })),
        );
    }
    all
}

async fn add_observables(
    service: &Service<'_>,
    incident: &Map<String, Value>,
    id: &str,
) -> Result<(), SnError> {
    let observables = observables(incident);
    if observables.is_empty() {
        return Ok(());
    }
    let url = format!(
        "{}/api/x_elas2_sir_int/elastic_api/incident/{id}/observables/bulk",
        service.base()
    );
    let outcome = async {
        service.check_application().await?;
        let answer = service
            .send(
                reqwest::Method::POST,
                &url,
                Some(&Value::Array(observables)),
            )
            .await?;
        service.check_instance(&answer).map(drop)
    };
    outcome.await.map_err(|error| {
        error.wrap(
            &format!("Unable to add observables to security incident with id {id}"),
            Some(super::service::Context {
                method: "post",
                endpoint: "other",
            }),
        )
    })
}

/// `getIncident`: the record, as ServiceNow gives it. (Kibana accepts the sub-action
/// but answers `{}` without asking ServiceNow.)
pub async fn get(service: &Service<'_>, params: &Value) -> Result<Value, SnError> {
    service
        .get_incident(params["externalId"].as_str().unwrap_or_default())
        .await
}

/// `closeIncident`: by `externalId`, else by `correlation_id`.
pub async fn close(service: &Service<'_>, params: &Value) -> Result<Option<Value>, SnError> {
    let incident = &params["incident"];
    service
        .close_incident(
            incident["externalId"].as_str(),
            incident["correlation_id"].as_str(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observables_are_split_deduplicated_and_typed() {
        let incident = json!({
            "dest_ip": "10.0.0.1, 10.0.0.2|10.0.0.1",
            "source_ip": ["10.0.0.2", "10.0.0.3", ""],
            "malware_hash": null,
            "malware_url": "https://a.example\nhttps://b.example",
        });
        assert_eq!(
            observables(incident.as_object().unwrap()),
            vec![
                json!({ "value": "10.0.0.1", "type": "ipv4-addr" }),
                json!({ "value": "10.0.0.2", "type": "ipv4-addr" }),
                json!({ "value": "10.0.0.3", "type": "ipv4-addr" }),
                json!({ "value": "https://a.example", "type": "URL" }),
                json!({ "value": "https://b.example", "type": "URL" }),
            ]
        );
    }

    #[test]
    fn table_mode_joins_observable_lists() {
        let mut incident = json!({ "dest_ip": ["a", "b"], "malware_hash": "h", "malware_url": null, "source_ip": [] })
            .as_object()
            .cloned()
            .unwrap();
        prepare_observables(&mut incident, true);
        assert_eq!(
            Value::Object(incident.clone()),
            json!({ "dest_ip": "a,b", "malware_hash": "h", "malware_url": null, "source_ip": "" })
        );
        prepare_observables(&mut incident, false);
        assert_eq!(
            Value::Object(incident),
            json!({ "dest_ip": null, "malware_hash": null, "malware_url": null, "source_ip": null })
        );
    }
}
