//! AWS Signature V4 for Bedrock requests, as Kibana signs them with `aws4`: service
//! `bedrock`, every given header signed, plus `Host`, `Content-Length` and
//! `X-Amz-Date`. The signing itself is the `aws-sigv4` crate's.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};

/// The service name Kibana signs for (not `bedrock-runtime`).
const SERVICE: &str = "bedrock";

/// What one request is signed over.
pub struct ToSign<'a> {
    /// `host[:port]`, as the request's `Host` header will carry it.
    pub host: &'a str,
    /// The path Kibana signs: `/model/<model>/<operation>`.
    pub path: &'a str,
    /// Headers sent besides `Host` and `Content-Length`.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a str,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret: &'a str,
    pub time: SystemTime,
}

/// The headers to add to the request: `x-amz-date` and `authorization`.
///
/// # Errors
/// When the request cannot be signed (never names a credential).
pub fn signed_headers(request: &ToSign<'_>) -> Result<Vec<(String, String)>, String> {
    let identity =
        Credentials::new(request.access_key, request.secret, None, None, "connector").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(request.region)
        .name(SERVICE)
        .time(request.time)
        // Non-S3 defaults: the path is percent-encoded again in the canonical
        // request, as `aws4` does for every service but S3.
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| format!("unable to sign the request: {error}"))?
        .into();
    let length = request.body.len().to_string();
    let mut headers: Vec<(&str, &str)> = request.headers.to_vec();
    headers.push(("host", request.host));
    headers.push(("content-length", &length));
    let uri = format!("https://{}{}", request.host, request.path);
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body.as_bytes()),
    )
    .map_err(|_| "unable to sign the request: invalid URL or header".to_owned())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|_| "unable to sign the request".to_owned())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scope, date and signed headers are Kibana's; the signature itself is
    /// recomputed independently by the integration tests.
    #[test]
    fn signs_with_the_bedrock_scope() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let request = ToSign {
            host: "bedrock-runtime.us-east-1.amazonaws.com",
            path: "/model/a%3Ab/invoke",
            headers: &[("content-type", "application/json"), ("accept", "*/*")],
            body: "{}",
            region: "us-east-1",
            access_key: "AKIDEXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            time,
        };
        let headers = signed_headers(&request).unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
        let authorization = get("authorization").unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
                 SignedHeaders=accept;content-length;content-type;host;x-amz-date, Signature="
            ),
            "{authorization}"
        );
    }
}
