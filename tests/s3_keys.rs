//! The emulator's S3 keeps every request inside its bucket: keys with `..`, `%2e%2e`, `%2F`, backslashes,
//! absolute keys, NUL and symbolic links are refused for PUT, GET, HEAD, DELETE, COPY, multipart uploads,
//! batch deletes and listings, and nothing outside the bucket is read or written. Requests are sent as raw
//! HTTP so that no client library normalises the path first. Also `--s3-auth required`.

mod common;

use std::path::Path;

use common::{start, Opts};
use lambda_emulator::s3::S3Auth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one raw HTTP/1.1 request (the target exactly as given) and returns (status, body).
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

/// A victim file in another bucket and one outside the data directory's buckets.
fn plant_victims(data: &Path) {
    std::fs::create_dir_all(data.join("otherbucket")).unwrap();
    std::fs::write(data.join("otherbucket/k"), b"victim").unwrap();
}

fn victims_untouched(data: &Path, what: &str) {
    assert_eq!(std::fs::read(data.join("otherbucket/k")).unwrap(), b"victim", "{what}: otherbucket/k changed");
    for stray in ["tmp/x", "otherbucket/new", "otherbucket/m", "x"] {
        assert!(!data.join(stray).exists(), "{what}: wrote {stray} outside the bucket");
    }
}

#[tokio::test]
async fn keys_that_leave_the_bucket_are_refused_for_every_operation() {
    let t = start(Opts::s3_only()).await;
    let data = t.dir.path().join("data");
    plant_victims(&data);
    let a = t.stack.s3_addr;
    let bad_keys = [
        "..%2Fotherbucket%2Fk",
        "%2e%2e/otherbucket/k",
        "%2E%2E%2Fotherbucket%2Fnew",
        "a/../../otherbucket/new",
        "a/../../../../../../tmp/x",
        "a%5C..%5C..%5Cx",
        "%2Fx",
        "a%00b",
        "a//b",
        "./x",
    ];
    for key in bad_keys {
        for (method, headers, body) in [
            ("PUT", vec![], &b"evil"[..]),
            ("GET", vec![], &b""[..]),
            ("HEAD", vec![], &b""[..]),
            ("DELETE", vec![], &b""[..]),
            ("PUT", vec![("x-amz-copy-source", "/hsdstest/ok")], &b""[..]),
        ] {
            let (status, text) = raw(a, method, &format!("/hsdstest/{key}"), &headers, body).await;
            assert_eq!(status, 400, "{method} {key} {headers:?}: {text}");
            if method != "HEAD" {
                assert!(text.contains("InvalidArgument"), "{method} {key}: {text}");
            }
            victims_untouched(&data, &format!("{method} {key}"));
        }
        let (status, text) = raw(a, "POST", &format!("/hsdstest/{key}?uploads"), &[], b"").await;
        assert_eq!(status, 400, "multipart upload of {key}: {text}");
    }

    // A good destination with a copy source outside the bucket.
    for src in ["/hsdstest/..%2Fotherbucket%2Fk", "/hsdstest/a%2F..%2F..%2Fotherbucket%2Fk", "/../otherbucket/k"] {
        let (status, text) = raw(a, "PUT", "/hsdstest/copied", &[("x-amz-copy-source", src)], b"").await;
        assert_eq!(status, 400, "copy from {src}: {text}");
        assert!(!t.bucket_dir().join("copied").exists(), "copy from {src} wrote its destination");
    }

    // Listings whose prefix climbs out of the bucket.
    for prefix in ["..%2F", "..%2Fotherbucket%2F", "db%2F..%2F..%2F"] {
        let (status, text) = raw(a, "GET", &format!("/hsdstest?list-type=2&prefix={prefix}"), &[], b"").await;
        assert_eq!(status, 400, "list prefix {prefix}: {text}");
        assert!(!text.contains("otherbucket/k") && !text.contains("<Key>k</Key>"), "list {prefix} leaked: {text}");
        let (status, _) = raw(a, "GET", &format!("/hsdstest?prefix={prefix}&delimiter=%2F"), &[], b"").await;
        assert_eq!(status, 400, "v1 list prefix {prefix}");
    }

    // Batch delete naming a key in another bucket.
    let xml = "<Delete><Object><Key>../otherbucket/k</Key></Object></Delete>";
    let (status, text) =
        raw(a, "POST", "/hsdstest?delete", &[("content-type", "application/xml")], xml.as_bytes()).await;
    assert_eq!(status, 400, "batch delete: {text}");
    victims_untouched(&data, "batch delete");

    // Ordinary keys (HSDS's) still work, including dots inside names.
    for key in ["db/3e/abcd/.group.json", "home/u/f.h5/.domain.json", "a..b/c.."] {
        let (status, text) = raw(a, "PUT", &format!("/hsdstest/{key}"), &[], b"{}").await;
        assert_eq!(status, 200, "PUT {key}: {text}");
        let (status, _) = raw(a, "GET", &format!("/hsdstest/{key}"), &[], b"").await;
        assert_eq!(status, 200, "GET {key}");
    }
}

