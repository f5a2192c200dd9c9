//! The ServiceNow family: `.servicenow` (ITSM incidents), `.servicenow-sir` (SecOps
//! security incidents) and `.servicenow-itom` (ITOM events). They share Kibana's
//! config and secrets (basic auth or OAuth 2.0 JWT bearer), their validators, the
//! Table API / Import Set API client ([`service`]) and its error texts; each type adds
//! its params and flows ([`incident`] for ITSM and SIR, [`itom`] for events).

mod incident;
mod itom;
mod oauth;
mod service;

use serde_json::Value;

use super::{
    BoxFuture, Connector, ConnectorType, ExecuteError, ExecutionContext, License, Schemas,
    TypeInfo, ValidationContext,
    itsm::{sub_action_not_implemented, unsupported_sub_action},
    js::truthy,
};
use crate::schema::{
    Schema, SchemaError, any, array, boolean, literal, nullable, object, one_of, record, string,
};

/// What tells the three types apart (Kibana's `snExternalServiceConfig`).
pub struct Product {
    id: &'static str,
    name: &'static str,
    features: &'static [&'static str],
    /// The table records are kept in.
    table: &'static str,
    /// The Elastic application's import set table (ITSM, SIR).
    import_set_table: &'static str,
    /// The Elastic application's scope, for its health endpoint.
    app_scope: &'static str,
    /// Whether the type may use the Import Set API (`usesTableApi: false`).
    uses_import_api: bool,
    /// The sub-actions its params accept, and of those the ones it runs.
    known: &'static [&'static str],
    supported: &'static [&'static str],
}

const ITSM: Product = Product {
    id: ".servicenow",
    name: "ServiceNow ITSM",
    features: super::ALERTING_CASES_UPTIME_SIEM,
    table: "incident",
    import_set_table: "x_elas2_inc_int_elastic_incident",
    app_scope: "x_elas2_inc_int",
    uses_import_api: true,
    known: &[
        "getFields",
        "getIncident",
        "handshake",
        "pushToService",
        "getChoices",
        "closeIncident",
    ],
    supported: &[
        "getFields",
        "pushToService",
        "getChoices",
        "getIncident",
        "closeIncident",
    ],
};

const SIR: Product = Product {
    id: ".servicenow-sir",
    name: "ServiceNow SecOps",
    features: super::ALERTING_CASES_SIEM,
    table: "sn_si_incident",
    import_set_table: "x_elas2_sir_int_elastic_si_incident",
    app_scope: "x_elas2_sir_int",
    uses_import_api: true,
    known: &[
        "getFields",
        "getIncident",
        "handshake",
        "pushToService",
        "getChoices",
    ],
    supported: &["getFields", "pushToService", "getChoices", "getIncident"],
};

const ITOM: Product = Product {
    id: ".servicenow-itom",
    name: "ServiceNow ITOM",
    features: super::ALERTING_SIEM,
    table: "em_event",
    import_set_table: "x_elas2_inc_int_elastic_incident",
    app_scope: "x_elas2_inc_int",
    uses_import_api: false,
    known: &["addEvent", "getChoices"],
    supported: &["addEvent", "getChoices"],
};

/// Kibana's `{{rule.id}}:{{alert.id}}` default, rendered only when run by a rule.
const ALERTS_GROUPING_KEY: &str = "{{rule.id}}:{{alert.id}}";

/// The push params every incident type shares; `additional_fields` may not name them.
const COMMON_FIELDS: &[&str] = &[
    "short_description",
    "description",
    "externalId",
    "category",
    "subcategory",
    "correlation_id",
    "correlation_display",
    "additional_fields",
];

/// One ServiceNow type. The OAuth tokens and keys it caches live here, so every run
/// of a connector shares them.
pub struct ServiceNow {
    product: &'static Product,
    schemas: Schemas,
    /// Each sub-action's `subActionParams` schema, by name.
    sub_actions: Vec<(&'static str, Schema)>,
    tokens: oauth::Tokens,
}

impl ServiceNow {
    pub fn itsm() -> Self {
        let incident = incident_schema(vec![
            ("severity", nullable(string())),
            ("urgency", nullable(string())),
            ("impact", nullable(string())),
        ]);
        let mut sub_actions = incident_sub_actions(incident);
        sub_actions.push(("closeIncident", close_incident_schema()));
        Self::new(&ITSM, sub_actions)
    }

    pub fn sir() -> Self {
        let observable = || nullable(one_of([string(), array(string())]));
        let incident = incident_schema(vec![
            ("dest_ip", observable()),
            ("malware_hash", observable()),
            ("malware_url", observable()),
            ("source_ip", observable()),
            ("priority", nullable(string())),
        ]);
        Self::new(&SIR, incident_sub_actions(incident))
    }

