//! SigV4 against AWS's published signature test vectors (the "Signature Version 4 test suite":
//! credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service
//! `service`, 2015-08-30T12:36:00Z), and the Bedrock request's signature recomputed by hand from
//! the canonical request AWS specifies, to pin the double-encoded model id.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use switchyard_providers::bedrock::{
    self, sign_headers, AwsCredentials, BedrockTarget, CrossRegion, SigningScope,
};
use time::macros::datetime;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn suite_time() -> SystemTime {
    datetime!(2015-08-30 12:36:00 UTC).into()
}

fn creds() -> AwsCredentials {
    AwsCredentials::new(AKID, SECRET, None)
}

fn scope(time: SystemTime) -> SigningScope<'static> {
    SigningScope {
        region: "us-east-1",
        service: "service",
        time,
        content_sha256_header: false,
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn authz(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders={signed_headers}, Signature={signature}"
    )
}

#[test]
fn get_vanilla() {
    let h = sign_headers(
        "GET",
        "https://example.amazonaws.com/",
        &[("host", "example.amazonaws.com")],
        b"",
        &creds(),
        &scope(suite_time()),
    )
    .unwrap();
    assert_eq!(header(&h, "x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(
        header(&h, "authorization").unwrap(),
        authz(
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
    assert_eq!(header(&h, "x-amz-security-token"), None);
}

#[test]
fn post_vanilla_host_taken_from_url() {
    // No host header given: the signer takes it from the URL, as the suite's request has it.
    let h = sign_headers(
        "POST",
        "https://example.amazonaws.com/",
        &[],
        b"",
        &creds(),
        &scope(suite_time()),
    )
    .unwrap();
    assert_eq!(
        header(&h, "authorization").unwrap(),
        authz(
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        )
    );
}

#[test]
fn get_vanilla_query_order_key_case() {
    let h = sign_headers(
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        &[("host", "example.amazonaws.com")],
        b"",
        &creds(),
        &scope(suite_time()),
    )
    .unwrap();
    assert_eq!(
        header(&h, "authorization").unwrap(),
        authz(
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        )
    );
}

#[test]
fn post_header_key_sort() {
    let h = sign_headers(
        "POST",
        "https://example.amazonaws.com/",
        &[("host", "example.amazonaws.com"), ("My-Header1", "value1")],
        b"",
        &creds(),
        &scope(suite_time()),
    )
    .unwrap();
    assert_eq!(
        header(&h, "authorization").unwrap(),
        authz(
            "host;my-header1;x-amz-date",
            "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
        )
    );
}

#[test]
fn get_vanilla_with_session_token() {
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let c = AwsCredentials::new(AKID, SECRET, Some(token.to_owned()));
    let h = sign_headers(
        "GET",
        "https://example.amazonaws.com/",
        &[("host", "example.amazonaws.com")],
        b"",
        &c,
        &scope(suite_time()),
    )
    .unwrap();
    assert_eq!(header(&h, "x-amz-security-token"), Some(token));
    assert_eq!(
        header(&h, "authorization").unwrap(),
        authz(
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        )
    );
    // The secret never shows in Debug output.
    assert!(!format!("{c:?}").contains(SECRET));
    assert!(!format!("{c:?}").contains(token));
}

#[test]
fn post_x_www_form_urlencoded_signs_the_body() {
    let mut s = scope(suite_time());
    s.content_sha256_header = true;
    let h = sign_headers(
        "POST",
        "https://example.amazonaws.com/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("host", "example.amazonaws.com"),
            ("Content-Length", "13"),
        ],
        b"Param1=value1",
        &creds(),
        &s,
    )
    .unwrap();
    assert_eq!(
        header(&h, "x-amz-content-sha256"),
        Some("9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e")
    );
    assert_eq!(
        header(&h, "authorization").unwrap(),
        authz(
            "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        )
    );
}

#[test]
fn double_url_encode_of_a_colon_in_the_path() {
    // The suite's `double-url-encode` case: `%3A` in the sent path is `%253A` in the canonical
    // request, exactly the Bedrock model id case (`...-v1%3A0`).
    let s = SigningScope {
        region: "us-east-2",
        service: "lambda",
        time: datetime!(2021-05-11 15:40:45 UTC).into(),
        content_sha256_header: false,
    };
    let h = sign_headers(
        "POST",
        "https://lambda.us-east-2.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations",
        &[("host", "lambda.us-east-2.amazonaws.com")],
        b"",
        &creds(),
        &s,
    )
    .unwrap();
    assert_eq!(
        header(&h, "authorization").unwrap(),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20210511/us-east-2/lambda/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=4b93abbcc68be32bd64c18e2c71150660ab4c29bbd6c32a383a7517a88fc1804"
    );
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

#[test]
fn bedrock_request_signature_matches_a_hand_computed_one() {
    let now: SystemTime = datetime!(2025-01-02 03:04:05 UTC).into();
    let target = BedrockTarget {
        region: "eu-west-1",
        model_id: "anthropic.claude-3-5-haiku-20241022-v1:0",
        cross_region: CrossRegion::Geographic,
        stream: true,
    };
    let body = br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#.to_vec();
    let req = bedrock::sign_request(&target, body.clone(), &creds(), now).unwrap();
    assert_eq!(
        req.url,
        "https://bedrock-runtime.eu-west-1.amazonaws.com/model/eu.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke-with-response-stream"
    );

    // The canonical request per the SigV4 spec, written out independently of aws-sigv4.
    let payload_hash = hex::encode(Sha256::digest(&body));
    let canonical = format!(
        "POST\n\
         /model/eu.anthropic.claude-3-5-haiku-20241022-v1%253A0/invoke-with-response-stream\n\
         \n\
         accept:application/vnd.amazon.eventstream\n\
         content-type:application/json\n\
         host:bedrock-runtime.eu-west-1.amazonaws.com\n\
         x-amz-date:20250102T030405Z\n\
         x-amzn-bedrock-accept:application/json\n\
         \n\
         accept;content-type;host;x-amz-date;x-amzn-bedrock-accept\n\
         {payload_hash}"
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n20250102T030405Z\n20250102/eu-west-1/bedrock/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{SECRET}").as_bytes(), "20250102");
    let k = hmac(&k, "eu-west-1");
    let k = hmac(&k, "bedrock");
    let k = hmac(&k, "aws4_request");
    let signature = hex::encode(hmac(&k, &string_to_sign));
    assert_eq!(
        header(&req.headers, "authorization").unwrap(),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/eu-west-1/bedrock/aws4_request, \
             SignedHeaders=accept;content-type;host;x-amz-date;x-amzn-bedrock-accept, \
             Signature={signature}"
        )
    );
}
