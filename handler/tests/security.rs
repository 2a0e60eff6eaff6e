//! Security behaviour through `Service::handle`: the ACL decision matrix against an independent oracle,
//! admin-only top-level domains, cross-domain object ids, names that try to escape the bucket or the domain's
//! key prefix, and secrets kept out of logs.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use hsds_handler::store::{MemoryStore, PutMode, Store};
use hsds_handler::{Config, Request, Service};
use serde_json::{json, Map, Value};

const BUCKET: &str = "hsdstest";
const HOME: &str = "/home/test_user1";
const DOM: &str = "/home/test_user1/a.h5";
const FOLDER: &str = "/home/test_user1/sub";
const ACL_KEYS: [&str; 6] = ["create", "read", "update", "delete", "readACL", "updateACL"];

/// Every object of every bucket, for "nothing was written" checks.
async fn snapshot(store: &MemoryStore) -> BTreeMap<String, Bytes> {
    let mut out = BTreeMap::new();
    for k in store.keys(BUCKET) {
        out.insert(k.clone(), store.get(BUCKET, &k).await.unwrap().body);
    }
    assert_eq!(out.len(), store.len(), "objects outside bucket {BUCKET}");
    out
}

/// A copy of `src` (the matrix runs every request on a fresh copy of the same world).
async fn copy_store(src: &MemoryStore) -> Arc<MemoryStore> {
    let dst = Arc::new(MemoryStore::new());
    for (k, body) in snapshot(src).await {
        dst.put(BUCKET, &k, body, PutMode::Overwrite).await.unwrap();
    }
    dst
}

fn service_over(store: Arc<MemoryStore>) -> Service {
    let mut svc = Service::new(store, Config::default()).unwrap();
    svc.users.load_passwd(PASSWD).unwrap();
    svc.users.load_passwd("test_user3:test\n").unwrap();
    svc
}

async fn ok(svc: &Service, r: Request, body: Option<Value>) -> Value {
    let (s, v) = match body {
        Some(b) => call_json(svc, r, &b).await,
        None => call(svc, r).await,
    };
    assert!(s == 200 || s == 201, "setup request failed: {s} {v}");
    v
}

/// `/home` and `/home/test_user1` as HSDS's test setup makes them.
async fn folders(svc: &Service) {
    ok(svc, req("PUT", "/", Some("admin"), Some("/home")), Some(json!({"folder": true}))).await;
    ok(svc, req("PUT", "/", Some("admin"), Some(HOME)), Some(json!({"folder": true, "owner": "test_user1"}))).await;
}

/// Ids of the objects in a test domain.
#[derive(Clone, Debug)]
struct Objs {
    root: String,
    group: String,
    dset: String,
    dtype: String,
}