    pub fn itom() -> Self {
        let text = || nullable(string());
        let add_event = object([
            ("source", text()),
            ("event_class", text()),
            ("resource", text()),
            ("node", text()),
            ("metric_name", text()),
            ("type", text()),
            ("severity", text()),
            ("description", text()),
            ("additional_info", text()),
            ("message_key", text().default(ALERTS_GROUPING_KEY)),
            ("time_of_event", text()),
        ]);
        Self::new(
            &ITOM,
            vec![("addEvent", add_event), ("getChoices", choices_schema())],
        )
    }

    fn new(product: &'static Product, sub_actions: Vec<(&'static str, Schema)>) -> Self {
        let names = product.known.iter().map(|name| literal(*name));
        Self {
            product,
            schemas: Schemas {
                config: config_schema(product.uses_import_api),
                secrets: secrets_schema(),
                // Kibana discriminates on `subAction`: the matching sub-action's
                // params are checked in `validate_params`, so errors name only it.
                params: object([("subAction", one_of(names)), ("subActionParams", any())]),
            },
            sub_actions,
            tokens: oauth::Tokens::default(),
        }
    }

    /// The sub-action's params with their defaults filled in.
    fn sub_action_params(&self, params: &Value) -> Result<Value, SchemaError> {
        let name = params["subAction"].as_str().unwrap_or_default();
        let Some((_, schema)) = self.sub_actions.iter().find(|(it, _)| *it == name) else {
            return Ok(Value::Null);
        };
        schema
            .validate(&params["subActionParams"])
            .map_err(|error| error.in_namespace("subActionParams"))
    }
}

fn config_schema(with_table_api_choice: bool) -> Schema {
    let mut fields = vec![
        ("apiUrl", string()),
        ("isOAuth", boolean().default(false)),
        ("userIdentifierValue", nullable(string())),
        ("clientId", nullable(string())),
        ("jwtKeyId", nullable(string())),
    ];
    if with_table_api_choice {
        fields.push(("usesTableApi", boolean().default(true)));
    }
    object(fields)
}

fn secrets_schema() -> Schema {
    object([
        ("password", nullable(string())),
        ("username", nullable(string())),
        ("clientSecret", nullable(string())),
        ("privateKey", nullable(string())),
        ("privateKeyPassword", nullable(string())),
    ])
}

