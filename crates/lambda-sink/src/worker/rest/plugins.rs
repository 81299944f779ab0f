//! `/connector-plugins/...`: the one plugin, its `ConfigKeyInfo`s and
//! `config/validate` in Connect's `ConfigInfos` shape, from the property
//! table and validator `plugin describe` and `validate` use.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use lambda_sink_core::connect::infos::{config_infos, config_key_infos};
use lambda_sink_core::connect::records::Props;
use lambda_sink_core::connect::{CONNECTOR_CLASS, is_our_plugin};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, parse_body};
use crate::worker::Worker;

pub(super) fn routes() -> Router<Arc<Worker>> {
    Router::new()
        .route("/connector-plugins", get(list))
        .route("/connector-plugins/", get(list))
        .route("/connector-plugins/{plugin}/config", get(config))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
}

/// Every plugin; transforms and predicates would be listed with
/// `connectorsOnly=false`, and lambda-sink has none yet.
async fn list() -> axum::Json<Value> {
    axum::Json(json!([{
        "class": CONNECTOR_CLASS,
        "type": "sink",
        "version": env!("CARGO_PKG_VERSION"),
    }]))
}

async fn config(Path(plugin): Path<String>) -> ApiResult<axum::Json<Value>> {
    if !is_our_plugin(&plugin) {
        return Err(ApiError::not_found(format!("Unknown plugin {plugin}.")));
    }
    Ok(axum::Json(json!(config_key_infos())))
}

async fn validate(
    State(w): State<Arc<Worker>>,
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
    let validation = w.validate(&submitted).await;
    Ok(axum::Json(config_infos(
        class,
        &submitted,
        &validation.errors,
    )))
}
