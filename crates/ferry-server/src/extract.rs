//! Extractors for requests signed by an account holder (`ferry-account` or `ferry-key`,
//! `ferry-time`, `ferry-signature` headers; see `ferry_api::auth`).

use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::{HeaderMap, Method};
use ferry_proto::AccountId;
use serde::de::DeserializeOwned;

use crate::api::auth;
use crate::api::error::ApiError;
use crate::api::json;
use crate::error_map::registry_error;
use crate::state::AppState;

/// A JSON body signed by a registered account's key (`ferry-account`, `ferry-time`,
/// `ferry-signature` headers): the account and the parsed body.
pub struct SignedJson<T> {
    /// The signing account.
    pub account: AccountId,
    /// The body.
    pub body: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if let Err(e) = json::check_content_type(req.headers()) {
            let (parts, body) = req.into_parts();
            crate::api::body::drain(&parts.headers, body).await;
            return Err(e);
        }
        let (account, bytes) = signed_body(req, state).await?;
        Ok(SignedJson {
            account,
            body: json::from_slice(&bytes)?,
        })
    }
}

/// A request with no body, signed by a registered account.
pub struct SignedBy(pub AccountId);

impl FromRequest<AppState> for SignedBy {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Ok(SignedBy(signed_body(req, state).await?.0))
    }
}

async fn signed_body(req: Request, state: &AppState) -> Result<(AccountId, Bytes), ApiError> {
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let (parts, body) = req.into_parts();
    let account = match auth::account_header(&parts.headers) {
        Ok(a) => a,
        Err(e) => {
            crate::api::body::drain(&parts.headers, body).await;
            return Err(e);
        }
    };
    let bytes = json::read_body(&parts, body).await?;
    let cert = state
        .engine
        .client_certificate(account)
        .await
        .map_err(registry_error)?
        .ok_or_else(|| ApiError::unauthorized("unknown account"))?;
    let key = cert.unverified().account_key;
    auth::account_signature(
        &parts.headers,
        &parts.method,
        &uri,
        &bytes,
        &key,
        state.now(),
    )?;
    Ok((account, bytes))
}

/// The body of a request signed by the key it registers (`ferry-key` header).
pub async fn signed_by_new_key(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    uri: &OriginalUri,
    body: &Bytes,
) -> Result<ferry_proto::PublicKey, ApiError> {
    let key = auth::key_header(headers)?;
    auth::account_signature(headers, method, &uri.0, body, &key, state.now())?;
    Ok(key)
}