/// A domain owned by test_user1 holding a child group `g2`, an extensible int dataset `d`, a committed type
/// `t` and a root attribute `a`.
async fn populate(svc: &Service, dom: &str) -> Objs {
    let u = Some("test_user1");
    let d = Some(dom);
    let root = ok(svc, req("PUT", "/", u, d), None).await["root"].as_str().unwrap().to_string();
    let link = |name: &str| json!({"id": root, "name": name});
    let group = ok(svc, req("POST", "/groups", u, d), Some(json!({"link": link("g2")}))).await;
    let dset = ok(
        svc,
        req("POST", "/datasets", u, d),
        Some(json!({"type": "H5T_STD_I32LE", "shape": [4], "maxdims": [8], "link": link("d")})),
    )
    .await;
    let dtype =
        ok(svc, req("POST", "/datatypes", u, d), Some(json!({"type": "H5T_STD_U8LE", "link": link("t")}))).await;
    let attr = json!({"type": "H5T_STD_I32LE", "value": 1});
    ok(svc, req("PUT", &format!("/groups/{root}/attributes/a"), u, d), Some(attr)).await;
    Objs {
        root,
        group: group["id"].as_str().unwrap().to_string(),
        dset: dset["id"].as_str().unwrap().to_string(),
        dtype: dtype["id"].as_str().unwrap().to_string(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The ACL matrix

/// Who makes a request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Admin,
    Owner,
    /// test_user2, who has an explicit entry in the ACLs.
    WithEntry,
    /// test_user3, who has none.
    WithoutEntry,
    Anonymous,
}

impl Who {
    const ALL: [Who; 5] = [Who::Admin, Who::Owner, Who::WithEntry, Who::WithoutEntry, Who::Anonymous];
    fn user(self) -> Option<&'static str> {
        match self {
            Who::Admin => Some("admin"),
            Who::Owner => Some("test_user1"),
            Who::WithEntry => Some("test_user2"),
            Who::WithoutEntry => Some("test_user3"),
            Who::Anonymous => None,
        }
    }
}

/// test_user2's explicit entry.
#[derive(Clone, Copy, Debug)]
enum Entry {
    GrantAll,
    DenyAll,
    /// read and create only.
    ReadCreate,
}

impl Entry {
    fn flags(self) -> Value {
        let on = |k: &str| match self {
            Entry::GrantAll => true,
            Entry::DenyAll => false,
            Entry::ReadCreate => k == "read" || k == "create",
        };
        Value::Object(ACL_KEYS.iter().map(|k| (k.to_string(), json!(on(k)))).collect())
    }
}

/// The ACL table a setting must produce: owner with every flag, `default` read on/off, test_user2's entry.
fn acl_table(default_read: bool, entry: Entry) -> Map<String, Value> {
    let all = |on: bool| Value::Object(ACL_KEYS.iter().map(|k| (k.to_string(), json!(on))).collect());
    let mut default = all(false);
    default["read"] = json!(default_read);
    let mut m = Map::new();
    m.insert("test_user1".into(), all(true));
    m.insert("default".into(), default);
    m.insert("test_user2".into(), entry.flags());
    m
}

/// The independent oracle: HSDS's order (admin → own entry, authoritative → default; no groups configured
/// here), anonymous callers may only ever read. Returns the expected status class: 200 (any 2xx), 401, 403.
fn oracle(who: Who, action: &str, acls: &Map<String, Value>) -> u16 {
    let flag = |name: &str| acls.get(name).map(|e| e[action] == json!(true));
    match who {
        Who::Admin => 200,
        Who::Anonymous if action != "read" => 401,
        _ => {
            let name = if who == Who::Anonymous { "default" } else { who.user().unwrap() };
            let allowed = match flag(name) {
                Some(own) => own,
                None => flag("default") == Some(true),
            };
            if allowed {
                200
            } else {
                403
            }
        }
    }
}

/// One request of the matrix: the ACL action it needs, and how to build it.
struct Case {
    action: &'static str,
    label: &'static str,
    make: fn(&Objs, Option<&str>) -> (Request, Option<Value>),
}

fn r(method: &str, path: &str, user: Option<&str>, dom: &str) -> Request {
    req(method, path, user, Some(dom))
}

/// Requests on a domain: three per ACL action where HSDS has several routes for it.
const DOMAIN_CASES: &[Case] = &[
    Case { action: "read", label: "GET /", make: |_, u| (r("GET", "/", u, DOM), None) },
    Case { action: "read", label: "GET group", make: |o, u| (r("GET", &format!("/groups/{}", o.root), u, DOM), None) },
    Case {
        action: "read",
        label: "GET value",
        make: |o, u| (r("GET", &format!("/datasets/{}/value", o.dset), u, DOM), None),
    },
    Case { action: "create", label: "POST group", make: |_, u| (r("POST", "/groups", u, DOM), None) },
    Case {
        action: "create",
        label: "PUT link",
        make: |o, u| (r("PUT", &format!("/groups/{}/links/new", o.root), u, DOM), Some(json!({"id": o.group}))),
    },
    Case {
        action: "create",
        label: "PUT attribute",
        make: |o, u| {
            let body = json!({"type": "H5T_STD_I32LE", "value": 2});
            (r("PUT", &format!("/groups/{}/attributes/new", o.root), u, DOM), Some(body))
        },
    },
    Case {
        action: "update",
        label: "PUT value",
        make: |o, u| (r("PUT", &format!("/datasets/{}/value", o.dset), u, DOM), Some(json!({"value": [1, 2, 3, 4]}))),
    },
    Case {
        action: "update",
        label: "PUT shape",
        make: |o, u| (r("PUT", &format!("/datasets/{}/shape", o.dset), u, DOM), Some(json!({"shape": [6]}))),
    },
    Case {
        action: "update",
        label: "PUT attribute value",
        make: |o, u| (r("PUT", &format!("/groups/{}/attributes/a/value", o.root), u, DOM), Some(json!({"value": 7}))),
    },
    Case {
        action: "delete",
        label: "DELETE link",
        make: |o, u| (r("DELETE", &format!("/groups/{}/links/g2", o.root), u, DOM), None),
    },
    Case {
        action: "delete",
        label: "DELETE group",
        make: |o, u| (r("DELETE", &format!("/groups/{}", o.group), u, DOM), None),
    },
    Case { action: "delete", label: "DELETE /", make: |_, u| (r("DELETE", "/", u, DOM), None) },
    Case { action: "readACL", label: "GET /acls", make: |_, u| (r("GET", "/acls", u, DOM), None) },
    Case {
        action: "updateACL",
        label: "PUT /acls/x",
        make: |_, u| (r("PUT", "/acls/test_user3", u, DOM), Some(json!({"read": true}))),
    },
];

/// Requests on a folder: read it, create a domain in it, delete it, read and update its ACLs.
const FOLDER_CASES: &[Case] = &[
    Case { action: "read", label: "GET / (folder)", make: |_, u| (r("GET", "/", u, FOLDER), None) },
    Case {
        action: "create",
        label: "PUT / (domain in folder)",
        make: |_, u| (r("PUT", "/", u, "/home/test_user1/sub/new.h5"), None),
    },
    Case { action: "delete", label: "DELETE / (folder)", make: |_, u| (r("DELETE", "/", u, FOLDER), None) },
    Case { action: "readACL", label: "GET /acls (folder)", make: |_, u| (r("GET", "/acls", u, FOLDER), None) },
    Case {
        action: "updateACL",
        label: "PUT /acls/x (folder)",
        make: |_, u| (r("PUT", "/acls/test_user3", u, FOLDER), Some(json!({"read": true}))),
    },
];

/// Sets `default` and test_user2's entries of `dom` (as its owner) and checks the stored table is `want`.
async fn set_acls(svc: &Service, store: &MemoryStore, dom: &str, default_read: bool, entry: Entry) {
    let mut default = Entry::DenyAll.flags();
    default["read"] = json!(default_read);
    ok(svc, r("PUT", "/acls/default", Some("test_user1"), dom), Some(default)).await;
    ok(svc, r("PUT", "/acls/test_user2", Some("test_user1"), dom), Some(entry.flags())).await;
    let key = format!("{}/.domain.json", &dom[1..]);
    let stored: Value = serde_json::from_slice(&store.get(BUCKET, &key).await.unwrap().body).unwrap();
    let mut acls = stored["acls"].as_object().unwrap().clone();
    for acl in acls.values_mut() {
        acl.as_object_mut().unwrap().remove("domain");
    }
    assert_eq!(acls, acl_table(default_read, entry), "setup produced unexpected ACLs for {dom}");
}

#[tokio::test]
async fn acl_matrix_matches_the_oracle() {
    let mut cases = 0;
    let mut failures = Vec::new();
    for default_read in [true, false] {
        for entry in [Entry::GrantAll, Entry::DenyAll, Entry::ReadCreate] {
            // One world per setting; every request below runs on a fresh copy of it.
            let store = Arc::new(MemoryStore::new());
            let svc = service_over(store.clone());
            folders(&svc).await;
            let objs = populate(&svc, DOM).await;
            ok(&svc, r("PUT", "/", Some("test_user1"), FOLDER), Some(json!({"folder": true}))).await;
            set_acls(&svc, &store, DOM, default_read, entry).await;
            set_acls(&svc, &store, FOLDER, default_read, entry).await;
            let acls = acl_table(default_read, entry);
            for (kind, table) in [("domain", DOMAIN_CASES), ("folder", FOLDER_CASES)] {
                for case in table {
                    for who in Who::ALL {
                        cases += 1;
                        let copy = copy_store(&store).await;
                        let svc = service_over(copy.clone());
                        let before = snapshot(&copy).await;
                        let (req, body) = (case.make)(&objs, who.user());
                        let (status, rsp) = match body {
                            Some(b) => call_json(&svc, req, &b).await,
                            None => call(&svc, req).await,
                        };
                        let want = oracle(who, case.action, &acls);
                        let got = if status == 200 || status == 201 { 200 } else { status };
                        let ctx = format!(
                            "{kind} {} ({}) as {who:?}, default read {default_read}, entry {entry:?}: got {status} {rsp}",
                            case.label, case.action
                        );
                        if got != want {
                            failures.push(format!("expected {want}: {ctx}"));
                        }
                        if status >= 400 {
                            if snapshot(&copy).await != before {
                                failures.push(format!("denied request wrote to the store: {ctx}"));
                            }
                            if rsp["error"]["status"] != json!(status) {
                                failures.push(format!("error body is not a JSON error: {ctx}"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 6 * 5 * (DOMAIN_CASES.len() + FOLDER_CASES.len()));
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn oracle_follows_hsds_order() {
    let acls = acl_table(true, Entry::DenyAll);
    assert_eq!(oracle(Who::WithEntry, "read", &acls), 403, "own entry denies even though default allows");
    assert_eq!(oracle(Who::WithoutEntry, "read", &acls), 200, "default applies without an own entry");
    assert_eq!(oracle(Who::WithoutEntry, "update", &acls), 403);
    assert_eq!(oracle(Who::Anonymous, "read", &acls), 200);
    assert_eq!(oracle(Who::Anonymous, "create", &acls), 401);
    assert_eq!(oracle(Who::Admin, "updateACL", &acl_table(false, Entry::DenyAll)), 200);
}

// ---------------------------------------------------------------------------------------------------------------
// Top-level domains and cross-domain ids

#[tokio::test]
async fn top_level_domains_are_admin_only() {
    let (svc, store) = service();
    folders(&svc).await;
    // Even the owner of an existing top-level folder may not create or delete top-level domains.
    ok(&svc, req("PUT", "/", Some("admin"), Some("/proj")), Some(json!({"folder": true, "owner": "test_user1"}))).await;
    let before = snapshot(&store).await;
    for (method, dom, body) in [
        ("PUT", "/mine", json!({"folder": true})),
        ("PUT", "/mine.h5", json!({})),
        ("DELETE", "/proj", json!({})),
        ("DELETE", "/home", json!({})),
    ] {
        let (s, v) = call_json(&svc, req(method, "/", Some("test_user1"), Some(dom)), &body).await;
        assert_eq!(s, 403, "{method} {dom}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("admin"), "{v}");
        let (s, _) = call_json(&svc, req(method, "/", None, Some(dom)), &body).await;
        assert_eq!(s, 401, "anonymous {method} {dom}");
    }
    assert_eq!(snapshot(&store).await, before);
    let (s, _) = call_json(&svc, req("PUT", "/", Some("admin"), Some("/mine")), &json!({"folder": true})).await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn objects_of_another_domain_are_not_members() {
    let (svc, store) = service();
    folders(&svc).await;
    let _a = populate(&svc, DOM).await;
    let b = populate(&svc, "/home/test_user1/b.h5").await;
    let before = snapshot(&store).await;
    let attr = json!({"type": "H5T_STD_I32LE", "value": 3});
    let (g, d, t, root) = (&b.group, &b.dset, &b.dtype, &b.root);
    let mut routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/groups/{g}"), None),
        ("DELETE", format!("/groups/{g}"), None),
        ("GET", format!("/groups/{root}/links"), None),
        ("POST", format!("/groups/{root}/links"), Some(json!({"titles": ["g2"]}))),
        ("PUT", format!("/groups/{root}/links"), Some(json!({"links": {"x": {"id": g}}}))),
        ("DELETE", format!("/groups/{root}/links"), None),
        ("GET", format!("/groups/{root}/links/g2"), None),
        ("PUT", format!("/groups/{root}/links/x"), Some(json!({"id": g}))),
        ("DELETE", format!("/groups/{root}/links/g2"), None),
        ("GET", format!("/datasets/{d}"), None),
        ("DELETE", format!("/datasets/{d}"), None),
        ("GET", format!("/datasets/{d}/shape"), None),
        ("PUT", format!("/datasets/{d}/shape"), Some(json!({"shape": [6]}))),
        ("GET", format!("/datasets/{d}/type"), None),
        ("GET", format!("/datasets/{d}/value"), None),
        ("PUT", format!("/datasets/{d}/value"), Some(json!({"value": [1, 2, 3, 4]}))),
        ("POST", format!("/datasets/{d}/value"), Some(json!({"points": [1]}))),
        ("GET", format!("/datatypes/{t}"), None),
        ("DELETE", format!("/datatypes/{t}"), None),
    ];
    for col_id in [format!("groups/{root}"), format!("datasets/{d}"), format!("datatypes/{t}")] {
        routes.extend([
            ("GET", format!("/{col_id}/attributes"), None),
            ("POST", format!("/{col_id}/attributes"), Some(json!({"attr_names": ["a"]}))),
            ("PUT", format!("/{col_id}/attributes"), Some(json!({"attributes": {"n": attr.clone()}}))),
            ("DELETE", format!("/{col_id}/attributes"), None),
            ("GET", format!("/{col_id}/attributes/a"), None),
            ("PUT", format!("/{col_id}/attributes/n"), Some(attr.clone())),
            ("DELETE", format!("/{col_id}/attributes/a"), None),
            ("GET", format!("/{col_id}/attributes/a/value"), None),
            ("PUT", format!("/{col_id}/attributes/a/value"), Some(json!({"value": 5}))),
        ]);
    }
    let n = routes.len();
    for (method, path, body) in routes {
        let mut rq = req(method, &path, Some("test_user1"), Some(DOM));
        if method == "DELETE" && path.ends_with("/attributes") {
            rq = rq.param("attr_names", "a");
        }
        if method == "DELETE" && path.ends_with("/links") {
            rq = rq.param("titles", "g2");
        }
        let (s, v) = match body {
            Some(b) => call_json(&svc, rq, &b).await,
            None => call(&svc, rq).await,
        };
        assert_eq!(s, 400, "{method} {path} on the wrong domain: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("not a member"), "{method} {path}: {msg}");
    }
    assert_eq!(n, 19 + 27);
    // Creating objects in domain A that point at B's objects.
    let a_root = _a.root.clone();
    for (path, body) in [
        ("/groups".to_string(), json!({"link": {"id": root, "name": "x"}})),
        ("/datasets".to_string(), json!({"type": t, "shape": [2]})),
        ("/datasets".to_string(), json!({"type": "H5T_STD_I8LE", "shape": [2], "link": {"id": g, "name": "x"}})),
        ("/datatypes".to_string(), json!({"type": "H5T_STD_I8LE", "link": {"id": root, "name": "x"}})),
        (format!("/groups/{a_root}/attributes/x"), json!({"type": t, "value": 1})),
    ] {
        let (s, v) = call_json(&svc, req("POST", &path, Some("test_user1"), Some(DOM)), &body).await;
        let (s, v) = if path.contains("/attributes/") {
            call_json(&svc, req("PUT", &path, Some("test_user1"), Some(DOM)), &body).await
        } else {
            (s, v)
        };
        assert_eq!(s, 400, "{path} {body}: {v}");
    }
    assert_eq!(snapshot(&store).await, before, "a cross-domain request wrote something");
}

// ---------------------------------------------------------------------------------------------------------------
// Names that try to escape

/// Keys a domain (and the folders above it) may occupy: `.domain.json` of the known paths and its root's
/// `db/<8>-<8>/` prefix.
fn allowed_key(key: &str, prefixes: &[String]) -> bool {
    ["home/.domain.json", "home/test_user1/.domain.json", "home/test_user1/a.h5/.domain.json"].contains(&key)
        || prefixes.iter().any(|p| key.starts_with(p.as_str()))
}

fn db_prefix(id: &str) -> String {
    format!("db/{}-{}/", &id[2..10], &id[11..19])
}

#[tokio::test]
async fn escaping_domain_names_are_rejected() {
    let (svc, store) = service();
    folders(&svc).await;
    let before = snapshot(&store).await;
    let long = format!("/home/test_user1/{}", "x".repeat(1 << 20));
    let bad: Vec<String> = [
        "/home/test_user1/../../etc/passwd",
        "/home/test_user1/..",
        "/home/test_user1/./x",
        "..",
        "/..",
        "//etc/passwd",
        "/home//test_user1/x",
        "/home/test_user1/x\0y",
        "/home/test_user1/x\ny",
        "/home/test_user1/x\ry",
        "/home/test_user1/x\u{7f}",
        "/home/test_user1/x\u{1b}[31m",
        "/home/test_user1\\..\\..\\x",
        "/home/test_user1/..\\x",
        "\\home\\test_user1\\x",
        "hdf5:///home/test_user1/x",
        "hdf5://../x",
        "hdf5:/..",
        "/home/test_user1/x/",
        "/home/test_user1/.domain.json",
        "/home/test_user1/x/.domain.json",
        "/",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([long])
    .collect();
    for dom in &bad {
        for user in ["admin", "test_user1"] {
            for (method, body) in [("PUT", json!({})), ("PUT", json!({"folder": true})), ("GET", json!({}))] {
                let (s, v) = call_json(&svc, req(method, "/", Some(user), Some(dom)), &body).await;
                let shown: String = dom.chars().take(60).collect();
                assert_eq!(s, 400, "{method} {shown:?} as {user}: {v}");
                assert!(v["error"]["message"].is_string());
            }
        }
    }
    assert_eq!(snapshot(&store).await, before, "a rejected domain name wrote something");
    // as HSDS, `home/test_user1/x` is the path /test_user1/x in bucket `home`: not found there, nothing written
    let (s, _) = call_json(&svc, req("PUT", "/", Some("admin"), Some("home/test_user1/x")), &json!({})).await;
    assert_eq!(s, 404);
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn percent_encoded_dot_segments_in_the_query_are_rejected() {
    let (svc, store) = service();
    folders(&svc).await;
    let before = snapshot(&store).await;
    for raw in [
        "domain=/home/test_user1/%2e%2e/%2e%2e/etc",
        "domain=/home/test_user1/%2E%2E",
        "domain=%2Fhome%2Ftest_user1%2F..%2Fx",
        "domain=/home/test_user1/x%00y",
        "domain=/home/test_user1%5C..%5Cx",
        "domain=/home/test_user1/ok.h5&bucket=..%2Fetc",
        "domain=/home/test_user1/ok.h5&bucket=%2e%2e",
    ] {
        let event = json!({"version": "2.0", "rawPath": "/", "rawQueryString": raw,
            "headers": {"authorization": basic("test_user1", "test")},
            "requestContext": {"http": {"method": "PUT"}}, "isBase64Encoded": false});
        let (_, request) = hsds_handler::event::decode(&event).unwrap();
        let (s, v) = call(&svc, request).await;
        assert_eq!(s, 400, "{raw}: {v}");
    }
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn escaping_bucket_names_are_rejected() {
    let (svc, store) = service();
    folders(&svc).await;
    let before = snapshot(&store).await;
    for bucket in [
        "a/b",
        "..",
        "../etc",
        "hsdstest/../x",
        "HSDSTEST",
        "Hsdstest",
        "a..b",
        "/abs",
        "s3://../x",
        "x\0y",
        "ab",
        "hsdstest\\x",
        &"b".repeat(64),
    ] {
        for (how, r) in [
            ("param", req("PUT", "/", Some("admin"), Some("/top")).param("bucket", bucket)),
            ("header", req("PUT", "/", Some("admin"), Some("/top")).header("x-hdf-bucket", bucket)),
            ("GET", req("GET", "/", Some("admin"), Some("/home")).param("bucket", bucket)),
        ] {
            let (s, v) = call_json(&svc, r, &json!({"folder": true})).await;
            assert_eq!(s, 400, "bucket {bucket:?} via {how}: {v}");
            assert!(v["error"]["message"].as_str().unwrap().contains("bucket"), "{v}");
        }
    }
    assert_eq!(snapshot(&store).await, before, "a rejected bucket name wrote something");
}

#[tokio::test]
async fn hostile_ids_titles_and_attribute_names_stay_inside_the_domain() {
    let (svc, store) = service();
    folders(&svc).await;
    let o = populate(&svc, DOM).await;
    let long = "n".repeat(1 << 20);
    let names: Vec<String> = [
        "a%2Fb",
        "%2F..%2F..%2Fetc",
        "..",
        "%2e%2e",
        "..%2F..%2F.domain.json",
        "x%00y",
        "%00",
        "x%0Ay",
        "back%5Cslash",
        "%25252F",
        "db%2Fx",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([long.clone()])
    .collect();
    let root = &o.root;
    for name in &names {
        let u = Some("test_user1");
        let d = Some(DOM);
        let link = req("PUT", &format!("/groups/{root}/links/{name}"), u, d);
        let (s, _) = call_json(&svc, link, &json!({"id": o.group})).await;
        assert!([200, 201, 400].contains(&s), "link {name}: {s}");
        let soft = req("PUT", &format!("/groups/{root}/links/{name}s"), u, d);
        let (s, _) = call_json(&svc, soft, &json!({"h5path": format!("/{name}")})).await;
        assert!([200, 201, 400, 409].contains(&s), "soft link {name}: {s}");
        let attr = req("PUT", &format!("/groups/{root}/attributes/{name}"), u, d);
        let (s, _) = call_json(&svc, attr, &json!({"type": "H5T_STD_I8LE", "value": 1})).await;
        assert!([200, 201, 400, 409].contains(&s), "attribute {name}: {s}");
        for path in [
            format!("/groups/{name}"),
            format!("/datasets/{name}"),
            format!("/datatypes/{name}"),
            format!("/groups/{name}/links"),
            format!("/datasets/{name}/value"),
        ] {
            for method in ["GET", "PUT", "POST", "DELETE"] {
                let (s, v) = call_json(&svc, req(method, &path, u, d), &json!({"value": 1})).await;
                assert!(s == 400 || s == 404 || s == 405, "{method} {}: {s} {v}", &path[..path.len().min(80)]);
            }
        }
        // Object-id-shaped names with a path in front must not reach another key either.
        let sneaky = format!("..%2F..%2Fhome%2F{}", o.group);
        let (s, _) = call(&svc, req("GET", &format!("/groups/{sneaky}"), u, d)).await;
        assert!(s == 400 || s == 404, "{sneaky}: {s}");
    }
    let prefixes = vec![db_prefix(root)];
    for key in store.keys(BUCKET) {
        assert!(allowed_key(&key, &prefixes), "key outside the domain: {:?}", &key[..key.len().min(120)]);
    }
    assert_eq!(store.keys(BUCKET).len(), store.len(), "objects written to another bucket");
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets and logs

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secrets_in_logs() {
    let buf = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(buf.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let secret = "s3cr3t-Pa55word";
    let (mut svc, _store) = service();
    svc.users.add("alice", secret);
    folders(&svc).await;
    let good = basic("alice", secret);
    let bad = basic("alice", "wrong-Pa55word-guess");
    let headers = [
        good.clone(),
        bad.clone(),
        basic("nobody", secret),
        format!("Basic {}", "%%%not-base64"),
        format!("Bearer {secret}"),
        format!("Basic {secret}"),
        format!("{secret} is-not-a-scheme"),
        format!("alice:{secret} typed-raw"),
    ];
    for h in &headers {
        for (method, path) in [("GET", "/"), ("PUT", "/"), ("GET", "/groups/g-nope"), ("GET", "/about")] {
            let r = Request::new(method, path).header("authorization", h).param("domain", "/home/x.h5");
            let _ = svc.handle(r).await;
        }
        // The same through the Lambda event decoder, as the bootstrap binary serves it.
        let event = json!({"method": "GET", "path": "/", "params": {"domain": "/home/nope.h5"},
            "headers": {"Authorization": h, "X-Amz-Security-Token": "FwoGZXIvYXdzEXAMPLETOKEN",
                        "X-Amz-Secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}});
        let _ = hsds_handler::event::handle_event(&svc, &event, None).await;
    }
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.is_empty(), "the subscriber captured nothing, so this test checks nothing");
    for needle in [secret, "wrong-Pa55word-guess", "FwoGZXIvYXdzEXAMPLETOKEN", "wJalrXUtnFEMI"]
        .into_iter()
        .chain(headers.iter().map(|h| h.trim_start_matches("Basic ").trim_start_matches("Bearer ")))
    {
        assert!(!logs.contains(needle), "log output contains a secret ({needle:?}):\n{logs}");
    }
}

/// The `bootstrap` binary's log filter keeps the Lambda runtime's TRACE dump of raw events (which holds the
/// `Authorization` header) out of the logs, even when the operator asks for `LOG_LEVEL=trace`.
#[test]
fn bootstrap_log_filter_drops_raw_event_dumps() {
    let buf = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(hsds_handler::logging::env_filter(Some("trace")))
        .with_ansi(false)
        .with_writer(buf.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let body = r#"{"headers": {"authorization": "Basic YWxpY2U6czNjcjN0"}}"#;
        tracing::trace!(target: "lambda_runtime::layers::api_response", body, "raw JSON event received from Lambda");
        tracing::trace!(target: "lambda_runtime", "still traced");
        tracing::trace!(target: "hsds_handler", "handler traced");
    });
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.contains("YWxpY2U6czNjcjN0"), "{logs}");
    assert!(logs.contains("still traced") && logs.contains("handler traced"), "{logs}");
}
