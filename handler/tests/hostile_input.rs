//! Hostile input: malformed requests through `Service::handle` always get a JSON error (400/404/409/413),
//! never a 500 or a panic, and where HSDS 1.0.2's answer was probed (fixtures/hsds/answers.json) that exact
//! status; and property tests drive the parsers the fuzz targets cover (`fuzz/`) with
//! arbitrary input, checking they never panic and never make an allocation far larger than their input.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use hsds_handler::chunk::codec::Pipeline;
use hsds_handler::event::{decode, encode, Shape as EventShape};
use hsds_handler::model::selection::Selection;
use hsds_handler::model::shape::Shape;
use hsds_handler::model::types::Datatype;
use hsds_handler::model::value::{bytes_to_json, json_to_bytes};
use hsds_handler::{Request, Response, Service};
use proptest::prelude::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------------------------
// Allocation accounting: the largest single allocation made by the current thread.

/// The system allocator, recording per thread the largest single allocation requested.
struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every method forwards to `System` with the caller's own arguments; `note` only records a size.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds GlobalAlloc's contract; the same arguments go to System.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds GlobalAlloc's contract; the same arguments go to System.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller upholds GlobalAlloc's contract; the same arguments go to System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds GlobalAlloc's contract; the same arguments go to System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Largest = Largest;

/// Runs `f` and returns the largest single allocation it made (on this thread).
fn largest_alloc(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    f();
    LARGEST.with(Cell::get)
}

/// Sends `r` (on this thread: `#[tokio::test]` runs on the test thread) and returns its status and the largest
/// single allocation made while serving it.
async fn status_and_largest_alloc(svc: &Service, r: Request, what: &str) -> (u16, usize) {
    LARGEST.with(|l| l.set(0));
    let status = no_server_error(svc, r, what).await;
    (status, LARGEST.with(Cell::get))
}

