//! Behaviour of `GET/PUT/DELETE/POST /` and `GET /domains` (domains and folders), checked against HSDS 1.0.2.

mod common;

use common::*;
use hsds_handler::store::{MemoryStore, PutMode, Store};
use hsds_handler::{Config, Service};
use serde_json::{json, Value};

const HOME: &str = "/home/test_user1";
const DOM: &str = "/home/test_user1/a.h5";

/// `/home` (admin) and `/home/test_user1` (owned by test_user1), as HSDS's test setup makes them.
async fn folders(svc: &Service) {
    let (s, _) = call_json(svc, req("PUT", "/", Some("admin"), Some("/home")), &json!({"folder": true})).await;
    assert_eq!(s, 201);
    let body = json!({"folder": true, "owner": "test_user1"});
    let (s, _) = call_json(svc, req("PUT", "/", Some("admin"), Some(HOME)), &body).await;
    assert_eq!(s, 201);
}

async fn setup() -> (Service, std::sync::Arc<MemoryStore>, String) {
    let (svc, store) = service();
    folders(&svc).await;
    let (s, v) = call(&svc, req("PUT", "/", Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 201, "{v}");
    let root = v["root"].as_str().unwrap().to_string();
    (svc, store, root)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn create_domain_stores_hsds_schema() {
    let (_svc, store, root) = setup().await;
    let (v, _) = hsds_handler::store::json::get_json(store.as_ref(), "hsdstest", "home/test_user1/a.h5/.domain.json")
        .await
        .unwrap();
    assert_eq!(keys(&v), hsds_keys("stored domain"));
    assert_eq!(v["owner"], "test_user1");
    assert_eq!(keys(&v["acls"]), ["test_user1"], "files get no default ACL unless DEFAULT_PUBLIC");
    let rootkey = format!("db/{}-{}/.group.json", &root[2..10], &root[11..19]);
    let (g, _) = hsds_handler::store::json::get_json(store.as_ref(), "hsdstest", &rootkey).await.unwrap();
    assert_eq!(keys(&g), hsds_keys("stored root group"));
    assert_eq!(g["id"], root.as_str());
    let (f, _) =
        hsds_handler::store::json::get_json(store.as_ref(), "hsdstest", "home/test_user1/.domain.json").await.unwrap();
    assert_eq!(keys(&f), hsds_keys("stored folder"));
    assert_eq!(
        f["acls"]["default"],
        json!({"create": false, "read": true, "update": false, "delete": false, "readACL": false, "updateACL": false})
    );
}

#[tokio::test]
async fn put_response_and_get_keys() {
    let (svc, _store) = service();
    folders(&svc).await;
    let (s, v) = call_json(&svc, req("PUT", "/", Some("test_user1"), Some(DOM)), &json!({})).await;
    assert_eq!(s, 201);
    assert_eq!(keys(&v), hsds_keys("PUT / (domain) response"));
    let (s, g) = call(&svc, req("GET", "/", Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(keys(&g), hsds_keys("GET / (domain)"));
    assert_eq!(g["class"], "domain");
    let rels: Vec<&str> = g["hrefs"].as_array().unwrap().iter().map(|h| h["rel"].as_str().unwrap()).collect();
    assert_eq!(rels, ["self", "database", "groupbase", "typebase", "root", "acls", "parent"]);
    let (s, f) = call(&svc, req("GET", "/", Some("test_user1"), Some(HOME))).await;
    assert_eq!(s, 200);
    assert_eq!(keys(&f), hsds_keys("GET / (folder)"));
    assert_eq!(f["class"], "folder");
}

#[tokio::test]
async fn create_rules() {
    let (svc, store, _) = setup().await;
    let n = store.len();
    // existing domain
    assert_eq!(call(&svc, req("PUT", "/", Some("test_user1"), Some(DOM))).await.0, 409);
    // no credentials
    assert_eq!(call(&svc, req("PUT", "/", None, Some("/home/test_user1/b.h5"))).await.0, 401);
    // another user's folder: no create permission
    assert_eq!(call(&svc, req("PUT", "/", Some("test_user2"), Some("/home/test_user1/b.h5"))).await.0, 403);
    // top level needs admin
    assert_eq!(call(&svc, req("PUT", "/", Some("test_user1"), Some("/top"))).await.0, 403);
    // parent missing / parent is a domain
    assert_eq!(call(&svc, req("PUT", "/", Some("test_user1"), Some("/home/test_user1/x/y.h5"))).await.0, 404);
    assert_eq!(call(&svc, req("PUT", "/", Some("test_user1"), Some("/home/test_user1/a.h5/y.h5"))).await.0, 400);
    // owner only settable by admin
    let (s, _) = call_json(
        &svc,
        req("PUT", "/", Some("test_user1"), Some("/home/test_user1/o.h5")),
        &json!({"owner": "test_user2"}),
    )
    .await;
    assert_eq!(s, 403);
    // bad body, bad path, bad root id
    let bad = req("PUT", "/", Some("test_user1"), Some("/home/test_user1/b.h5")).body("{nope");
    assert_eq!(call(&svc, bad).await.0, 400);
    assert_eq!(call(&svc, req("PUT", "/", Some("test_user1"), Some("/home/../etc"))).await.0, 400);
    let (s, v) = call_json(
        &svc,
        req("PUT", "/", Some("test_user1"), Some("/home/test_user1/b.h5")),
        &json!({"root_id": "g-f9aaa28e-d42e10e5-0123-456789-abcdef"}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(store.len(), n, "nothing written by rejected requests");
}

#[tokio::test]
async fn client_root_id_and_creation_properties() {
    let (svc, store) = service();
    folders(&svc).await;
    let root = "g-f9aaa28e-d42e10e5-7122-2a065c-a6986d";
    let body = json!({"root_id": root, "group": {"creationProperties": {"CreateOrder": 1}}});
    let (s, v) = call_json(&svc, req("PUT", "/", Some("test_user1"), Some(DOM)), &body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["root"], root);
    let (g, _) = hsds_handler::store::json::get_json(store.as_ref(), "hsdstest", "db/f9aaa28e-d42e10e5/.group.json")
        .await
        .unwrap();
    assert_eq!(g["creationProperties"], json!({"CreateOrder": 1}));
    // the same root id again is a conflict, and the second domain is not created
    let (s, _) =
        call_json(&svc, req("PUT", "/", Some("test_user1"), Some("/home/test_user1/b.h5")), &json!({"root_id": root}))
            .await;
    assert_eq!(s, 409);
    assert_eq!(call(&svc, req("GET", "/", Some("test_user1"), Some("/home/test_user1/b.h5"))).await.0, 404);
}

#[tokio::test]
async fn acl_inheritance_and_default_public() {
    let (svc, _store) = service_with(Config { default_public: true, ..Config::default() });
    folders(&svc).await;
    let (s, _) = call_json(
        &svc,
        req("PUT", "/acls/test_user2", Some("test_user1"), Some(HOME)),
        &json!({"create": true, "read": true}),
    )
    .await;
    assert_eq!(s, 201);
    let (_, v) = call(&svc, req("PUT", "/", Some("test_user1"), Some(DOM))).await;
    assert_eq!(v["acls"]["test_user2"]["create"], true, "non-owner parent ACLs are inherited");
    assert_eq!(v["acls"]["default"]["read"], true, "DEFAULT_PUBLIC adds a default read ACL");
    // test_user2 may create in the folder now
    assert_eq!(call(&svc, req("PUT", "/", Some("test_user2"), Some("/home/test_user1/u2.h5"))).await.0, 201);
}

#[tokio::test]
async fn concurrent_creates_have_one_winner() {
    let (svc, _store) = service();
    folders(&svc).await;
    let svc = std::sync::Arc::new(svc);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move { call(&svc, req("PUT", "/", Some("test_user1"), Some(DOM))).await.0 }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 201 || *c == 409));
}

#[tokio::test]
async fn flush_probe() {
    let (svc, store, _) = setup().await;
    let n = store.len();
    let r = req("PUT", "/", Some("test_user1"), Some(DOM)).param("flush", "1").json(&Value::Null);
    assert_eq!(call(&svc, r).await.0, 204);
    let r = req("PUT", "/", Some("test_user2"), Some(DOM)).param("flush", "1").json(&Value::Null);
    assert_eq!(call(&svc, r).await.0, 403);
    let r = req("PUT", "/", Some("test_user1"), Some(DOM)).param("rescan", "1");
    assert_eq!(call(&svc, r).await.0, 204);
    assert_eq!(store.len(), n);
}

#[tokio::test]
async fn delete_domain_and_folder() {
    let (svc, store, root) = setup().await;
    // a child group so the domain has objects
    let (s, _) = call(&svc, req("POST", "/groups", Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 201);
    assert_eq!(call(&svc, req("DELETE", "/", Some("test_user2"), Some(DOM))).await.0, 403);
    assert_eq!(call(&svc, req("DELETE", "/", None, Some(DOM))).await.0, 401);
    assert_eq!(call(&svc, req("DELETE", "/", Some("test_user1"), Some(HOME))).await.0, 409, "folder with children");
    let (s, v) = call(&svc, req("DELETE", "/", Some("test_user1"), Some(DOM))).await;
    assert_eq!((s, v), (200, json!({"domain": DOM})));
    let prefix = format!("db/{}-{}/", &root[2..10], &root[11..19]);
    assert!(store.keys("hsdstest").iter().all(|k| !k.starts_with(&prefix)), "objects removed");
    // deleted: 410 Gone, as HSDS
    assert_eq!(call(&svc, req("GET", "/", Some("test_user1"), Some(DOM))).await.0, 410);
    assert_eq!(call(&svc, req("DELETE", "/", Some("test_user1"), Some(DOM))).await.0, 410);
    assert_eq!(call(&svc, req("DELETE", "/", Some("test_user1"), Some("/home"))).await.0, 403, "top level needs admin");
    assert_eq!(call(&svc, req("DELETE", "/", Some("test_user1"), Some(HOME))).await.0, 200);
}

#[tokio::test]
async fn keep_root_keeps_objects() {
    let (svc, store, root) = setup().await;
    let r = req("DELETE", "/", Some("test_user1"), Some(DOM)).param("keep_root", "1");
    assert_eq!(call(&svc, r).await.0, 200);
    let key = format!("db/{}-{}/.group.json", &root[2..10], &root[11..19]);
    assert!(store.get("hsdstest", &key).await.is_ok());
}

#[tokio::test]
async fn verbose_and_getobjs() {
    let (svc, store, root) = setup().await;
    let body = json!({"link": {"id": root, "name": "g1"}});
    assert_eq!(call_json(&svc, req("POST", "/groups", Some("test_user1"), Some(DOM)), &body).await.0, 201);
    let (s, v) = call(&svc, req("GET", "/", Some("test_user1"), Some(DOM)).param("verbose", "1")).await;
    assert_eq!(s, 200);
    assert_eq!(v["num_groups"], 2);
    assert_eq!(v["num_datasets"], 0);
    assert_eq!(v["num_objects"], 2);
    assert!(v["metadata_bytes"].as_u64().unwrap() > 100);
    assert_eq!(v["md5_sum"].as_str().unwrap().len(), 32);
    // as HSDS 1.0.2: `domain_objs` is the `.summary.json` its background scan writes, absent until then
    let (_, v) = call(&svc, req("GET", "/", Some("test_user1"), Some(DOM)).param("getobjs", "1")).await;
    assert!(v.get("domain_objs").is_none(), "{v}");
    let summary = format!("db/{}-{}/.summary.json", &root[2..10], &root[11..19]);
    let objs = json!({ root.clone(): {"id": root, "links": {}, "attributes": {"nan": {"value": "NaN"}}} });
    store.put("hsdstest", &summary, objs.to_string().into(), PutMode::Overwrite).await.unwrap();
    let (_, v) = call(&svc, req("GET", "/", Some("test_user1"), Some(DOM)).param("getobjs", "1")).await;
    assert_eq!(v["domain_objs"], objs);
}

#[tokio::test]
async fn h5path_lookup_on_domain() {
    let (svc, _store, root) = setup().await;
    let body = json!({"link": {"id": root, "name": "g1"}});
    let (_, g1) = call_json(&svc, req("POST", "/groups", Some("test_user1"), Some(DOM)), &body).await;
    let (s, v) = call(&svc, req("GET", "/", Some("test_user1"), Some(DOM)).param("h5path", "/g1")).await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], g1["id"]);
    assert_eq!(v["class"], "group");
    assert_eq!(v["domain"], DOM);
    assert_eq!(call(&svc, req("GET", "/", Some("test_user1"), Some(DOM)).param("h5path", "/nope")).await.0, 404);
    // HSDS 1.0.2's POST_Domain: any path that resolves to nothing makes the whole answer 404
    let (s, _) =
        call_json(&svc, req("POST", "/", Some("test_user1"), Some(DOM)), &json!({"h5paths": ["/g1", "/nope"]})).await;
    assert_eq!(s, 404);
    let (s, v) = call_json(&svc, req("POST", "/", Some("test_user1"), Some(DOM)), &json!({"h5paths": ["/g1"]})).await;
    assert_eq!(s, 200);
    assert_eq!(v["h5paths"].as_object().unwrap().len(), 1);
    assert_eq!(v["h5paths"]["/g1"]["id"], g1["id"]);
    assert_eq!(v["h5paths"]["/g1"]["class"], "group");
}

#[tokio::test]
async fn listing_domains() {
    let (svc, _store, _) = setup().await;
    for name in ["b.h5", "c.h5", "sub"] {
        let body = if name == "sub" { json!({"folder": true}) } else { json!({}) };
        let d = format!("{HOME}/{name}");
        assert_eq!(call_json(&svc, req("PUT", "/", Some("test_user1"), Some(&d)), &body).await.0, 201);
    }
    let (s, v) = call(&svc, req("GET", "/domains", Some("test_user1"), Some("/home/test_user1/"))).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = v["domains"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["/home/test_user1/a.h5", "/home/test_user1/b.h5", "/home/test_user1/c.h5", "/home/test_user1/sub"]
    );
    assert_eq!(v["domains"][3]["class"], "folder");
    assert!(v["domains"][0]["root"].is_string());
    let r = req("GET", "/domains", Some("test_user1"), Some("/home/test_user1/"))
        .param("Limit", "2")
        .param("Marker", "/home/test_user1/a.h5");
    let (_, v) = call(&svc, r).await;
    let names: Vec<&str> = v["domains"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["/home/test_user1/b.h5", "/home/test_user1/c.h5"]);
    let (_, v) =
        call(&svc, req("GET", "/domains", Some("test_user1"), Some("/home/test_user1/")).param("pattern", "[ab]*"))
            .await;
    assert_eq!(v["domains"].as_array().unwrap().len(), 2);
    let (_, v) =
        call(&svc, req("GET", "/domains", Some("test_user1"), Some("/home/test_user1/")).param("verbose", "1")).await;
    assert_eq!(v["domains"][0]["num_groups"], 1);
    // top level, with and without /domains
    let (_, v) = call(&svc, req("GET", "/domains", Some("test_user1"), None)).await;
    assert_eq!(v["domains"][0]["name"], "/home");
    assert_eq!(v["domains"].as_array().unwrap().len(), 1, "db/ is not a folder");
    let (_, v) = call(&svc, req("GET", "/", Some("test_user1"), None)).await;
    assert_eq!(v["domains"][0]["name"], "/home");
    assert_eq!(call(&svc, req("GET", "/domains", Some("test_user1"), Some("/home/")).param("Limit", "x")).await.0, 400);
}

#[tokio::test]
async fn reads_need_permission() {
    let (svc, _store, _) = setup().await;
    assert_eq!(call(&svc, req("GET", "/", Some("test_user2"), Some(DOM))).await.0, 403);
    assert_eq!(call(&svc, req("GET", "/", None, Some(DOM))).await.0, 403, "no default ACL on files");
    assert_eq!(call(&svc, req("GET", "/", None, Some(HOME))).await.0, 200, "folders are public-read");
    let r = hsds_handler::Request::new("GET", "/")
        .param("domain", DOM)
        .header("authorization", &basic("test_user1", "wrong"));
    assert_eq!(call(&svc, r).await.0, 401);
    let r =
        hsds_handler::Request::new("GET", "/").param("domain", DOM).header("authorization", &basic("nobody", "test"));
    assert_eq!(call(&svc, r).await.0, 401);
    assert_eq!(call(&svc, req("GET", "/", Some("test_user1"), Some("/home/test_user1/none.h5"))).await.0, 404);
}

#[tokio::test]
async fn a_linked_domain_shares_the_root_and_its_delete_keeps_the_objects() {
    let (svc, store, root) = setup().await;
    let linked = "/home/test_user1/linked.h5";
    let body = json!({"linked_domain": DOM});
    let (s, v) = call_json(&svc, req("PUT", "/", Some("test_user1"), Some(linked)), &body).await;
    assert_eq!((s, v["root"].as_str()), (201, Some(root.as_str())), "{v}");
    assert!(v.get("linked_domain").is_none(), "HSDS answers no such key: {v}");
    let (s, _) = call(&svc, req("GET", &format!("/groups/{root}"), Some("test_user1"), Some(linked))).await;
    assert_eq!(s, 200, "the shared root reads through the linked domain");
    // deleting the linked domain leaves the shared objects: DOM still reads
    assert_eq!(call(&svc, req("DELETE", "/", Some("test_user1"), Some(linked))).await.0, 200);
    let key = format!("db/{}-{}/.group.json", &root[2..10], &root[11..19]);
    assert!(store.get("hsdstest", &key).await.is_ok());
    assert_eq!(call(&svc, req("GET", &format!("/groups/{root}"), Some("test_user1"), Some(DOM))).await.0, 200);
}
