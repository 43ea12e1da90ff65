//! The OpenAPI document, generated from the handlers' annotations and completed here: the
//! source of truth for the API (`GET /openapi.json`).
//!
//! [`Conventions`] adds what every operation shares, so no annotation can forget it: the error
//! responses a route can give (by what it reads: a body, path parameters, credentials, a batch),
//! the security requirements (account-signed requests, bearer tokens), and links from the
//! registration answers to the operations that use their ids.

use std::collections::BTreeMap;

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, HeaderBuilder, Ref, RefOr};

use crate::routes::{admin, dashboard, demo, public, risk, settlement, ussd, vouchers, wallets};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry settlement server",
        description = "Settles offline payments exactly once. Binary fields are base64url without padding; ids are lower-case hex; amounts are integers in minor units. Account-holder requests are signed with the account key (headers ferry-account or ferry-key, ferry-time, ferry-signature over METHOD\\nPATH?QUERY\\nTIME\\nSHA-256(body)); agent and admin requests carry a bearer token; claims, journals, envelopes and orders authenticate themselves. Errors are {\"error\": {\"code\", \"message\", \"field\"}}. Item outcomes: settled, duplicate, pending (valid, waiting for the payer wallet's float; settles by itself), rejected{reason} (nothing recorded; a retry may settle), invalid{reason}. Batch routes take at most 1000 items and a route-specific number of bytes; when the server holds too many batch bodies at once it answers 503 with Retry-After."
    ),
    paths(
        public::healthz, public::metrics, public::openapi, public::params, public::revocations,
        wallets::register_account, wallets::register_wallet, wallets::deposit, wallets::bond, wallets::account, wallets::received_payments, wallets::statement, wallets::mesh_postage,
        settlement::claims, settlement::journals, settlement::envelopes, settlement::orders, settlement::payment_status,
        admin::cash_in, admin::cash_out, admin::create_agent, admin::fund, admin::sweep, admin::audit, admin::fraud_cases,
        demo::state, demo::inject, demo::round, demo::flush, demo::reset,
        ussd::africastalking_callback, ussd::hubtel_callback, ussd::register_phone, ussd::phone_account, ussd::ussd_cash_out, ussd::link_phone, ussd::sms_outbox,
        vouchers::create, vouchers::list, vouchers::redeem, vouchers::invalidate, vouchers::block, risk::alerts,
        dashboard::overview, dashboard::transfers, dashboard::vouchers, dashboard::ussd_sessions,
    ),
    components(schemas(ferry_api::ErrorBody)),
    modifiers(&Conventions)
)]
struct ApiDoc;

/// Requests signed by a registered account.
const SIGNED: &[(&str, &str)] = &[
    ("post", "/v1/wallets"),
    ("post", "/v1/deposits"),
    ("post", "/v1/bonds"),
    ("get", "/v1/accounts/{id}"),
    ("get", "/v1/accounts/{id}/payments"),
    ("get", "/v1/accounts/{id}/statement"),
    ("get", "/v1/accounts/{id}/mesh-postage"),
    ("get", "/v1/payments/{ta}/{j}"),
    ("post", "/v1/phones/link"),
    ("post", "/v1/vouchers"),
    ("get", "/v1/vouchers"),
    ("post", "/v1/vouchers/redeem"),
    ("post", "/v1/vouchers/block"),
    ("post", "/v1/vouchers/{id}/invalidate"),
];
/// Requests signed by the key they register.
const SIGNED_BY_NEW_KEY: &[(&str, &str)] = &[("post", "/v1/accounts")];
/// Batch routes: shed under load, bounded in items and bytes.
const BATCHES: &[&str] = &["/v1/claims", "/v1/journals", "/v1/envelopes", "/v1/orders"];
/// Routes that never touch the database or parse anything.
const INFALLIBLE: &[&str] = &["/metrics", "/openapi.json"];

struct Conventions;

fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
        .into()
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| error(description));
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    let mut out = Vec::new();
    if let Some(op) = item.get.as_mut() {
        out.push(("get", op));
    }
    if let Some(op) = item.post.as_mut() {
        out.push(("post", op));
    }
    out
}

fn requirement(schemes: &[&str]) -> SecurityRequirement {
    schemes.iter().fold(SecurityRequirement::default(), |r, s| {
        r.add::<&str, [&str; 0], &str>(*s, [])
    })
}