#[tokio::test]
async fn symbolic_links_inside_the_bucket_are_not_followed() {
    let t = start(Opts::s3_only()).await;
    let data = t.dir.path().join("data");
    plant_victims(&data);
    std::os::unix::fs::symlink(data.join("otherbucket"), t.bucket_dir().join("link")).unwrap();
    std::os::unix::fs::symlink(data.join("otherbucket/k"), t.bucket_dir().join("filelink")).unwrap();
    let a = t.stack.s3_addr;
    for (method, key) in [
        ("GET", "link/k"),
        ("HEAD", "link/k"),
        ("PUT", "link/new"),
        ("DELETE", "link/k"),
        ("GET", "filelink"),
        ("PUT", "filelink"),
    ] {
        let (status, text) = raw(a, method, &format!("/hsdstest/{key}"), &[], b"evil").await;
        assert_eq!(status, 403, "{method} {key}: {text}");
        assert!(!text.contains("victim"), "{method} {key} read through the link: {text}");
        victims_untouched(&data, &format!("{method} {key}"));
    }
    let (status, text) = raw(a, "PUT", "/hsdstest/copied", &[("x-amz-copy-source", "/hsdstest/link/k")], b"").await;
    assert_eq!(status, 403, "copy through a link: {text}");
}

#[tokio::test]
async fn s3_auth_required_refuses_anonymous_requests_and_accepts_signed_ones() {
    let mut opts = Opts::s3_only();
    opts.s3_auth = S3Auth::Required;
    let t = start(opts).await;
    let (status, text) = raw(t.stack.s3_addr, "PUT", "/hsdstest/anon", &[], b"x").await;
    assert_eq!(status, 403, "anonymous PUT: {text}");
    assert!(text.contains("--s3-auth required"), "{text}");
    assert!(!t.bucket_dir().join("anon").exists());
    let (status, _) = raw(t.stack.s3_addr, "GET", "/hsdstest?list-type=2", &[], b"").await;
    assert_eq!(status, 403, "anonymous listing");

    let sdk = t.sdk_client(lambda_emulator::s3::SECRET_KEY);
    sdk.put_object().bucket("hsdstest").key("signed").body(b"ok".to_vec().into()).send().await.expect("signed PUT");
    let got = sdk.get_object().bucket("hsdstest").key("signed").send().await.expect("signed GET");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"ok");
}

#[tokio::test]
async fn the_function_signs_its_requests_so_it_works_under_s3_auth_required() {
    let mut opts = Opts::handler();
    opts.s3_auth = S3Auth::Required;
    opts.users = Some("admin:admin\n".into());
    let t = start(opts).await;
    let domain = "/signed.h5"; // top level: admin may create it without a parent folder
    let r = t.http.put(t.url(&format!("/?domain={domain}"))).basic_auth("admin", Some("admin")).send().await.unwrap();
    assert_eq!(r.status(), 201, "create a domain: {}", r.text().await.unwrap());
    let r = t.http.get(t.url(&format!("/?domain={domain}"))).basic_auth("admin", Some("admin")).send().await.unwrap();
    assert_eq!(r.status(), 200, "read it back: {}", r.text().await.unwrap());
    assert!(t.bucket_dir().join("signed.h5/.domain.json").exists());
}
