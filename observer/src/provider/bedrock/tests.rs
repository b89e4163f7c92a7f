//! Detection and helpers; whole exchanges are in `tests/fixtures/bedrock/`.

use super::*;
use crate::protocol::exchange::{Headers, Request};
use crate::provider::detect;

fn host(h: &str) -> Headers {
    vec![("Host".to_owned(), h.to_owned())]
}

#[test]
fn detects_runtime_hosts_and_operations() {
    let h = host("bedrock-runtime.us-east-1.amazonaws.com");
    let op = |path| detect("POST", path, &h).map(|a| (a.provider, a.operation));
    assert_eq!(
        op("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
        Some(("bedrock", "converse"))
    );
    assert_eq!(
        op("/model/m/converse-stream"),
        Some(("bedrock", "converse"))
    );
    assert_eq!(op("/model/m/invoke"), Some(("bedrock", "invoke")));
    assert_eq!(
        op("/model/m/invoke-with-response-stream"),
        Some(("bedrock", "invoke"))
    );
    assert_eq!(op("/model/m/count-tokens"), None);
    assert_eq!(op("/model//converse"), None);
    assert!(detect("GET", "/model/m/converse", &h).is_none());
    for other in [
        "bedrock.us-east-1.amazonaws.com",
        "bedrock-runtime.amazonaws.com",
        "bedrock-runtime.us-east-1.example.com",
    ] {
        assert!(detect("POST", "/model/m/converse", &host(other)).is_none());
    }
    let fips = host("bedrock-runtime-fips.us-gov-west-1.amazonaws.com:443");
    assert!(detect("POST", "/model/m/converse", &fips).is_some());
}

#[test]
fn regions_and_model_ids() {
    assert_eq!(
        runtime_region("Bedrock-Runtime.eu-central-1.amazonaws.com"),
        Some("eu-central-1")
    );
    assert_eq!(
        runtime_region("bedrock-runtime.cn-north-1.amazonaws.com.cn"),
        Some("cn-north-1")
    );
    assert_eq!(runtime_region("bedrock-runtime..amazonaws.com"), None);
    assert_eq!(
        percent_decode("arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x%3A0"),
        "arn:aws:bedrock:us-east-1:1:inference-profile/us.x:0"
    );
    assert_eq!(percent_decode("a%2"), "a%2");
    assert_eq!(percent_decode("a%zz%41"), "a%zzA");
    // An unencoded ARN keeps its slash.
    assert_eq!(
        split_path("/model/arn:aws:bedrock:us-east-1:1:inference-profile/us.x:0/invoke"),
        Some((
            "arn:aws:bedrock:us-east-1:1:inference-profile/us.x:0",
            Op::Invoke
        ))
    );
}

#[test]
fn exception_names() {
    assert_eq!(exception_error_type("throttlingException"), "rate_limited");
    assert_eq!(
        exception_error_type(
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
        ),
        "rate_limited"
    );
    assert_eq!(
        exception_error_type("modelStreamErrorException"),
        "server_error"
    );
    assert_eq!(
        exception_error_type("validationException"),
        "invalid_request"
    );
    assert_eq!(
        exception_error_type("serviceUnavailableException"),
        "overloaded"
    );
    assert_eq!(
        exception_error_type("internalServerException"),
        "server_error"
    );
    assert_eq!(exception_error_type("whatever"), "api_error");
}

#[test]
fn no_response_and_no_secret() {
    let ex = Exchange {
        request: Request {
            method: "POST".into(),
            path: "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse".into(),
            headers: vec![
                (
                    "Host".into(),
                    "bedrock-runtime.us-west-2.amazonaws.com".into(),
                ),
                (
                    "Authorization".into(),
                    "AWS4-HMAC-SHA256 Credential=AKIDSECRET/x, Signature=deadbeef".into(),
                ),
            ],
            body: b"{\"messages\":[]}".to_vec(),
            ..Request::default()
        },
        bodies_kept: true,
        ..Exchange::default()
    };
    let call = crate::provider::parse(&ex).expect("bedrock");
    assert_eq!(
        call.request_model,
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
    );
    assert_eq!(call.error_type, "no_response");
    assert_eq!(call.region, "us-west-2");
    let dump = format!("{call:?}");
    assert!(!dump.contains("AKIDSECRET") && !dump.contains("deadbeef"));
}