impl utoipa::Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = |name: &str, what: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, what)))
        };
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
            components.add_security_scheme(
                "ferry_account",
                header(
                    "ferry-account",
                    "the signing account's id (32 lower-case hex characters)",
                ),
            );
            components.add_security_scheme(
                "ferry_key",
                header(
                    "ferry-key",
                    "the account key being registered (base64url, 32 bytes)",
                ),
            );
            components.add_security_scheme(
                "ferry_time",
                header(
                    "ferry-time",
                    "signing time, unix seconds, within 300 s of the server's clock",
                ),
            );
            components.add_security_scheme(
                "ferry_signature",
                header(
                    "ferry-signature",
                    "Ed25519 over ferry/v1/sig/HTTP-REQUEST 0x00 ‖ METHOD\\nPATH?QUERY\\nTIME\\nSHA-256(body), base64url",
                ),
            );
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let path: &str = path;
            for (method, op) in operations(item) {
                let signed = SIGNED.contains(&(method, path));
                let new_key = SIGNED_BY_NEW_KEY.contains(&(method, path));
                let bearer = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if signed {
                    op.security = Some(vec![requirement(&[
                        "ferry_account",
                        "ferry_time",
                        "ferry_signature",
                    ])]);
                } else if new_key {
                    op.security = Some(vec![requirement(&[
                        "ferry_key",
                        "ferry_time",
                        "ferry_signature",
                    ])]);
                }
                if signed || new_key || bearer {
                    add(op, "401", "missing, malformed or wrong credentials");
                }
                if path.contains('{') {
                    add(op, "400", "a malformed path parameter (`invalid_field`)");
                    add(op, "404", "not found");
                }
                let has_query = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        matches!(p, RefOr::T(p) if matches!(
                            p.parameter_in,
                            utoipa::openapi::path::ParameterIn::Query
                        ))
                    })
                });
                if has_query {
                    add(
                        op,
                        "400",
                        "a malformed, repeated or unknown query parameter",
                    );
                }
                if op.request_body.is_some() {
                    add(
                        op,
                        "400",
                        "malformed JSON, a missing, unknown or invalid field",
                    );
                    add(op, "408", "the body did not arrive within the body timeout");
                    add(op, "413", "the body is over this route's limit");
                    add(op, "415", "the body is not application/json");
                }
                if BATCHES.contains(&path) {
                    add(op, "422", "more than 1000 items (`batch_too_large`)");
                    op.responses.responses.insert(
                        "503".to_owned(),
                        ResponseBuilder::new()
                            .description(
                                "the server holds too many batch bodies (retry after \
                                 Retry-After seconds), or the database is unavailable",
                            )
                            .header(
                                "retry-after",
                                HeaderBuilder::new()
                                    .schema(Some(
                                        utoipa::openapi::ObjectBuilder::new()
                                            .schema_type(utoipa::openapi::schema::Type::Integer),
                                    ))
                                    .description(Some("seconds to wait"))
                                    .build(),
                            )
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                            )
                            .build()
                            .into(),
                    );
                }
                if !INFALLIBLE.contains(&path) {
                    add(op, "500", "a server fault (logged; no detail is sent)");
                    add(op, "503", "the database is unavailable; retry later");
                }
            }
        }
        link(openapi);
    }
}

/// Links from registration answers to the operations that take their ids, so that a client
/// generator (or a stateful fuzzer) can follow them.
fn link(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    let mut add_link =
        |path: &str, status: &str, name: &str, op_id: &str, params: &[(&str, &str)]| {
            let Some(op) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|i| i.post.as_mut())
            else {
                return;
            };
            let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) else {
                return;
            };
            let parameters: BTreeMap<String, serde_json::Value> = params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
                .collect();
            let mut builder = LinkBuilder::new().operation_id(op_id);
            for (k, v) in parameters {
                builder = builder.parameter(k, v);
            }
            response
                .links
                .insert(name.to_owned(), builder.build().into());
        };
    add_link(
        "/v1/accounts",
        "201",
        "GetAccount",
        "account",
        &[("id", "$response.body#/account_id")],
    );
    add_link(
        "/v1/accounts",
        "201",
        "GetStatement",
        "statement",
        &[("id", "$response.body#/account_id")],
    );
    add_link(
        "/v1/wallets",
        "201",
        "GetFirstPayment",
        "payment_status",
        &[("ta", "$response.body#/ta_id"), ("j", "1")],
    );
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_its_errors_and_security() {
        let doc = serde_json::to_value(document()).expect("json");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("item") {
                let responses = op["responses"].as_object().expect("responses");
                let has = |s: &str| responses.contains_key(s);
                if !INFALLIBLE.contains(&path.as_str()) {
                    assert!(has("500") && has("503"), "{method} {path}");
                }
                if op.get("requestBody").is_some() {
                    for s in ["400", "408", "413", "415"] {
                        assert!(has(s), "{method} {path} {s}");
                    }
                }
                if SIGNED.contains(&(method.as_str(), path.as_str())) {
                    assert!(has("401"), "{method} {path}");
                    assert_eq!(
                        op["security"][0]
                            .as_object()
                            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
                        Some(vec![
                            "ferry_account".to_owned(),
                            "ferry_signature".to_owned(),
                            "ferry_time".to_owned()
                        ]),
                        "{method} {path}"
                    );
                }
            }
        }
        for batch in BATCHES {
            let r = &paths[*batch]["post"]["responses"];
            assert!(r["422"].is_object() && r["503"]["headers"]["retry-after"].is_object());
        }
        let schemes = doc["components"]["securitySchemes"]
            .as_object()
            .expect("schemes");
        for s in [
            "bearer",
            "ferry_account",
            "ferry_key",
            "ferry_time",
            "ferry_signature",
        ] {
            assert!(schemes.contains_key(s), "{s}");
        }
        assert_eq!(
            paths["/v1/accounts"]["post"]["responses"]["201"]["links"]["GetAccount"]["operationId"],
            "account"
        );
        // Every link names an operation of the document.
        let link = &paths["/v1/accounts"]["post"]["responses"]["201"]["links"]["GetStatement"];
        assert_eq!(link["operationId"], "statement");
        assert_eq!(
            paths["/v1/accounts/{id}/statement"]["get"]["operationId"],
            "statement"
        );
    }
}
