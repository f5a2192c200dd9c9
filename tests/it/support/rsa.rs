//! A throwaway 2048-bit RSA key made for the tests (openssl genpkey), and a check of
//! RS256-signed JWTs against its public half: for connectors that sign OAuth
//! assertions (ServiceNow, Google Gemini).

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::Value;

/// The private key, PKCS#8 PEM.
pub const PKCS8_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCvIVskaT7RswT7\n\
5DyMMLdbhkmEjNabZEjs+fpRLvVDgDci4rF1ax7hQRXxOxKkTTwd2mg6jUNa1fQG\n\
ukX0EXY0RAU12J1s7Pk0YiQ1qbh43hG8qL2oLazKg6nlQz5q0Ok2sunIHMArUuRC\n\
oRbl/en636QCi7xIc/R9syLQ2JM/751gv+vmcv15eBMMuyptfpkEKGT8MB1c/B9a\n\
z6Zn31kiWQ+fAd2CTo5DwT2N6NH2zU/XDdIRpcuNt/QMg4Dzw45s+8BA8+YSqbg8\n\
klZLMvzEJ7tmM8b8i+b7yeOI0SHgaWFB4rBIgr99ryTet3930/ii+cWFySA3s6U/\n\
UbPnMUkXAgMBAAECggEAKq6p/G9MGKaVVeDT4uTyozNQ0qXSng+seFkaaVPVAc0L\n\
Ywy17GSdo4+Nzfu0OOf7+VikI3UPT+GqNkOKzge9c9KKJIv1HjmJKPusUInbRFX3\n\
I7BKfOUY4kiBjTc8zKK63BJxyMw9B7INoLGLF6WxM2vzGI2+5zefhE029Ih8Js4S\n\
sxtO5qSWO5n2ZPis6lAHsokb3bz8F0Gu+ZX6JgGOP8t25hmgDP4JoDPWwU7Nrhk4\n\
KpYcTY4EJKgKFar7CqCf8t22gnejRhTueqHzXL87ABAHt4flNS5FD5/Z6HaFt23U\n\
WpVVZkuteDHfoFl631K7dsIc98ajXJflshbZlUzu1QKBgQDyyF0X0TwJ0wIy6C3m\n\
eSV5e+fCALml9lGptwBd5fMG8iGCPTH8emgQydbdPCVRy4PSvEi5FXevY/stgZP9\n\
iUdxJ1ggBqPOsQQ0zYCgh8U7bUcJiQJ5tPN3I4WBQYYObdVLno50udKFvn021Aja\n\
Xt4DbBvc696OSnOErVbqwloppQKBgQC4qiDf/fugtnHeZZcqDd1oCCOvOMVAp7OE\n\
90YfrXd55Bc6yHfUS4sPIXfT+tZbdaYC8A1T1/X0TspIbTgv2LpGpbSoOww6Ec1R\n\
HUYSdJ6q1wqgWlugdh+wgncN8cuhSsoRm8Tf4LM5+zZz1gvJExGoKXuLPhe/3bMa\n\
rinQ171TCwKBgQCBDs2d2ZYGyuqCUTYFLCUlnR4n3ObTOEtU4nkJcTFtYc06RHmL\n\
8y3artDPLifQgVUD8x7ddHH5BDcDi7w1rIITvox0CdOODj9kKlHUBBhubLq0cOal\n\
9/DsRi+z9Dbk+LHHzvN/TUCB5C7/tFs4afGu9AsjtybJkP4za0mm5cW0GQKBgBkN\n\
Y5Zfw5JjDgGo8KAQ73ecmxK7de82kSE51raXdvz/V7Nu3OrdMMlltfb5MbmItXPy\n\
kyxLwR9azRCUWKoNEgBhnKeyEw+RuLQHb6kzTw9ISzXD7GhRfi0ZFgO7SO/h0JYg\n\
9s2Uk1wLW7DNWh32S0/wCMW0L86kyhaViDDAA/xPAoGAeWQgoCJbESYcYdP3CaBT\n\
df0yVlfDYFqA+5XS+oGNELxRmoF+LkgB/QNK0aieZBXnwe79vE++vVyxxMd2z9Iv\n\
lLeuHyYTa+s07tCXSx9woVhRhZYWV8EQc1z2VsRJK46ZFJ9RYSJrTqT1ZSPoPwHZ\n\
dBCQdSqzUvSngKMPBb0D+7c=\n\
-----END PRIVATE KEY-----\n\
";

/// Its public key, PKCS#1 DER in base64.
pub const PUBLIC_KEY: &str = "MIIBCgKCAQEAryFbJGk+0bME++Q8jDC3W4ZJhIzWm2RI7Pn6US71Q4A3IuKxdWse4UEV8TsSpE08HdpoOo1DWtX0BrpF9BF2NEQFNdidbOz5NGIkNam4eN4RvKi9qC2syoOp5UM+atDpNrLpyBzAK1LkQqEW5f3p+t+kAou8SHP0fbMi0NiTP++dYL/r5nL9eXgTDLsqbX6ZBChk/DAdXPwfWs+mZ99ZIlkPnwHdgk6OQ8E9jejR9s1P1w3SEaXLjbf0DIOA88OObPvAQPPmEqm4PJJWSzL8xCe7ZjPG/Ivm+8njiNEh4GlhQeKwSIK/fa8k3rd/d9P4ovnFhckgN7OlP1Gz5zFJFwIDAQAB";

/// Checks a compact JWT's RS256 signature with [`PUBLIC_KEY`]; returns its header as
/// text (to pin its key order) and its claims.
#[track_caller]
pub fn verify_rs256(jwt: &str) -> (String, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a signed JWT: {jwt}");
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).expect("base64url");
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let (_, verifiers) = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == rustls::SignatureScheme::RSA_PKCS1_SHA256)
        .expect("ring verifies RS256");
    verifiers[0]
        .verify_signature(
            &STANDARD.decode(PUBLIC_KEY).expect("base64"),
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &decode(parts[2]),
        )
        .expect("the JWT is signed with the test key");
    let header = String::from_utf8(decode(parts[0])).expect("UTF-8");
    let claims = serde_json::from_slice(&decode(parts[1])).expect("JSON claims");
    (header, claims)
}