/// Allocations a small input may cause: fixed overheads plus a multiple of the input.
fn bounded(input_len: usize) -> usize {
    (1 << 20) + 64 * input_len
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

const DOM: &str = "/home/test_user1/h.h5";

struct World {
    svc: Service,
    root: String,
    dset: String,
    big: String,
    dtype: String,
}

async fn ok(svc: &Service, r: Request, body: Value) -> Value {
    let (s, v) = call_json(svc, r, &body).await;
    assert!(s == 200 || s == 201, "setup failed: {s} {v}");
    v
}

/// A domain with a small int dataset `d` (extensible), a huge sparse one `big` (10^12 bytes, nothing stored),
/// a committed type and an attribute `a` on the root group.
async fn world() -> World {
    let (svc, _) = service();
    let u = Some("test_user1");
    ok(&svc, req("PUT", "/", Some("admin"), Some("/home")), json!({"folder": true})).await;
    ok(&svc, req("PUT", "/", Some("admin"), Some("/home/test_user1")), json!({"folder": true, "owner": "test_user1"}))
        .await;
    let root = ok(&svc, req("PUT", "/", u, Some(DOM)), json!({})).await["root"].as_str().unwrap().to_string();
    let dset = ok(
        &svc,
        req("POST", "/datasets", u, Some(DOM)),
        json!({"type": "H5T_STD_I32LE", "shape": [4, 3], "maxdims": [8, 3], "link": {"id": root, "name": "d"}}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let big = ok(
        &svc,
        req("POST", "/datasets", u, Some(DOM)),
        json!({"type": "H5T_STD_U8LE", "shape": [1_000_000_000_000u64]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dtype = ok(&svc, req("POST", "/datatypes", u, Some(DOM)), json!({"type": "H5T_STD_U8LE"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &svc,
        req("PUT", &format!("/groups/{root}/attributes/a"), u, Some(DOM)),
        json!({"type": "H5T_STD_I32LE", "value": 1}),
    )
    .await;
    World { svc, root, dset, big, dtype }
}

/// Sends `r` and checks the answer is a success or a proper JSON client error; returns the status.
async fn no_server_error(svc: &Service, r: Request, what: &str) -> u16 {
    let rsp = svc.handle(r).await;
    let shown: String = what.chars().take(200).collect();
    // a 500 is allowed only where HSDS 1.0.2 answers bad input with 500, said so in the body
    let bad_input = rsp.json_body().is_some_and(|v| v["error"]["bad_input"] == json!(true));
    assert!(
        rsp.status < 500 || rsp.status == 501 || bad_input,
        "{shown}: {} {:?}",
        rsp.status,
        String::from_utf8_lossy(&rsp.body)
    );
    if rsp.status >= 400 {
        let v = rsp.json_body().unwrap_or_else(|| panic!("{shown}: error body is not JSON"));
        assert_eq!(v["error"]["status"], json!(rsp.status), "{shown}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{shown}: {v}");
    }
    rsp.status
}

/// Every route that reads a JSON body, as a template (ids as `{root}`, `{d}`, `{t}`; a `#suffix` tells two
/// bodies of one route apart), with a valid body for it. fixtures/hsds/probe.py sends the same list
/// to HSDS 1.0.2 (keep the two in step: the fixture's keys are checked against this list).
fn body_routes(w: &World) -> Vec<(&'static str, &'static str, Value)> {
    let (root, d) = (&w.root, &w.dset);
    vec![
        ("PUT", "/", json!({"folder": false, "owner": "test_user1", "group": {"creationProperties": {}}})),
        ("POST", "/", json!({"h5paths": ["/d"]})),
        ("POST", "/groups", json!({"link": {"id": root, "name": "g"}, "creationProperties": {}})),
        (
            "POST",
            "/datasets",
            json!({"type": "H5T_STD_I32LE", "shape": [4], "maxdims": [8], "link": {"id": root, "name": "x"},
                   "creationProperties": {"fillValue": 1, "layout": {"class": "H5D_CHUNKED", "dims": [2]},
                   "filters": [{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]}}),
        ),
        (
            "POST",
            "/datatypes",
            json!({"type": {"class": "H5T_INTEGER", "base": "H5T_STD_I8LE"}, "link": {"id": root, "name": "y"}}),
        ),
        ("PUT", "/groups/{root}/links/l", json!({"id": d})),
        ("PUT", "/groups/{root}/links/s", json!({"h5path": "/d", "file": "/other.h5"})),
        ("PUT", "/groups/{root}/links", json!({"links": {"m": {"id": d}}})),
        ("POST", "/groups/{root}/links", json!({"titles": ["d"], "grp_ids": [root]})),
        ("PUT", "/groups/{root}/attributes/b", json!({"type": "H5T_STD_I32LE", "shape": [2], "value": [1, 2]})),
        ("PUT", "/groups/{root}/attributes", json!({"attributes": {"c": {"type": "H5T_STD_I8LE", "value": 1}}})),
        ("POST", "/groups/{root}/attributes", json!({"attr_names": ["a"], "obj_ids": [root]})),
        ("PUT", "/groups/{root}/attributes/a/value", json!({"value": 3})),
        ("PUT", "/datasets/{d}/value", json!({"value": [[1, 2, 3]], "start": [0, 0], "stop": [1, 3], "step": [1, 1]})),
        ("PUT", "/datasets/{d}/value#base64", json!({"value_base64": "AQAAAA==", "points": [[0, 0]]})),
        ("POST", "/datasets/{d}/value", json!({"points": [[0, 1]]})),
        ("PUT", "/datasets/{d}/shape", json!({"shape": [5, 3]})),
        ("PUT", "/datasets/{d}/shape#extend", json!({"extend": 1, "extend_dim": 0})),
        ("PUT", "/acls/test_user2", json!({"read": true, "update": false})),
        (
            "PUT",
            "/datatypes/{t}/attributes/z",
            json!({"type": {"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII", "strPad": "H5T_STR_NULLPAD", "length": 4}, "value": "abcd"}),
        ),
    ]
}

/// The path of a route template in `w`.
fn fill(w: &World, template: &str) -> String {
    let path = template.split('#').next().unwrap();
    path.replace("{root}", &w.root).replace("{d}", &w.dset).replace("{t}", &w.dtype)
}

/// `table[key]` as a status, or a failure naming the fixture to regenerate.
fn hsds_status(table: &Value, key: &str) -> u16 {
    table[key].as_u64().unwrap_or_else(|| panic!("fixtures/hsds/answers.json has no {key:?}: rerun its probe")) as u16
}

/// Values of every JSON type, plus extreme numbers and deep structures.
fn hostile_values() -> Vec<Value> {
    let deep = (0..100).fold(json!(1), |v, _| json!([v]));
    let deep_obj = (0..100).fold(json!(1), |v, _| json!({"a": v}));
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(-1e300),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(""),
        json!("x"),
        json!("\u{0}"),
        json!([]),
        json!([null]),
        json!([-1, u64::MAX]),
        json!({}),
        json!({"class": null}),
        deep,
        deep_obj,
        json!("H5T_STD_I32LE"),
        json!([1_000_000_000_000u64, 1_000_000_000_000u64]),
    ]
}

/// Replaces `key` (top level, or one level down when `key` is `outer.inner`) in `body`.
fn with(body: &Value, path: &[&str], v: &Value) -> Value {
    let mut b = body.clone();
    let mut cur = &mut b;
    for k in &path[..path.len() - 1] {
        cur = &mut cur[*k];
    }
    cur[path[path.len() - 1]] = v.clone();
    b
}

/// Every key path of `body` to depth 3.
fn key_paths(body: &Value) -> Vec<Vec<String>> {
    fn walk(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if prefix.len() >= 3 {
            return;
        }
        if let Value::Object(m) = v {
            for (k, sub) in m {
                prefix.push(k.clone());
                out.push(prefix.clone());
                walk(sub, prefix, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(body, &mut Vec::new(), &mut out);
    out
}

#[tokio::test]
async fn wrong_json_types_for_every_body_key_never_fail_the_server() {
    let w = world().await;
    let mut sent = 0;
    for (method, template, body) in body_routes(&w) {
        let path = fill(&w, template);
        for keys in key_paths(&body) {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            for v in hostile_values() {
                let b = with(&body, &keys, &v);
                let dom = if path == "/" && method == "PUT" { "/home/test_user1/new.h5" } else { DOM };
                let r = req(method, &path, Some("test_user1"), Some(dom)).json(&b);
                no_server_error(&w.svc, r, &format!("{method} {path} {b}")).await;
                sent += 1;
            }
        }
    }
    assert!(sent > 1000, "only {sent} requests");
}

/// Each route's valid body, in a fresh domain, succeeds with the status HSDS gives it (the list of routes
/// above is right, and a broken route cannot hide behind "not a 500").
#[tokio::test]
async fn valid_bodies_succeed_with_the_hsds_status() {
    let hsds = hsds_answers();
    for (i, (method, template, _)) in body_routes(&world().await).into_iter().enumerate() {
        let w = world().await;
        let body = body_routes(&w).swap_remove(i).2;
        let dom = if template == "/" && method == "PUT" { "/home/test_user1/new.h5" } else { DOM };
        let r = req(method, &fill(&w, template), Some("test_user1"), Some(dom)).json(&body);
        let (status, v) = call(&w.svc, r).await;
        let key = format!("{method} {template}");
        let want = hsds_status(&hsds["valid_bodies"], &key);
        assert!((200..300).contains(&want), "HSDS refused the valid body of {key}: {want}");
        assert_eq!(status, want, "{key}: {v}");
    }
}

/// Unparseable or wrongly shaped JSON bodies (named as in fixtures/hsds/probe.py).
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("unclosed_object", b"{".to_vec()),
        ("missing_value", b"{\"a\":}".to_vec()),
        ("bad_literal", b"nul".to_vec()),
        ("number_overflow", b"{\"value\": 1e999}".to_vec()),
        ("lone_surrogate", b"{\"a\": \"\\ud800\"}".to_vec()),
        ("not_utf8", vec![0xff, 0xfe, b'{', b'}']),
        ("trailing_text", b"{\"a\": 1} trailing".to_vec()),
        ("string", b"\"just a string\"".to_vec()),
        ("list", b"[1, 2, 3]".to_vec()),
        ("number", b"17".to_vec()),
        ("deep_list", format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        ("deep_object", format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes()),
        ("unclosed_deep", "[".repeat(100_000).into_bytes()),
    ]
}

/// Where the handler answers a malformed body differently from HSDS 1.0.2 on purpose: (route, body, our
/// status, why). Everything else must match HSDS exactly, its 500s included.
const KNOWN_DIFFERENCES: &[(&str, &str, u16, &str)] = &[
    // Python's json module accepts 1e999 (as inf) and unpaired surrogate escapes; RFC 8259 parsers refuse both.
    ("POST /groups", "number_overflow", 400, "not representable JSON; HSDS ignores the unknown key and creates"),
    ("POST /groups", "lone_surrogate", 400, "not valid UTF-16 text; HSDS ignores the unknown key and creates"),
    // Python reads 1e999 as inf and unpaired surrogate escapes as text, which these routes then fail on (500);
    // serde_json refuses both while parsing (400).
    ("PUT /groups/{root}/links", "number_overflow", 400, "refused while parsing"),
    ("PUT /groups/{root}/links", "lone_surrogate", 400, "refused while parsing"),
    ("PUT /groups/{root}/attributes/a/value", "number_overflow", 400, "refused while parsing"),
    ("PUT /datasets/{d}/value", "number_overflow", 400, "refused while parsing"),
    ("PUT /datasets/{d}/value#base64", "number_overflow", 400, "refused while parsing"),
    // HSDS looks the domain up before it reads the body (the domain exists: 409); the handler reads first.
    ("PUT /", "number_overflow", 400, "body refused before the existing domain is found"),
    ("PUT /", "lone_surrogate", 400, "body refused before the existing domain is found"),
    ("PUT /", "string", 400, "body refused before the existing domain is found"),
    ("PUT /", "list", 400, "body refused before the existing domain is found"),
];

#[tokio::test]
async fn malformed_bodies_get_the_hsds_status() {
    let w = world().await;
    let hsds = hsds_answers();
    let table = hsds["malformed_bodies"].as_object().unwrap();
    let routes = body_routes(&w);
    let keys: Vec<String> = routes.iter().map(|(m, t, _)| format!("{m} {t}")).collect();
    let mut probed: Vec<&String> = table.keys().collect();
    probed.sort();
    let mut ours: Vec<&String> = keys.iter().collect();
    ours.sort();
    assert_eq!(ours, probed, "body_routes and fixtures/hsds/probe.py differ: update both, rerun the probe");
    let mut differ = Vec::new();
    for ((method, template, _), key) in routes.iter().zip(&keys) {
        let path = fill(&w, template);
        for (name, b) in malformed_bodies() {
            let r =
                req(method, &path, Some("test_user1"), Some(DOM)).header("content-type", "application/json").body(b);
            let what = format!("{key} with the {name} body");
            let s = no_server_error(&w.svc, r, &what).await;
            // Every status as HSDS's, its 500s included (RecursionError on deep nesting, undecodable bytes, a
            // bare number where it indexes a dict): those come with `"bad_input": true` (`no_server_error`).
            let hsds = hsds_status(&table[key.as_str()], name);
            let known = KNOWN_DIFFERENCES.iter().find(|(k, n, _, _)| k == key && *n == name);
            let want = match known {
                Some((_, _, ours, _)) => *ours,
                None => hsds,
            };
            if s != want {
                differ.push(format!("{what}: {s}, HSDS 1.0.2 {hsds}"));
            }
        }
    }
    assert!(differ.is_empty(), "answers differing from HSDS's:\n{}", differ.join("\n"));
}

/// The route table's every `not_allowed()` branch (handler/src/api/mod.rs): each method a route does not
/// serve gets the status HSDS gives (405), for GET/PUT/POST/DELETE/PATCH.
#[tokio::test]
async fn methods_a_route_does_not_serve_get_the_hsds_status() {
    let w = world().await;
    let hsds = hsds_answers();
    let table = hsds["method_not_allowed"].as_object().unwrap();
    let mut routes: Vec<&str> = Vec::new();
    for (key, want) in table {
        let (method, template) = key.split_once(' ').unwrap();
        let r = req(method, &fill(&w, template), Some("test_user1"), Some(DOM));
        let (status, v) = call(&w.svc, r).await;
        assert_eq!(status, want.as_u64().unwrap() as u16, "{key}: {v}");
        if status == 405 {
            assert_eq!(v["error"]["status"], 405, "{key}: {v}");
        }
        if !routes.contains(&template) {
            routes.push(template);
        }
    }
    // One probed route per branch: a new route in the table needs its line in the probe.
    let table_src = include_str!("../src/api/mod.rs");
    let branches = table_src.matches("=> not_allowed(),").count();
    assert_eq!(routes.len(), branches, "routes probed {routes:?} vs {branches} not_allowed() branches");
}

#[tokio::test]
async fn huge_and_negative_numbers_in_params() {
    let w = world().await;
    let (root, d, big) = (&w.root, &w.dset, &w.big);
    let limits = ["-1", "1e9", "99999999999999999999999", "18446744073709551615", "0x10", " ", "NaN", "\u{0}"];
    for l in limits {
        for path in
            [format!("/groups/{root}/links"), format!("/groups/{root}/attributes"), "/domains".into(), "/groups".into()]
        {
            let dom = if path == "/domains" { "/home/test_user1/" } else { DOM };
            let r = req("GET", &path, Some("test_user1"), Some(dom)).param("Limit", l);
            no_server_error(&w.svc, r, &format!("GET {path} Limit={l}")).await;
        }
    }
    let selects = [
        "[-1:2,0:3]",
        "[0:99999999999999999999,0:3]",
        "[9223372036854775807:,:]",
        "[0:4:-9223372036854775808,:]",
        "[::0,:]",
        "[--1,0]",
        "[1e3,0]",
        "[,]",
        "[[],:]",
        "[[0,1,2,3,4,5,6,7,8,9,10],:]",
        "[[-1],:]",
        "[0:2,0:3,0:1]",
        "[0]",
        "[",
        "]",
        "[[[0]]]",
        "[0:2:1:1,:]",
        "[\u{0},:]",
        "[\u{ff10},:]",
    ];
    // Valid, if odd: one element per huge step; huge numbers elsewhere in the body are plain floats.
    for s in ["[0:4:9223372036854775807,:]", "[0:4:18446744073709551616,:]"] {
        let r = req("GET", &format!("/datasets/{d}/value"), Some("test_user1"), Some(DOM)).param("select", s);
        no_server_error(&w.svc, r, s).await;
    }
    for s in selects {
        for method in ["GET", "PUT"] {
            let r = req(method, &format!("/datasets/{d}/value"), Some("test_user1"), Some(DOM)).param("select", s);
            let r = if method == "PUT" {
                r.header("content-type", "application/octet-stream").body(vec![0u8; 24])
            } else {
                r
            };
            let st = no_server_error(&w.svc, r, &format!("{method} value select={s}")).await;
            assert!(st >= 400, "{method} select={s} accepted");
        }
    }
    // Huge selections of a huge (sparse) dataset: refused before anything that big is allocated.
    for (method, params, body) in [
        ("GET", vec![], None),
        ("GET", vec![("select", "[0:1000000000000]")], None),
        ("PUT", vec![], Some(json!({"value": [1]}))),
        ("PUT", vec![("element_count", "1")], Some(json!({"value": [1]}))),
        ("PUT", vec![("element_count", "1000000000000")], Some(json!({"value": [1]}))),
        ("PUT", vec![("element_count", "18446744073709551615")], Some(json!({"value": [1]}))),
        ("POST", vec![], Some(json!({"start": [0], "stop": [1_000_000_000_000u64]}))),
    ] {
        let mut r = req(method, &format!("/datasets/{big}/value"), Some("test_user1"), Some(DOM));
        for (k, v) in &params {
            r = r.param(k, v);
        }
        if let Some(b) = &body {
            r = r.json(b);
        }
        let what = format!("{method} big value {params:?} {body:?}");
        let (status, peak) = status_and_largest_alloc(&w.svc, r, &what).await;
        assert!(status >= 400, "{what}: accepted");
        assert!(peak < 64 << 20, "{what}: allocated {peak} bytes at once");
    }
    // The same with a binary body broadcast by element_count.
    for ec in ["1", "1000000000000", "0", "-1"] {
        let r = req("PUT", &format!("/datasets/{big}/value"), Some("test_user1"), Some(DOM))
            .param("element_count", ec)
            .header("content-type", "application/octet-stream")
            .body(vec![7u8]);
        let what = format!("binary PUT big value element_count={ec}");
        let (status, peak) = status_and_largest_alloc(&w.svc, r, &what).await;
        assert!(status >= 400, "{what}: accepted");
        assert!(peak < 64 << 20, "{what}: allocated {peak} bytes at once");
    }
}

#[tokio::test]
async fn broadcast_writes_respect_max_request_size() {
    let (svc, store) = service_with(hsds_handler::Config { max_request_size: 1000, ..Default::default() });
    let u = Some("test_user1");
    ok(&svc, req("PUT", "/", Some("admin"), Some("/home")), json!({"folder": true})).await;
    ok(&svc, req("PUT", "/", Some("admin"), Some("/home/test_user1")), json!({"folder": true, "owner": "test_user1"}))
        .await;
    ok(&svc, req("PUT", "/", u, Some(DOM)), json!({})).await;
    let d = ok(&svc, req("POST", "/datasets", u, Some(DOM)), json!({"type": "H5T_STD_U8LE", "shape": [2000]})).await;
    let path = format!("/datasets/{}/value", d["id"].as_str().unwrap());
    let before = store.len();
    let r = req("PUT", &path, u, Some(DOM)).param("element_count", "1").json(&json!({"value": [1]}));
    let (s, v) = call(&svc, r).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(store.len(), before, "nothing written");
    let r = req("PUT", &path, u, Some(DOM)).param("element_count", "1").param("select", "[0:1000]");
    let (s, v) = call(&svc, r.json(&json!({"value": [1]}))).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn invalid_utf8_and_odd_paths() {
    let w = world().await;
    let root = &w.root;
    for path in [
        "/groups/%FF%FE",
        &format!("/groups/{root}/links/%FF"),
        &format!("/groups/{root}/attributes/%C3%28"),
        "/%FF",
        "/groups/%",
        "/groups/%zz",
        "//",
        "/groups//links",
        "/datasets/d-00000000-00000000-0000-000000-000000/value/extra",
    ] {
        for method in ["GET", "PUT", "POST", "DELETE", "HEAD"] {
            let r = req(method, path, Some("test_user1"), Some(DOM)).json(&json!({}));
            no_server_error(&w.svc, r, &format!("{method} {path}")).await;
        }
        // OPTIONS is a CORS preflight, answered before routing whatever the path (HSDS's aiohttp_cors does the
        // same; without Origin it is aiohttp_cors's plain-text 403, see api/cors.rs).
        let r = req("OPTIONS", path, None, Some(DOM))
            .header("Origin", "http://viewer.example")
            .header("Access-Control-Request-Method", "GET");
        assert_eq!(w.svc.handle(r).await.status, 200, "OPTIONS {path}");
    }
    // Invalid UTF-8 in the query string and body of an API Gateway event.
    for raw in ["domain=%FF%FE", "domain=/home/test_user1/h.h5&select=%FF", "Limit=%C0%80&domain=%ED%A0%80"] {
        let event = json!({"version": "2.0", "rawPath": format!("/groups/{root}/links"), "rawQueryString": raw,
            "headers": {"authorization": basic("test_user1", "test")}, "requestContext": {"http": {"method": "GET"}}});
        let (_, r) = decode(&event).unwrap();
        no_server_error(&w.svc, r, raw).await;
    }
    let event = json!({"version": "2.0", "rawPath": "/", "body": "!!not base64!!", "isBase64Encoded": true,
        "requestContext": {"http": {"method": "PUT"}}});
    let (_, e) = decode(&event).unwrap_err();
    assert_eq!(e.status, 400);
    for ev in [
        json!(null),
        json!([]),
        json!("x"),
        json!({"path": 5}),
        json!({"path": "/", "method": "B R E W"}),
        json!({"path": "/", "params": [1]}),
        json!({"path": "/", "headers": "x"}),
    ] {
        let out = hsds_handler::event::handle_event(&w.svc, &ev, None).await;
        assert_eq!(out["statusCode"], json!(400), "{ev}: {out}");
    }
    // a well-formed method no route serves is 405, as HSDS answers it
    let out = hsds_handler::event::handle_event(&w.svc, &json!({"path": "/", "method": "BREW"}), None).await;
    assert_eq!(out["statusCode"], json!(405), "{out}");
}

/// Regression: packing `false` as a 200 MB fixed-length string used to reserve the 200 MB before failing on
/// the element.
#[test]
fn a_failing_value_does_not_reserve_its_full_size_first() {
    let t = Datatype::from_json(&json!({"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII",
        "strPad": "H5T_STR_NULLPAD", "length": 200_000_000}))
    .unwrap();
    let peak = largest_alloc(|| assert!(json_to_bytes(&t, &[], &json!(false)).is_err()));
    assert!(peak <= 2 << 20, "{peak} bytes reserved");
    // ... and unpacking 4 bytes as 10^12 vlen strings reserved room for 65536 JSON values first.
    let vlen = Datatype::from_json(&json!({"class": "H5T_STRING", "charSet": "H5T_CSET_UTF8",
        "strPad": "H5T_STR_NULLTERM", "length": "H5T_VARIABLE"}))
    .unwrap();
    let peak = largest_alloc(|| assert!(bytes_to_json(&vlen, &[1_000_000_000_000], &[0; 4]).is_err()));
    assert!(peak <= 4096, "{peak} bytes reserved");
}

/// Regression (found by `cargo fuzz run value`): an error message cut a long string value at byte 40, inside a
/// multi-byte character, and panicked.
#[tokio::test]
async fn long_non_ascii_values_in_error_messages() {
    let value = format!("{}\u{0586}tail", "x".repeat(38));
    let t = Datatype::from_json(&json!("H5T_STD_I32LE")).unwrap();
    assert!(json_to_bytes(&t, &[], &json!(value)).is_err());
    let w = world().await;
    let r = req("PUT", &format!("/groups/{}/attributes/u", w.root), Some("test_user1"), Some(DOM));
    let (s, v) = call_json(&w.svc, r, &json!({"type": "H5T_STD_I32LE", "value": value})).await;
    assert_eq!(s, 400, "{v}");
}

// ---------------------------------------------------------------------------------------------------------------
// Property tests over the parsers the fuzz targets cover

/// Arbitrary JSON, a few levels deep, with the kinds of scalars that break parsers.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        (0u64..40).prop_map(|n| json!(n)),
        "[A-Za-z0-9_:\\[\\], -]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "H5T_STD_I32LE",
            "H5T_IEEE_F64BE",
            "H5T_STRING",
            "H5T_COMPOUND",
            "H5T_ARRAY",
            "H5T_ENUM",
            "H5T_VLEN",
            "H5T_OPAQUE",
            "H5T_REFERENCE",
            "H5T_INTEGER",
            "H5T_FLOAT",
            "H5T_VARIABLE",
            "H5S_SIMPLE",
            "H5S_SCALAR",
            "H5S_NULL",
            "H5S_UNLIMITED",
            "H5T_CSET_UTF8",
            "H5T_STR_NULLTERM",
            "H5T_STD_REF_OBJ",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "class", "base", "length", "charSet", "strPad", "fields", "name", "type", "dims", "maxdims", "members",
            "value", "size", "order", "shape", "mapping", "id", "level",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// A valid type JSON now and then, so value tests get past type parsing.
fn arb_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!("H5T_STD_I8LE"),
            json!("H5T_STD_U64BE"),
            json!("H5T_IEEE_F32LE"),
            json!({"class": "H5T_STRING", "charSet": "H5T_CSET_UTF8", "strPad": "H5T_STR_NULLTERM", "length": "H5T_VARIABLE"}),
            json!({"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII", "strPad": "H5T_STR_NULLPAD", "length": 3}),
            json!({"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I16LE"}, {"name": "b", "type": "H5T_IEEE_F64LE"}]}),
            json!({"class": "H5T_ARRAY", "base": "H5T_STD_I32LE", "dims": [2, 2]}),
            json!({"class": "H5T_VLEN", "base": "H5T_STD_I8LE"}),
            json!({"class": "H5T_OPAQUE", "size": 5}),
            json!({"class": "H5T_ENUM", "base": "H5T_STD_I8LE", "mapping": {"A": 0, "B": 1}}),
            json!({"class": "H5T_REFERENCE", "base": "H5T_STD_REF_OBJ"}),
            json!({"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII", "strPad": "H5T_STR_NULLPAD", "length": 200_000_000}),
            json!({"class": "H5T_ARRAY", "base": "H5T_STD_I64LE", "dims": [1_000_000_000, 1_000_000_000]}),
        ]),
        arb_json(),
    ]
}

fn arb_dims() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![0u64..5, Just(1_000_000_000_000u64), Just(u64::MAX)], 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn event_decode_and_encode_never_panic(ev in arb_json(), body in prop::collection::vec(any::<u8>(), 0..64),
                                           path in "[/a-z%0-9.]{0,20}") {
        let input_len = ev.to_string().len() + body.len();
        let peak = largest_alloc(|| {
            let mut ev = ev.clone();
            if let Value::Object(m) = &mut ev {
                m.insert("path".into(), json!(path));
            }
            match decode(&ev) {
                Ok((shape, r)) => { let _ = encode(shape, Response::binary(r.body)); }
                Err((shape, e)) => {
                    assert_eq!(e.status, 400);
                    let _ = encode(shape, e.to_response());
                }
            }
            for shape in [EventShape::Direct, EventShape::ApiGatewayV1, EventShape::ApiGatewayV2] {
                let _ = encode(shape, Response::binary(body.clone()));
            }
        });
        prop_assert!(peak <= bounded(input_len), "{peak} bytes for a {input_len}-byte event");
    }

    #[test]
    fn selections_never_panic(sel in "[\\[\\]0-9:, -]{0,24}", extent in arb_dims(),
                              points in prop::collection::vec(any::<u8>(), 0..48), json_pts in arb_json()) {
        let peak = largest_alloc(|| {
            let check = |s: Selection| {
                if let Ok(n) = s.count() {
                    let _ = (s.shape(), s.reduced_shape(), s.to_string());
                    if n <= 1 << 16 && s.extent().iter().all(|&e| e <= 1 << 16) {
                        let total: u64 = s.chunks(&vec![3; s.extent().len()]).iter().map(|p| p.count()).sum();
                        assert_eq!(total, n);
                    }
                }
            };
            let _ = Selection::parse(&sel, &extent).map(check);
            let _ = Selection::points_from_bytes(&points, &extent).map(check);
            let _ = Selection::points_from_json(&json_pts, &extent).map(check);
        });
        prop_assert!(peak <= bounded(sel.len() + points.len() + 1024));
    }

    #[test]
    fn type_json_never_panics_and_round_trips(v in arb_type()) {
        let peak = largest_alloc(|| {
            if let Ok(t) = Datatype::from_json(&v) {
                assert_eq!(Datatype::from_json(&t.to_json()).unwrap(), t, "{v}");
            }
        });
        prop_assert!(peak <= bounded(v.to_string().len()));
    }

    #[test]
    fn shape_json_never_panics(v in arb_json(), m in arb_json()) {
        let peak = largest_alloc(|| {
            if let Ok(s) = Shape::from_request(Some(&v)).and_then(|s| s.with_maxdims(Some(&m))) {
                let _ = s.num_elements();
                assert_eq!(Shape::from_json(&s.to_json()).unwrap(), s);
            }
            let _ = Shape::from_json(&v);
        });
        prop_assert!(peak <= bounded(v.to_string().len() + m.to_string().len()));
    }

    #[test]
    fn values_never_panic(t in arb_type(), dims in arb_dims(), value in arb_json(),
                          raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let Ok(dtype) = Datatype::from_json(&t) else { return Ok(()) };
        let mut packed_len = 0;
        let peak = largest_alloc(|| {
            if let Ok(bytes) = json_to_bytes(&dtype, &dims, &value) {
                packed_len = bytes.len();
                // The server turns at most 1 MB of packed data into JSON (larger reads get 413); unpacking
                // e.g. a scalar broadcast to 200 MB would build gigabytes of JSON values in the test itself.
                if packed_len <= 1 << 20 {
                    // What was packed unpacks, unless its JSON form would be too large (413, not a panic).
                    match bytes_to_json(&dtype, &dims, &bytes) {
                        Ok(_) | Err(hsds_handler::model::ModelError::TooLarge(_)) => {}
                        Err(e) => panic!("packed bytes do not unpack: {e}"),
                    }
                }
            }
            let _ = bytes_to_json(&dtype, &dims, &raw);
        });
        // The packed value itself may be as large as the type and dims say (capped at 256 MiB); nothing else.
        prop_assert!(peak <= bounded(value.to_string().len() + raw.len()).max(packed_len),
                     "{peak} bytes for {t} {dims:?} {value}");
    }

    #[test]
    fn chunk_decoding_never_panics_or_overallocates(
        filters in prop_oneof![
            arb_json(),
            prop::sample::select(vec![
                json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 9}]),
                json!(["shuffle", "gzip"]),
                json!([{"class": "H5Z_FILTER_SHUFFLE", "id": 2}]),
                json!([{"class": "H5Z_FILTER_BITSHUFFLE", "id": 32008, "name": "bitshuffle"}, {"class": "H5Z_FILTER_LZ4", "id": 32004}]),
                json!([{"class": "H5Z_FILTER_BLOSC", "id": 32001, "name": "zstd"}]),
                json!(["lz4", "blosclz", "lz4hc", "zstd", "deflate"]),
                json!([{"class": "H5Z_FILTER_FLETCHER32", "id": 3}, {"class": "H5Z_FILTER_SCALEOFFSET", "id": 6}]),
            ]),
        ],
        item_size in 0usize..17,
        expected in prop_oneof![0usize..256, Just(1 << 20)],
        stored in prop::collection::vec(any::<u8>(), 0..128),
        claim in any::<u32>(),
    ) {
        let Ok(p) = Pipeline::from_filters(&filters, item_size) else { return Ok(()) };
        // Also try the stored bytes dressed as a blosc1 frame header claiming `claim` bytes.
        let mut framed = vec![2u8, 1, 1, item_size as u8];
        framed.extend(claim.to_le_bytes());
        framed.extend(claim.to_le_bytes());
        framed.extend((stored.len() as u32 + 16).to_le_bytes());
        framed.extend(&stored);
        let peak = largest_alloc(|| {
            for s in [&stored, &framed] {
                if let Ok(raw) = p.decode(s, expected) { assert_eq!(raw.len(), expected); }
                if let Ok(raw) = p.decode_bounded(s, expected) { assert!(raw.len() <= expected); }
            }
        });
        prop_assert!(peak <= bounded(stored.len()) + 4 * expected, "{peak} bytes for expected {expected}");
    }
}
