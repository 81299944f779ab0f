//! `/connector-plugins/...`: the connector (and, with
//! `connectorsOnly=false`, the transforms and predicates), `ConfigKeyInfo`s and
//! `config/validate` in Connect's `ConfigInfos` shape, from the property
//! table and validator `plugin describe` and `validate` use.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use lambda_sink_core::connect::infos::{config_infos, config_key_infos, plugin_key_infos};
use lambda_sink_core::connect::records::Props;
use lambda_sink_core::connect::{CONNECTOR_CLASS, is_our_plugin};
use lambda_sink_core::transform::catalog;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult, parse_body};
use crate::serve::node::Node;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/connector-plugins", get(list))
        .route("/connector-plugins/", get(list))
        .route("/connector-plugins/{plugin}/config", get(config))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
}

/// Every plugin: the connector, and with `connectorsOnly=false` the
/// transforms and predicates too.
async fn list(Query(params): Query<Vec<(String, String)>>) -> ApiResult<axum::Json<Value>> {
    let connectors_only = match params.iter().rev().find(|(k, _)| k == "connectorsOnly") {
        None => true,
        Some((_, v)) if v.eq_ignore_ascii_case("true") => true,
        Some((_, v)) if v.eq_ignore_ascii_case("false") => false,
        Some((_, v)) => {
            return Err(ApiError::bad_request(format!(
                "connectorsOnly must be true or false, not {v:?}"
            )));
        }
    };
    let mut plugins = vec![json!({
        "class": CONNECTOR_CLASS,
        "type": "sink",
        "version": env!("CARGO_PKG_VERSION"),
    })];
    if !connectors_only {
        plugins.extend(catalog::PLUGINS.iter().map(|p| {
            json!({
                "class": p.class,
                "type": p.kind().as_str(),
                "version": env!("CARGO_PKG_VERSION"),
            })
        }));
    }
    Ok(axum::Json(json!(plugins)))
}

/// The connector's properties, or a transform's or predicate's (by its
/// full class name).
async fn config(Path(plugin): Path<String>) -> ApiResult<axum::Json<Value>> {
    if is_our_plugin(&plugin) {
        return Ok(axum::Json(json!(config_key_infos())));
    }
    match catalog::PLUGINS.iter().find(|p| p.class == plugin) {
        Some(p) => Ok(axum::Json(json!(plugin_key_infos(p)))),
        None => Err(ApiError::not_found(format!("Unknown plugin {plugin}."))),
    }
}

async fn validate(
    State(w): State<Arc<Node>>,
    Path(plugin): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let Value::Object(submitted) = parse_body(&body)? else {
        return Err(ApiError::bad_request(
            "the request must be a JSON object of configuration properties",
        ));
    };
    let submitted: Props = submitted;
    let Some(class) = submitted.get("connector.class").and_then(Value::as_str) else {
        return Err(ApiError::bad_request(format!(
            "Connector config {} contains no connector type",
            Value::Object(lambda_sink_core::connect::infos::masked(&submitted))
        )));
    };
    if !is_our_plugin(class) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Failed to find any class that implements Connector and which name matches {class}, available connectors are: PluginDesc{{klass=class {CONNECTOR_CLASS}, name='{CONNECTOR_CLASS}', version='{}', type=sink}}",
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    if !is_our_plugin(&plugin) {
        return Err(ApiError::bad_request(format!(
            "Included connector type {class} does not match request type {plugin}"
        )));
    }
    let validation = w.admin.validate(&submitted).await;
    Ok(axum::Json(config_infos(
        class,
        &submitted,
        &validation.errors,
    )))
}
