//! The OpenAPI document, generated from the handlers' annotations: the source of truth for the
//! API (`GET /openapi.json`).

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes::{admin, public, settlement, ussd, wallets};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry settlement server",
        description = "Settles offline payments exactly once. Binary fields are base64url without padding; ids are lower-case hex; amounts are integers in minor units. Account-holder requests are signed with the account key (headers ferry-account or ferry-key, ferry-time, ferry-signature over METHOD\\nPATH?QUERY\\nTIME\\nSHA-256(body)); agent and admin requests carry a bearer token; claims, journals, envelopes and orders authenticate themselves. Errors are {\"error\": {\"code\", \"message\", \"field\"}}. Item outcomes: settled, duplicate, pending (valid, waiting for the payer wallet's float; settles by itself), rejected{reason} (nothing recorded; a retry may settle), invalid{reason}."
    ),
    paths(
        public::healthz, public::metrics, public::openapi, public::params, public::revocations,
        wallets::register_account, wallets::register_wallet, wallets::deposit, wallets::bond, wallets::account,
        settlement::claims, settlement::journals, settlement::envelopes, settlement::orders, settlement::payment_status,
        admin::cash_in, admin::cash_out, admin::create_agent, admin::fund, admin::sweep, admin::audit, admin::fraud_cases,
        ussd::africastalking_callback, ussd::hubtel_callback, ussd::register_phone, ussd::phone_account, ussd::ussd_cash_out, ussd::link_phone, ussd::sms_outbox,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