/// `pushToService`'s incident: the common fields, then the type's own.
fn incident_schema(own: Vec<(&'static str, Schema)>) -> Schema {
    let mut fields = vec![
        ("short_description", string()),
        ("description", nullable(string())),
        ("externalId", nullable(string())),
        ("category", nullable(string())),
        ("subcategory", nullable(string())),
        (
            "correlation_id",
            nullable(string()).default(ALERTS_GROUPING_KEY),
        ),
        ("correlation_display", nullable(string())),
        (
            "additional_fields",
            nullable(record(any())).check(check_additional_fields),
        ),
    ];
    fields.extend(own);
    object(fields)
}

fn check_additional_fields(fields: &Value) -> Result<(), String> {
    super::itsm::check_extra_fields(fields, "additional_fields", 20, COMMON_FIELDS)
}

fn incident_sub_actions(incident: Schema) -> Vec<(&'static str, Schema)> {
    vec![
        // Kibana reads any object here.
        ("getFields", record(any())),
        ("getIncident", object([("externalId", string())])),
        ("handshake", object([])),
        (
            "pushToService",
            object([
                ("incident", incident),
                ("comments", super::itsm::comments_schema()),
            ]),
        ),
        ("getChoices", choices_schema()),
    ]
}

fn choices_schema() -> Schema {
    object([("fields", array(string()))])
}

fn close_incident_schema() -> Schema {
    object([(
        "incident",
        object([
            ("externalId", nullable(string())),
            (
                "correlation_id",
                nullable(string()).default(ALERTS_GROUPING_KEY),
            ),
        ]),
    )])
}

/// `<field> must be provided when isOAuth = <flag>`.
fn missing(field: &str, oauth: bool) -> String {
    format!("{field} must be provided when isOAuth = {oauth}")
}

fn check_config(config: &Value, cx: &ValidationContext) -> Result<(), String> {
    super::itsm::check_api_url(&config["apiUrl"], cx)?;
    if config["isOAuth"] == true {
        for field in ["userIdentifierValue", "clientId", "jwtKeyId"] {
            if config[field].is_null() {
                return Err(missing(field, true));
            }
        }
    }
    Ok(())
}

fn check_secrets(secrets: &Value) -> Result<(), String> {
    let [username, password, client_secret, private_key] =
        ["username", "password", "clientSecret", "privateKey"].map(|key| truthy(&secrets[key]));
    if !username && !password && !client_secret && !private_key {
        return Err("Either basic auth or OAuth credentials must be specified".to_owned());
    }
    if username || password {
        if !(username && password) {
            return Err("username and password must both be specified".to_owned());
        }
    } else if !(client_secret && private_key) {
        return Err("clientSecret and privateKey must both be specified".to_owned());
    }
    Ok(())
}

fn check_connector(config: &Value, secrets: &Value) -> Result<(), String> {
    if config["isOAuth"] == true {
        for (source, field) in [
            (config, "userIdentifierValue"),
            (config, "clientId"),
            (config, "jwtKeyId"),
            (secrets, "clientSecret"),
            (secrets, "privateKey"),
        ] {
            if source[field].is_null() {
                return Err(missing(field, true));
            }
        }
        if truthy(&secrets["username"]) || truthy(&secrets["password"]) {
            return Err(
                "Username and password should not be provided with isOAuth = true".to_owned(),
            );
        }
    } else {
        for field in ["username", "password"] {
            if secrets[field].is_null() {
                return Err(missing(field, false));
            }
        }
        let oauth_given = truthy(&secrets["clientSecret"])
            || truthy(&config["clientId"])
            || truthy(&config["userIdentifierValue"])
            || truthy(&config["jwtKeyId"])
            || truthy(&secrets["privateKey"]);
        if oauth_given {
            return Err("clientId, clientSecret, userIdentifierValue, jwtKeyId and privateKey should not be provided with isOAuth = false".to_owned());
        }
    }
    Ok(())
}

impl ConnectorType for ServiceNow {
    fn info(&self) -> TypeInfo {
        TypeInfo {
            id: self.product.id,
            name: self.product.name,
            minimum_license: License::Platinum,
            supported_feature_ids: self.product.features,
        }
    }

    fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    fn validate_config(&self, config: &Value, cx: &ValidationContext) -> Result<(), String> {
        check_config(config, cx)
    }

    fn validate_secrets(&self, secrets: &Value, _cx: &ValidationContext) -> Result<(), String> {
        check_secrets(secrets)
    }

    fn validate_connector(&self, config: &Value, secrets: &Value) -> Result<(), String> {
        check_connector(config, secrets)
    }

    fn validate_params(&self, params: &Value, _cx: &ValidationContext) -> Result<(), String> {
        self.sub_action_params(params)
            .map(drop)
            .map_err(|error| error.to_string())
    }

    fn execute<'a>(
        &'a self,
        cx: &'a ExecutionContext,
        connector: Connector<'a>,
        params: Value,
    ) -> BoxFuture<'a, Result<Option<Value>, ExecuteError>> {
        Box::pin(async move {
            let service = service::Service::new(cx, self.product, &connector, &self.tokens)?;
            let name = params["subAction"].as_str().unwrap_or_default();
            if !self.product.known.contains(&name) {
                return Err(unsupported_sub_action("", name));
            }
            if !self.product.supported.contains(&name) {
                return Err(sub_action_not_implemented("", name));
            }
            let sub_params = self
                .sub_action_params(&params)
                .map_err(|error| ExecuteError::thrown(error.to_string()))?;
            let empty = || Value::Object(serde_json::Map::new());
            let data = match name {
                "pushToService" => incident::push(&service, &sub_params).await,
                "getFields" => service.get_fields().await,
                "getChoices" => service.get_choices(&sub_params["fields"]).await,
                "getIncident" => incident::get(&service, &sub_params).await,
                "closeIncident" => incident::close(&service, &sub_params)
                    .await
                    .map(|closed| closed.unwrap_or_else(empty)),
                "addEvent" => itom::add_event(&service, &sub_params)
                    .await
                    .map(|()| empty()),
                _ => Ok(empty()),
            };
            data.map(Some).map_err(service::SnError::into_execute_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_need_one_complete_kind_of_credentials() {
        let check = |secrets: Value| check_secrets(&secrets);
        assert_eq!(
            check(json!({ "username": "", "password": null })),
            Err("Either basic auth or OAuth credentials must be specified".to_owned())
        );
        assert_eq!(
            check(json!({ "username": "a" })),
            Err("username and password must both be specified".to_owned())
        );
        assert_eq!(
            check(json!({ "privateKey": "k" })),
            Err("clientSecret and privateKey must both be specified".to_owned())
        );
        assert_eq!(
            check(json!({ "clientSecret": "s", "privateKey": "k" })),
            Ok(())
        );
    }
}
